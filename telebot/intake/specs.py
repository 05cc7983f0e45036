"""Task arguments → a :class:`~telebot.engine.task.TaskSpec`: flags > user settings > config.

:class:`SpecBuilder` checks everything it can without I/O and raises
:class:`~telebot.errors.BadInputError` (the requester's answer) otherwise. Which link a source
takes is not decided here: the builder asks the pipeline (:meth:`Pipeline.accepts`), whose source
plug-ins alone know their link syntax, so a new source needs no edit here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from telebot.config import Config
from telebot.engine.groups import is_delivery
from telebot.engine.pipeline import Pipeline
from telebot.engine.task import TaskSpec
from telebot.errors import BadInputError, share_password_unused
from telebot.intake.args import TaskArgs
from telebot.intake.request import ReplyFile, Requester
from telebot.settings.user import UserSettings, apply_names
from telebot.sinks.rclone.remotes import looks_remote
from telebot.sources.names import sanitize_filename
from telebot.sources.refs import YTDL_TOOL, telegram_file_source
from telebot.ytdl_options import parse_options


@dataclass(frozen=True)
class Command:
    """What a task command asks of the engine: the kind of delivery and the tool, if any."""

    kind: str  # "mirror" | "leech"
    tool: str | None = None  # a source chosen by name, not by the link ("ytdl": yt-dlp)


COMMANDS: dict[str, Command] = {
    "mirror": Command("mirror"),
    "leech": Command("leech"),
    "ytdl": Command("mirror", YTDL_TOOL),
    "ytdlleech": Command("leech", YTDL_TOOL),
}

# Flags the parser knows (docs/ARCHITECTURE.md §5) whose capability is not in this build yet, by
# the TaskArgs attribute that records them: /help leaves them out (bot/commands.py), and a task
# using one is refused with "not available yet" instead of the flag being ignored.
NOT_YET: dict[str, str] = {}

# Said when no source takes a link. It names the link kinds of the sources installed today.
UNSUPPORTED_LINK = (
    "Only http:// and https:// links and magnet links are supported in this version."
)
# The source engine that honours -s and -d (TorrentSource.engine): asked of the pipeline.
TORRENT_ENGINE = "libtorrent"


class SpecBuilder:
    """Builds and checks specs for one bot (its config and pipeline)."""

    def __init__(self, config: Config, pipeline: Pipeline, *, leech_available: bool = True):
        self.config = config
        self._pipeline = pipeline
        self._leech_available = leech_available

    def spec_from(
        self,
        args: TaskArgs,
        command: Command,
        requester: Requester,
        *,
        reply_text: str | None = None,
        reply_file: ReplyFile | None = None,
        user: UserSettings | None = None,
        reply_photo: str | None = None,
    ) -> TaskSpec:
        """Check what the requester asked for and turn it into a spec (BadInputError otherwise).

        ``user`` (their /usetting) fills in what no flag gave: flags > user settings > config.
        The link is ``args.link``, else ``reply_file`` (a command with a tool takes links only),
        else the first word of ``reply_text``; a source must accept it. ``reply_photo`` is the
        replied-to photo's file_id, this task's thumbnail with ``-t``.
        """
        user = user or UserSettings()
        kind, tool = command.kind, command.tool
        if kind == "leech" and not self._leech_available:
            raise BadInputError("/leech is not available in this version yet; use /mirror.")
        for attr, flag in NOT_YET.items():
            if getattr(args, attr):
                raise BadInputError(f"{flag} is not available in this version yet.")
        self._check_destination(args, kind)
        base = TaskSpec(
            kind=kind,
            source="",
            chat_id=requester.chat_id,
            user_id=requester.user_id,
            message_id=requester.message_id,
            name=args.name,
            upload=self.upload_of(args, kind, user),
            split_size=args.split_size or (user.split_size if kind == "leech" else None),
            as_document=args.as_document,
            as_media=args.as_media,
            select=args.select,
            seed_ratio=args.seed[0] if args.seed else None,
            seed_minutes=args.seed[1] if args.seed else None,
            extract=args.extract,
            extract_password=args.extract_password,
            join=args.join,
            compress=args.compress,
            compress_password=args.compress_password,
            compress_format=args.compress_format,
            overwrite=args.overwrite,
            torrent_link=args.torrent_link,
            **_media(args),
            keep_html=args.keep_html,
            share_password=args.share_password,
        )
        base = replace(base, **apply_names(base, user, args.name_subst))
        base = _leech_type(base, args, user)
        base = self._media_tools(base, args, user, reply_photo)
        if args.link is None and reply_file is not None and tool is None:
            if base.share_password is not None:
                raise share_password_unused("a Telegram file has none")
            return replace(
                base,
                source=telegram_file_source(reply_file.file_id),
                file_name=reply_file.file_name,
                file_size=reply_file.file_size,
            )
        words = reply_text.split() if reply_text else []
        link = args.link or (words[0] if words else None)
        if not link:
            raise BadInputError(
                f"Send a link: /{kind} <link> [flags], or reply to a link or file with /{kind}."
            )
        spec = replace(base, source=link, headers=args.headers, auth=args.auth)
        spec = _with_tool(spec, args, tool, user.ytdl_options)
        if spec.tool == YTDL_TOOL and user.cookies:
            spec = replace(spec, cookies=user.cookies)  # sealed in the journal (store.py)
        self._check_link(spec)
        return spec

    def _media_tools(
        self, spec: TaskSpec, args: TaskArgs, user: UserSettings, reply_photo: str | None
    ) -> TaskSpec:
        """-cv, -ca, -keep, -ff (known names only), -meta (else the user's default) and -t
        (docs/MEDIA.md)."""
        if args.ffmpeg_presets:
            # Imported on use: the stage's module brings ffmpeg's runner (start-up need not).
            from telebot.processing.media.presets import check_known

            check_known(args.ffmpeg_presets, self.config.ffmpeg_presets)
        thumbnail = spec.thumbnail
        if args.task_thumbnail:
            if spec.kind != "leech":
                raise BadInputError("-t sets the thumbnail of a /leech upload: use it with /leech.")
            if reply_photo is None:
                raise BadInputError(
                    "-t: reply to a photo with the command, e.g. /leech <link> -t; that photo "
                    "becomes the thumbnail of this task's uploads."
                )
            thumbnail = reply_photo
        return replace(
            spec,
            convert_video=args.convert_video,
            convert_audio=args.convert_audio,
            keep_original=args.keep_original,
            ffmpeg_presets=args.ffmpeg_presets,
            metadata=args.metadata if args.metadata is not None else user.metadata,
            thumbnail=thumbnail,
        )

    def _check_link(self, spec: TaskSpec) -> None:
        """A source must take the typed link; and a typed link never names a source the engine
        makes itself (a Telegram file: only a replied-to file is one; a -m group's delivery),
        which would let a user fetch a file or folder that is not theirs."""
        internal = spec.source.startswith(telegram_file_source("")) or is_delivery(spec)
        if internal or not self._pipeline.accepts(spec):
            raise BadInputError(UNSUPPORTED_LINK)

    def honours_torrent_flags(self, spec: TaskSpec) -> bool:
        """-s and -d: only the torrent source honours them (the pipeline says which takes it)."""
        return self._pipeline.engine_for(spec) == TORRENT_ENGINE

    def delivery_spec(
        self, args: TaskArgs, kind: str, requester: Requester, user: UserSettings
    ) -> TaskSpec:
        """-m: the task that delivers the group's folder (the engine sets its source). The
        user's delivery settings apply to it; their naming settings already shaped each
        member's result, so they are not applied to the folder a second time."""
        folder = sanitize_filename(args.folder or "", fallback="results")
        spec = TaskSpec(
            kind=kind,
            source="",
            chat_id=requester.chat_id,
            user_id=requester.user_id,
            message_id=requester.message_id,
            name=folder,
            upload=self.upload_of(args, kind, user),
            split_size=args.split_size or (user.split_size if kind == "leech" else None),
            as_document=args.as_document,
            as_media=args.as_media,
            **_media(args),
        )
        if kind != "leech":
            return spec
        spec = _leech_type(spec, args, user)
        return replace(spec, caption=user.caption, thumbnail=user.thumbnail)

    def upload_of(self, args: TaskArgs, kind: str, user: UserSettings) -> str | None:
        """-up, else the user's destination, else DEFAULT_UPLOAD for /mirror when it names an
        rclone remote."""
        if args.upload is not None:
            return args.upload
        if kind == "leech":
            return user.leech_dest
        if kind != "mirror":
            return None
        if user.mirror_dest is not None:
            return user.mirror_dest
        default = self.config.default_upload
        return default if looks_remote(default) else None

    def _check_destination(self, args: TaskArgs, kind: str) -> None:
        if kind == "mirror":
            if args.upload not in (None, "local") and not looks_remote(args.upload):
                raise BadInputError(
                    "-up for /mirror takes 'local' or remote:path with a remote from the "
                    "rclone config (local paths are refused)."
                )
            if args.split_size or args.as_document or args.as_media:
                raise BadInputError("-sp, -doc and -med only apply to /leech.")
            if args.equal_split or args.screenshots or args.sample:
                raise BadInputError("-es, -ss, -tl and -sv only apply to /leech.")
            return
        if args.upload is not None and not _is_chat_id(args.upload):
            raise BadInputError("-up for /leech takes a chat id, e.g. -up -1001234567890.")
        limit = self.config.upload_limit
        if args.split_size is not None and args.split_size > limit:
            raise BadInputError(
                f"-sp is over this Bot API's upload limit of {limit // 1_000_000} MB."
            )


def _media(args: TaskArgs) -> dict[str, Any]:
    """The leech media flags as spec fields (-es, -ss, -tl, -sv)."""
    grid = args.screenshot_grid
    return {
        "equal_split": args.equal_split,
        "screenshots": args.screenshots,
        "screenshot_grid": f"{grid[0]}x{grid[1]}" if grid else "",
        "sample_seconds": args.sample[0] if args.sample else 0.0,
        "sample_start": args.sample[1] if args.sample else None,
    }


def _leech_type(spec: TaskSpec, args: TaskArgs, user: UserSettings) -> TaskSpec:
    """A leech without -doc or -med goes as the user's /usetting says."""
    if spec.kind == "leech" and not (args.as_document or args.as_media) and user.leech_type:
        media = user.leech_type == "media"
        return replace(spec, as_document=not media, as_media=media)
    return spec


def _with_tool(
    spec: TaskSpec, args: TaskArgs, tool: str | None, user_options: str | None
) -> TaskSpec:
    """A /ytdl spec: -q and -opt (checked against the allow-list now, so the user hears at
    once); without -opt, the user's default options. Other commands refuse -q and -opt."""
    if tool != YTDL_TOOL:
        if args.quality is not None or args.options is not None:
            raise BadInputError("-q and -opt only apply to /ytdl and /ytdlleech.")
        return spec
    options = args.options if args.options is not None else user_options
    if options is not None:
        parse_options(options)
    # A leeched video goes as a video (with its metadata) unless -doc (or the user's setting)
    # asks for a document.
    media = spec.kind == "leech" and not spec.as_document
    return replace(
        spec,
        tool=YTDL_TOOL,
        ytdl_format=args.quality,
        ytdl_options=options,
        as_media=spec.as_media or media,
    )


def _is_chat_id(text: str) -> bool:
    return text.lstrip("-").isdigit()
