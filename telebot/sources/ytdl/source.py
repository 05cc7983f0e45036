"""Videos: yt-dlp as a library, in the task's worker thread (engine line ``yt-dlp``).

One fetch is: extract (no download) → ask the chooser for a quality unless ``-q`` chose one →
download into ``task.workdir/media`` with a fixed output template → check every result path is
inside that folder and give it a sanitized name. A playlist's entries all go into one folder
(``-n`` names it); an entry that fails is reported in the done message, the rest deliver.

Contracts kept here (``Source`` in engine/pipeline.py):

- progress: yt-dlp's progress hooks feed ``task.progress``; the note says the entry ("3/12")
  and the fragment for HLS/DASH;
- cancel: the hook raises :class:`TaskCancelled`, and a watcher shuts the sockets down so a
  stalled origin cannot hold the task (within a second: ``CANCEL_POLL``);
- resume: the same template and folder on a restart, ``continuedl``, and the chosen quality
  kept in ``CHOICE_FILE``, so yt-dlp continues its ``.part`` files;
- errors: yt-dlp's exceptions become ours in :func:`translate_error` (one boundary);
- safety: requests go through :mod:`telebot.sources.ytdl.net`; options through
  :mod:`telebot.ytdl_options`;
- cookies: the user's cookies.txt (``spec.cookies``), else the owner's ``YTDL_COOKIES_FILE``,
  are written 0600 into ``COOKIES_FILE`` in the task's folder for this run only (yt-dlp's
  ``cookiefile``, which it may write back to: always this copy, never the owner's file) and
  removed when the run ends, however it ends; a crash leaves them only in the task's folder,
  which goes with the task, and the next run writes them afresh.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from telebot.cookiefile import read_cookies_file, write_private
from telebot.engine.pipeline import DiskSpace, Source, SourceFactory
from telebot.engine.task import State, Task, TaskSpec
from telebot.errors import (
    BadInputError,
    DownloadError,
    SecurityError,
    TaskCancelled,
    TelebotError,
    share_password_unused,
)
from telebot.redact import redact_url
from telebot.sources.names import MAX_BASE_BYTES, sanitize_filename
from telebot.sources.refs import YTDL_TOOL
from telebot.sources.ytdl.net import NetGuard, make_youtubedl
from telebot.sources.ytdl.settings import YtdlSettings
from telebot.units import format_bytes
from telebot.ytdl_options import check_options, parse_options, to_params

log = logging.getLogger(__name__)

ENGINE = "yt-dlp"
#: Specs for yt-dlp carry this in ``TaskSpec.tool``.
TOOL = YTDL_TOOL
MEDIA_DIR = "media"
CHOICE_FILE = ".telebot-ytdl-choice"
#: The per-run copy of the cookies, in the task's folder (never in MEDIA_DIR: not a result).
COOKIES_FILE = ".telebot-cookies.txt"
#: How often the cancel watcher looks (the "within a second" of the Source contract).
CANCEL_POLL = 0.25
# Our fixed output template. Byte caps (yt-dlp's ".NB") keep title + id + ext well under the
# 240-byte name cap of names.py; nothing of it ever comes from a user.
OUTTMPL = "%(title).170B [%(id).40B].%(ext)s"
PLAYLIST_OUTTMPL = "%(playlist_index)03d %(title).160B [%(id).40B].%(ext)s"

BEST = "bv*+ba/b"


@dataclass(frozen=True)
class QualityOption:
    """One button of the quality menu: ``key`` goes back to the engine, ``label`` is shown."""

    key: str
    label: str


class QualityChooser(Protocol):
    """Asks the task's owner for a quality; implemented by bot/ (the engine knows no Telegram).

    Blocks the worker thread up to ``timeout`` s; returns an option's key, or None for best.
    Must return early (None) when ``task.cancel_event`` is set.
    """

    def choose(
        self, task: Task, title: str, options: Sequence[QualityOption], timeout: float
    ) -> str | None: ...


def choice_params(key: str) -> dict[str, Any]:
    """yt-dlp params for a menu key: best, merged, h:720, audio:mp3 or fmt:<format>."""
    if key == "merged":
        return {"format": BEST, "merge_output_format": "mp4"}
    if key.startswith("h:") and key[2:].isdigit():
        height = int(key[2:])
        return {"format": f"bv*[height={height}]+ba/b[height={height}]/{BEST}"}
    if key in ("audio:mp3", "audio:m4a"):
        codec = key[6:]
        return {
            "format": "ba[ext=m4a]/ba/b" if codec == "m4a" else "ba/b",
            "postprocessors": [{"key": "FFmpegExtractAudio", "preferredcodec": codec}],
        }
    if key.startswith("fmt:") and len(key) > 4:
        return {"format": key[4:]}
    return {"format": BEST}


def quality_options(info: dict[str, Any]) -> list[QualityOption]:
    """The menu for an extracted video: best, each height (with size when known), audio."""
    options = [QualityOption("best", "Best")]
    sizes: dict[int, int | None] = {}
    duration = info.get("duration")
    for fmt in info.get("formats") or ():
        height = fmt.get("height")
        if not isinstance(height, int) or fmt.get("vcodec") == "none":
            continue
        size = fmt.get("filesize") or fmt.get("filesize_approx")
        if not size and fmt.get("tbr") and duration:
            size = int(fmt["tbr"] * 1000 / 8 * duration)  # tbr is kbit/s
        sizes[height] = max(filter(None, (sizes.get(height), size)), default=None)
    for height in sorted(sizes, reverse=True):
        size = sizes[height]
        label = f"{height}p" + (f" (~{format_bytes(size)})" if size else "")
        options.append(QualityOption(f"h:{height}", label))
    options += [
        QualityOption("audio:m4a", "Audio only (m4a)"),
        QualityOption("audio:mp3", "Audio only (mp3)"),
        QualityOption("merged", "Best with audio merged (mp4)"),
    ]
    return options


class YtdlSource:
    """The :class:`~telebot.engine.pipeline.Source` for ``/ytdl`` and ``/ytdlleech`` tasks."""

    engine = ENGINE
    disk: DiskSpace | None = None  # STORAGE_THRESHOLD: pauses writes (set by ytdl_factory)

    def __init__(
        self,
        settings: YtdlSettings,
        chooser: Callable[[], QualityChooser | None] = lambda: None,
    ) -> None:
        self._settings = settings
        self._chooser = chooser
        self._defaults = check_options(settings.options, origin="YTDL_OPTIONS")

    def fetch(self, task: Task) -> Path:
        task.begin(State.DOWNLOADING, ENGINE)
        guard = NetGuard(allow_private=self._settings.allow_private)
        stop = threading.Event()
        watcher = threading.Thread(
            target=_watch_cancel,
            args=(task, guard, stop),
            name=f"ytdl-cancel-{task.gid}",
            daemon=True,
        )
        watcher.start()
        cookies: Path | None = None
        try:
            cookies = self._write_cookies(task)
            return self._fetch(task, guard, cookies)
        except TelebotError:
            raise
        except BaseException as exc:
            raise translate_error(exc, guard, task, signed_in=cookies is not None) from None
        finally:
            stop.set()
            if cookies is not None:
                cookies.unlink(missing_ok=True)

    def _write_cookies(self, task: Task) -> Path | None:
        """This run's private copy of the cookies (the user's, else the owner's), or None."""
        text = task.spec.cookies
        owner = self._settings.cookies_file
        if not text and owner is not None:
            try:
                text = read_cookies_file(owner)
            except (OSError, BadInputError):
                # Checked at start; changed since. The owner's problem, said without its text.
                log.warning("YTDL_COOKIES_FILE %s cannot be used now; running without", owner)
        if not text:
            return None
        return write_private(task.workdir / COOKIES_FILE, text)

    def _fetch(self, task: Task, guard: NetGuard, cookies: Path | None = None) -> Path:
        home = task.workdir / MEDIA_DIR
        home.mkdir(exist_ok=True)
        base = self.base_params(task, home, cookies)
        info = make_youtubedl(base, guard).extract_info(
            task.spec.source, download=False, process=False
        )
        _check_guard(guard)
        playlist = info.get("_type") == "playlist"
        task.name = sanitize_filename(task.spec.name or str(info.get("title") or "video"))
        key = self._choice(task, info, playlist)
        params = {**base, **choice_params(key)}
        params = _merge_postprocessors(base, params)
        folder = home
        if playlist:
            folder = home / task.name
            params["outtmpl"] = {"default": f"{_escape(task.name)}/{PLAYLIST_OUTTMPL}"}
            params["ignoreerrors"] = "only_download"
        ydl = make_youtubedl(params, guard)
        result = ydl.process_ie_result(info, download=True)
        _check_guard(guard)
        if task.cancel_event.is_set():
            raise TaskCancelled(task.cancel_reason or "cancelled")
        if playlist:
            return _finish_playlist(task, result, folder, home)
        return _finish_single(task, result, home)

    def base_params(self, task: Task, home: Path, cookies: Path | None = None) -> dict[str, Any]:
        """Params every run uses; later keys win, so ours override the allowed options."""
        user = parse_options(task.spec.ytdl_options) if task.spec.ytdl_options else {}
        return {
            **({"cookiefile": str(cookies)} if cookies is not None else {}),
            **_netrc_params(self._settings.netrc_file),
            **to_params({**self._defaults, **user}),
            "paths": {"home": str(home), "temp": str(home)},
            "outtmpl": {"default": OUTTMPL},
            "continuedl": True,
            "nopart": False,
            "overwrites": False,
            "quiet": True,
            "no_warnings": True,
            "noprogress": True,
            "logger": _Logger(task),
            "progress_hooks": [
                _ProgressHook(task, self._settings.max_size),
                *([_SpaceHook(task, self.disk)] if self.disk is not None else []),
            ],
            "postprocessor_hooks": [lambda _d: _raise_if_cancelled(task)],
            "external_downloader": {"default": "native"},
            "hls_prefer_native": True,
            "trim_file_name": MAX_BASE_BYTES,
            "windowsfilenames": False,
            "cachedir": False,
        }

    def _choice(self, task: Task, info: dict[str, Any], playlist: bool) -> str:
        """``-q`` wins; then a choice saved by an earlier run; then the menu; else best."""
        if task.spec.ytdl_format:
            return "fmt:" + task.spec.ytdl_format
        saved = task.workdir / CHOICE_FILE
        try:
            return saved.read_text(encoding="utf-8").strip() or "best"
        except OSError:
            pass
        chooser = self._chooser()
        key = "best"
        options = quality_options(info if not playlist else _first_entry(info))
        if chooser is not None:
            timeout = self._settings.select_timeout
            key = chooser.choose(task, task.name, options, timeout) or "best"
            if key not in {o.key for o in options}:
                key = "best"
        _raise_if_cancelled(task)
        saved.write_text(key, encoding="utf-8")
        return key


