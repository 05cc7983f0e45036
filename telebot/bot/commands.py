"""The command table: names, aliases, who may use them, and the /help text built from it.

Keeping every command in one table means /help, setMyCommands and the handler registration can
never disagree about what exists.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from telebot.intake.auth import Level
from telebot.intake.specs import NOT_YET  # flags not in this build: /help leaves them out


@dataclass(frozen=True)
class CommandSpec:
    name: str
    summary: str
    level: Level = Level.USER
    aliases: tuple[str, ...] = ()
    usage: str = ""


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("start", "Check that the bot is alive and whether you may use it", Level.USER),
    CommandSpec("help", "List every command and the task flags", Level.USER),
    CommandSpec(
        "mirror",
        "Download a link and store the result (local folder or rclone)",
        aliases=("m",),
        usage="/mirror <link> [flags]",
    ),
    CommandSpec(
        "leech",
        "Download a link and upload the result into Telegram",
        aliases=("l",),
        usage="/leech <link> [flags]",
    ),
    CommandSpec(
        "clone",
        "Copy between rclone remotes (server-side where possible)",
        usage="/clone <remote:path> [-up remote:path]",
    ),
    CommandSpec("count", "Files and total size on a remote", usage="/count <remote:path>"),
    CommandSpec("list", "Search the names on the configured remotes", usage="/list <words>"),
    CommandSpec(
        "del", "Delete a file or folder on a remote", Level.SUDO, usage="/del <remote:path>"
    ),
    CommandSpec(
        "ytdl",
        "Download a video (or playlist) with yt-dlp and store it",
        aliases=("y",),
        usage="/ytdl <link> [-q format] [-opt JSON] [flags]",
    ),
    CommandSpec(
        "ytdlleech",
        "Download a video (or playlist) with yt-dlp and upload it into Telegram",
        aliases=("yl",),
        usage="/ytdlleech <link> [-q format] [-opt JSON] [flags]",
    ),
    CommandSpec(
        "mediainfo",
        "Codecs, duration and size of a media file (reads only its first megabytes)",
        aliases=("mi",),
        usage="/mediainfo <link> (or reply to a file or link)",
    ),
    CommandSpec(
        "search",
        "Search torrents (Jackett/Prowlarr), then mirror or leech one",
        usage="/search <words> [-cat movies|tv|music|books|anime|...]",
    ),
    CommandSpec(
        "rss",
        "Subscribe to RSS/Atom feeds whose new items become tasks",
        usage='/rss add <feed url> [name] [-inf "a b|c"] [-exf "x"] [-c "/mirror flags"] [-all]'
        " | list | get <name> [n] | check | pause | resume | remove <name>",
    ),
    CommandSpec("status", "Show the progress of every task in this chat", aliases=("s",)),
    CommandSpec(
        "cancel",
        "Cancel one task",
        aliases=("c",),
        usage="/cancel <gid> (or reply to the task's command)",
    ),
    CommandSpec("cancelall", "Cancel every task you started (sudo: all tasks)"),
    CommandSpec("usetting", "Your settings: leech type, part size, names, thumbnail...",
                aliases=("us",)),
    CommandSpec("stats", "Host, bot and tool statistics"),
    CommandSpec("ping", "Round trip time to the Bot API"),
    CommandSpec("log", "Send the log file", Level.SUDO),
    CommandSpec("restart", "Restart the bot; unfinished tasks resume", Level.SUDO),
    CommandSpec(
        "bsetting",
        "Show or change the bot's runtime settings",
        Level.OWNER,
        usage="/bsetting [NAME value|default]",
    ),
    CommandSpec(
        "auth",
        "Authorize a chat or user",
        Level.SUDO,
        usage="/auth [id] (or reply; no id = this chat)",
    ),
    CommandSpec("unauth", "Remove a chat or user", Level.SUDO, usage="/unauth [id] (or reply)"),
    CommandSpec("addsudo", "Make a user sudo", Level.OWNER, usage="/addsudo <id> (or reply)"),
    CommandSpec("rmsudo", "Remove a sudo user", Level.OWNER, usage="/rmsudo <id> (or reply)"),
    CommandSpec("users", "List the owner, sudo users and authorized chats", Level.SUDO),
)

TASK_FLAGS: tuple[tuple[str, str], ...] = (
    ("-n name", "name of the result"),
    ("-e [password]", "extract archives"),
    ("-z [password]", "archive the result (with a password: AES-256, which some old unzip "
     "tools cannot open; I delete the message afterwards); with /leech, volumes of the part "
     "size that 7-Zip opens from .001"),
    ("-zf zip|7z", "archive format for -z (default zip; 7z with a password hides the names too)"),
    ("-j", "join split files (name.001, name.002, ...) before extracting"),
    ("-up dest", "/mirror: local or remote:path; /leech: a chat id where you may post"),
    ("-overwrite", "sudo, /mirror to a remote: replace a same-named file (else name (1))"),
    ("-sp size", "leech part size, e.g. 500mb or 2gb"),
    ("-doc / -med", "leech as documents / as media"),
    ("-es", "leech: equal parts (as many as the part size needs) instead of full ones"),
    ("-ss [n]", "leech: n screenshots of each video (default 10, at most 30), sent before it"),
    ("-tl RxC", "leech: the screenshots as one picture of R rows and C columns, e.g. -tl 3x3"),
    ("-sv [secs[:start]]", "leech: a sample clip of each video, sent after it: 60 s from the "
     "middle; -sv 30 = 30 s from the middle; -sv 30:120 = 30 s from 120 s in (max 600 s)"),
    ("-s", "select files of a torrent"),
    ("-d [ratio][:minutes]", "keep seeding a torrent after delivery (default ratio 1)"),
    ('-h "Key: <value>"', "extra HTTP header (up to 10)"),
    ("-au <user> -ap <password>", "HTTP basic auth (I delete the message afterwards)"),
    ("-ap <password>", "alone: the password of a file host's share (MediaFire, GoFile, ...)"),
    ("-html", "keep a link's web page as a file (else a page is refused: it is not a file)"),
    ("-i N", "reply to the first of N consecutive messages"),
    ("-b [start:end]", "bulk: reply to a message or .txt file with one link (and flags) per line"),
    ("-m folder", "with -i or -b: all results in one folder, delivered once"),
    ("-ns old/new|/re/new/r", "rename the delivered files (/regex/new/r: a regular expression)"),
    ("-q format", "/ytdl: a yt-dlp format, e.g. -q \"bv*[height<=720]+ba\" (skips the menu)"),
    ("-opt JSON", "/ytdl: yt-dlp options, e.g. -opt '{\"playlist_items\": \"1-3\"}'"),
    ("-cv mp4|mkv", "convert videos (stream copy where the container allows, else re-encode)"),
    ("-ca mp3|m4a|opus|flac[:bitrate]", "convert audio files, e.g. -ca mp3:192k (videos keep "
     "their audio)"),
    ("-keep", "with -cv, -ca or -ff: keep the original beside the result"),
    ("-ff preset[,preset]", "apply the owner's ffmpeg presets by name (FFMPEG_PRESETS)"),
    ("-meta \"title=..|artist=..|lang=eng\"", "set media tags (default: your /usetting)"),
    ("-t", "/leech as a reply to a photo: that photo is this task's thumbnail"),
)



def command_names(spec: CommandSpec) -> tuple[str, ...]:
    return (spec.name, *spec.aliases)


def spec_of(name: str) -> CommandSpec:
    for spec in COMMANDS:
        if name in command_names(spec):
            return spec
    raise KeyError(name)


def help_text(level: Level) -> str:
    """The /help message (HTML) for a user of ``level``: only what they may use."""
    lines = ["<b>Commands</b>"]
    for spec in COMMANDS:
        if spec.level > level:
            continue
        names = " ".join(f"/{n}" for n in command_names(spec))
        usage = f" — <code>{html.escape(spec.usage)}</code>" if spec.usage else ""
        lines.append(f"{names}: {html.escape(spec.summary)}{usage}")
    lines.append("")
    lines.append("<b>Task flags</b> (after the link)")
    unavailable = set(NOT_YET.values())
    for flag, meaning in TASK_FLAGS:
        if flag.split()[0] in unavailable:
            continue
        lines.append(f"<code>{html.escape(flag)}</code> {html.escape(meaning)}")
    return "\n".join(lines)