def _netrc_params(path: Path | None) -> dict[str, Any]:
    """NETRC_FILE for yt-dlp's own logins (its machine names are extractor names: ``youtube``,
    ``vimeo``...). The owner's path itself, not a per-run copy as for cookies: yt-dlp only
    reads a .netrc (``_get_netrc_login_info``, ``netrc.netrc(path)``), never writes it, and a
    copy would be one more place the passwords rest."""
    return {"usenetrc": True, "netrc_location": str(path)} if path is not None else {}


def _first_entry(info: dict[str, Any]) -> dict[str, Any]:
    for entry in info.get("entries") or ():
        if isinstance(entry, dict):
            return entry
    return {}


def _escape(name: str) -> str:
    """A literal folder name inside an output template (``%`` starts a field)."""
    return name.replace("%", "%%")


def _merge_postprocessors(base: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """The choice's postprocessors (audio extraction) run before the user's embed ones."""
    chosen = params.get("postprocessors") or []
    if chosen is base.get("postprocessors"):
        return params
    return {**params, "postprocessors": [*chosen, *(base.get("postprocessors") or [])]}


def _check_guard(guard: NetGuard) -> None:
    if guard.refused:
        raise SecurityError(guard.refused[0])


def _raise_if_cancelled(task: Task) -> None:
    if task.cancel_event.is_set():
        raise TaskCancelled(task.cancel_reason or "cancelled")


def _watch_cancel(task: Task, guard: NetGuard, stop: threading.Event) -> None:
    while not stop.wait(CANCEL_POLL):
        if task.cancel_event.is_set():
            guard.abort()
            return


class _ProgressHook:
    """yt-dlp progress dicts → task progress (``progress_hooks`` in yt-dlp's YoutubeDL.py)."""

    def __init__(self, task: Task, cap: int | None = None) -> None:
        self._task = task
        self._cap = cap  # MAX_DOWNLOAD_SIZE, over every file of the task
        self._file: str | None = None
        self._earlier = 0  # bytes of the files finished before the current one
        self._whole = 0  # the last whole-task total given to the size checks

    def __call__(self, d: dict[str, Any]) -> None:
        task = self._task
        _raise_if_cancelled(task)
        if d.get("status") != "downloading":
            return
        if d.get("filename") != self._file:  # a new file: its progress counts from zero
            self._earlier += task.done if self._file is not None else 0
            self._file = d.get("filename")
            task.begin(State.DOWNLOADING, ENGINE)
        total = d.get("total_bytes") or d.get("total_bytes_estimate")
        done = int(d.get("downloaded_bytes") or 0)
        task.progress(done, int(total) if total else None)
        if total and self._earlier and task.on_total is not None:
            # A playlist: the status counts one entry, but the size limits (YTDL_LIMIT,
            # LEECH_LIMIT, the disk) apply to the whole task, the entries before this one too.
            whole = self._earlier + int(total)
            if whole != self._whole:
                self._whole = whole
                task.on_total(task, whole)
        task.detail = _note(d)
        # yt-dlp's own max_filesize skips single HLS/DASH fragments instead: count here.
        if self._cap is not None and self._earlier + max(done, int(total or 0)) > self._cap:
            raise DownloadError(f"larger than the size limit ({format_bytes(self._cap)})")


class _SpaceHook:
    """STORAGE_THRESHOLD for yt-dlp: its progress hooks run in its download loop, between two
    writes, so waiting here pauses the download (engine/diskguard.py) with the status line."""

    def __init__(self, task: Task, disk: DiskSpace) -> None:
        self._task = task
        self._gate = disk.gate(lambda text: setattr(task, "note", text))
        self._last = 0

    def __call__(self, d: dict[str, Any]) -> None:
        if d.get("status") != "downloading":
            return
        done = int(d.get("downloaded_bytes") or 0)
        grown, self._last = max(0, done - self._last), done
        self._gate.wait(grown, self._task.cancel_event)


def _note(d: dict[str, Any]) -> str | None:
    info = d.get("info_dict") or {}
    parts = []
    index, count = info.get("playlist_index"), info.get("n_entries")
    if index and count:
        parts.append(f"{index}/{count} {str(info.get('title') or '')[:60]}".rstrip())
    frag, frags = d.get("fragment_index"), d.get("fragment_count")
    if frag and frags:
        parts.append(f"fragment {frag}/{frags}")
    return " · ".join(parts) or None


class _Logger:
    """yt-dlp's messages go to our log; its errors are kept for the done message."""

    def __init__(self, task: Task) -> None:
        self._task = task
        self.errors: list[str] = []

    def debug(self, msg: str) -> None:
        log.debug("yt-dlp %s: %s", self._task.gid, msg)

    def info(self, msg: str) -> None:
        log.debug("yt-dlp %s: %s", self._task.gid, msg)

    def warning(self, msg: str) -> None:
        log.info("yt-dlp %s: %s", self._task.gid, msg)

    def error(self, msg: str) -> None:
        log.warning("yt-dlp %s: %s", self._task.gid, msg)
        self.errors.append(msg)


def _downloaded(entry: dict[str, Any]) -> list[Path]:
    return [
        Path(d["filepath"]) for d in entry.get("requested_downloads") or () if d.get("filepath")
    ]


def _inside(path: Path, folder: Path) -> Path:
    """``path`` as ``folder / <relative part>``; SecurityError if it resolves outside folder."""
    resolved, root = path.resolve(), folder.resolve()
    if not resolved.is_relative_to(root) or not resolved.is_file():
        raise SecurityError("refused: yt-dlp wrote a file outside the task folder")
    return folder / resolved.relative_to(root)


def _safe_name(path: Path, name: str | None = None) -> Path:
    """Rename ``path`` to the sanitized form of ``name`` (or of its own name) if they differ."""
    wanted = name + path.suffix if name and not name.endswith(path.suffix) else name
    safe = sanitize_filename(wanted or path.name, max_bytes=MAX_BASE_BYTES)
    if safe == path.name:
        return path
    target = path.with_name(safe)
    path.replace(target)
    return target


def _finish_single(task: Task, result: dict[str, Any], home: Path) -> Path:
    files = _downloaded(result)
    if not files:
        raise DownloadError("yt-dlp finished without a file")
    path = _safe_name(_inside(files[0], home), task.spec.name)
    task.name = path.name
    return path


def _finish_playlist(task: Task, result: dict[str, Any], folder: Path, home: Path) -> Path:
    failed: list[str] = []
    count = 0
    for i, entry in enumerate(result.get("entries") or (), start=1):
        files = _downloaded(entry) if isinstance(entry, dict) else []
        if not files:
            title = entry.get("title") if isinstance(entry, dict) else None
            failed.append(f"entry {i}" + (f" ({str(title)[:80]})" if title else ""))
            continue
        for file in files:
            _safe_name(_inside(file, folder))
            count += 1
    if count == 0:
        raise DownloadError("no entry of the playlist could be downloaded")
    if failed:
        task.warnings = [f"failed: {', '.join(failed)}"]
    task.name = folder.name
    return folder


# -- the one boundary where yt-dlp's errors become ours ----------------------------------------

_REASONS: tuple[tuple[str, Callable[[str], TelebotError]], ...] = (
    (r"unsupported url", lambda _m: BadInputError("unsupported URL: yt-dlp cannot handle it")),
    (
        r"geo.?restrict|not available in your country|geo.?block",
        lambda _m: DownloadError("geo-blocked: the video is not available from this server"),
    ),
    (
        r"requested format is not available|no video formats",
        lambda _m: BadInputError("the requested format is not available"),
    ),
    (r"http error (\d{3})", lambda m: DownloadError(f"HTTP {m} from the video site")),
    (
        r"is offline|live event will begin|premieres in",
        lambda _m: DownloadError("the stream is not live or not available yet"),
    ),
    (r"drm", lambda _m: DownloadError("DRM-protected: cannot be downloaded")),
)


# YouTube's bot check ("Sign in to confirm you're not a bot"), age gates, members-only and
# private videos: the site wants a signed-in user, which cookies give.
_SIGN_IN = re.compile(
    r"sign in|log ?in required|members.only|not a bot|--cookies|cookies for the authentication",
    re.IGNORECASE,
)
SIGN_IN_HINT = "send a cookies.txt in /usetting (or the owner sets YTDL_COOKIES_FILE)"


def _sign_in_error(task: Task, signed_in: bool) -> DownloadError:
    host = (urlsplit(task.spec.source).hostname or "").lower()
    youtube = host.endswith(("youtube.com", "youtu.be"))
    site = "YouTube" if youtube else "the site"
    if signed_in:
        return DownloadError(
            f"{site} still asks to sign in: the cookies may have expired or lack access; "
            "export fresh ones"
        )
    return DownloadError(f"{site} asks to sign in: {SIGN_IN_HINT}")


def translate_error(
    exc: BaseException, guard: NetGuard, task: Task, *, signed_in: bool = False
) -> TelebotError:
    """yt-dlp's exception (and anything it wrapped) → one of ours with a short reason.
    ``signed_in``: the run had cookies (a sign-in request then means they did not do)."""
    if guard.refused:
        return SecurityError(guard.refused[0])
    cause = _wrapped(exc)
    if isinstance(cause, TelebotError):
        return cause
    if task.cancel_event.is_set():
        return TaskCancelled(task.cancel_reason or "cancelled")
    if not isinstance(exc, Exception):
        raise exc  # KeyboardInterrupt, SystemExit: not ours to translate
    text = _first_line(str(getattr(exc, "msg", None) or exc))
    if _SIGN_IN.search(text):
        return _sign_in_error(task, signed_in)
    for pattern, make in _REASONS:
        match = re.search(pattern, text, re.IGNORECASE)
        if match:
            return make(match.group(1) if match.groups() else "")
    # Links in yt-dlp's text may carry tokens in their query: show scheme, host and path only.
    text = _URL.sub(lambda m: redact_url(m.group(0)), text)
    return DownloadError(f"yt-dlp: {text[:200]}" if text else "yt-dlp failed")


_URL = re.compile(r"https?://[^\s\"'<>]+", re.IGNORECASE)


def _wrapped(exc: BaseException) -> BaseException:
    """yt-dlp wraps errors in DownloadError with ``exc_info``; follow that and ``__cause__``."""
    seen = 0
    while seen < 10:
        seen += 1
        inner = getattr(exc, "exc_info", None)
        nxt = inner[1] if isinstance(inner, tuple) and len(inner) > 1 else None
        nxt = nxt or exc.__cause__ or exc.__context__
        if nxt is None or nxt is exc:
            return exc
        if isinstance(nxt, TelebotError):
            return nxt
        exc = nxt
    return exc


def _first_line(text: str) -> str:
    text = text.strip().splitlines()[0] if text.strip() else ""
    text = re.sub(r"^(ERROR:\s*)?(\[[^\]]+\]\s*)?([\w-]+:\s)?", "", text)
    return text


def ytdl_factory(
    settings: YtdlSettings,
    chooser: Callable[[], QualityChooser | None] = lambda: None,
    disk: DiskSpace | None = None,
) -> SourceFactory:
    """A :data:`~telebot.engine.pipeline.SourceFactory` for specs with ``tool == "ytdl"``."""
    source = YtdlSource(settings, chooser)
    source.disk = disk

    def factory(spec: TaskSpec) -> Source | None:
        if spec.tool != TOOL:
            return None
        if not spec.source[:8].lower().startswith(("http://", "https://")):
            # Ours (the user asked for yt-dlp), so no other source may take it instead.
            raise BadInputError("/ytdl takes http:// and https:// links only.")
        if spec.share_password is not None:
            raise share_password_unused(
                "/ytdl has no use for one (a site that needs signing in takes cookies: /usetting)")
        return source

    return factory


def options_json(options: dict[str, Any]) -> str:
    return json.dumps(options, separators=(",", ":"))
