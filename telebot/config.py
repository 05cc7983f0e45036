"""Typed, validated configuration (docs/ARCHITECTURE.md §4).

Values come from the environment, then from an optional ``config.env`` (``KEY=value`` lines) in
the working directory; the environment wins. Quotes around a value and a trailing ``# comment``
are removed from both (:func:`clean_value`: ``docker run --env-file`` passes them as written).
A missing or invalid value raises :class:`~telebot.errors.ConfigError` naming the variable, which
``python -m telebot`` turns into one line on stderr and exit code 2. Unknown keys in
``config.env`` are warned about, because a typo there (``OWNR_ID``) would otherwise silently fall
back to a default.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypedDict, TypeVar
from urllib.parse import urlsplit

from telebot.errors import ConfigError
from telebot.units import format_size

if TYPE_CHECKING:
    from telebot.ffpresets import Preset

log = logging.getLogger(__name__)

T = TypeVar("T")

CONFIG_FILE = "config.env"

# Bot API upload ceilings (docs/TELEGRAM.md, limits): 50 MB through the cloud, 2000 MB with a local
# server.
CLOUD_UPLOAD_LIMIT = 50_000_000
LOCAL_UPLOAD_LIMIT = 2_000_000_000

_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]{1,}$")
_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "ki": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "mi": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "gi": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1024**4,
    "ti": 1024**4,
}


@dataclass(frozen=True)
class Config:
    """Every setting of one bot instance. Immutable: share it freely between threads."""

    bot_token: str = field(repr=False)
    owner_id: int
    authorized_chats: frozenset[int] = frozenset()
    sudo_users: frozenset[int] = frozenset()
    bot_api_url: str = "https://api.telegram.org"
    bot_api_local: bool = False
    download_dir: Path = Path("downloads")
    mirror_dir: Path = Path("mirror")
    database_path: Path = Path("telebot.db")
    rclone_config: Path | None = None
    default_upload: str = "local"
    index_url: str = ""  # web prefix for paths on rclone remotes (sinks/rclone/sink.py)
    # RCLONE_ALLOWED_ROOTS: "remote:/abs" folders where absolute paths are allowed on remotes
    # whose "/" is the server's root (sftp, ftp...; sinks/rclone/remotes.py); none by default.
    rclone_allowed_roots: tuple[str, ...] = ()
    status_update_interval: float = 10.0
    status_limit: int = 4
    leech_split_size: int = CLOUD_UPLOAD_LIMIT
    queue_all: int = 4
    queue_download: int = 3
    queue_upload: int = 2
    allow_private_links: bool = False
    perf_report_interval: float = 1800.0
    sampler_interval: float = 5.0
    log_file: Path = Path("telebot.log")
    upload_timeout: float = 120.0
    max_download_size: int | None = None  # None: no limit
    host_down_timeout: float = 600.0  # a task waits this long for a host whose breaker is open
    # HOSTS_BASE_URLS: a file host's resolver sent to another base ("mediafire" -> a test
    # server or a mirror): the owner's setting, never a user's (sources/hosts/client.py).
    hosts_base_urls: Mapping[str, str] = field(default_factory=dict)
    ytdl_options: Mapping[str, Any] = field(default_factory=dict)  # YTDL_OPTIONS, allow-listed
    ytdl_select_timeout: float = 120.0
    ytdl_cookies_file: Path | None = None  # YTDL_COOKIES_FILE: the owner's cookies.txt (checked)
    netrc_file: Path | None = None  # NETRC_FILE: logins for direct links and yt-dlp (checked)
    # FFMPEG_PRESETS: the owner's named ffmpeg recipes for -ff, checked at start (ffpresets.py).
    ffmpeg_presets: Mapping[str, Preset] = field(default_factory=dict)
    # Torrents (issue 12). 16881: outside 6881-6889 (which some trackers and ISPs refuse) and
    # below Linux's ephemeral range (32768-60999), so an outgoing connection never holds it.
    torrent_port: int = 16881
    torrent_listen: str = "0.0.0.0,[::]"  # addresses to listen on, comma-separated
    torrent_dht: bool = True
    torrent_max_connections: int = 200  # libtorrent's own default (connections_limit)
    torrent_download_limit: int = 0  # bytes/s, 0 = no cap
    torrent_upload_limit: int = 0
    torrent_timeout: float = 600.0
    torrent_select_timeout: float = 300.0
    # Limits that protect the host (issue 16; engine/limits.py, engine/diskguard.py).
    storage_threshold: int = 2_000_000_000  # STORAGE_THRESHOLD: free space to keep; 0 = off
    user_tasks_limit: int = 0  # running + queued per user; 0 = no limit
    direct_limit: int | None = None  # None: no limit (sizes, like MAX_DOWNLOAD_SIZE)
    torrent_limit: int | None = None
    ytdl_limit: int | None = None
    leech_limit: int | None = None
    stop_duplicate: bool = False
    extract_max_ratio: float = 100.0  # -e stops when the output passes this x the archive size
    extract_max_files: int = 100_000  # ... or holds more entries than this
    extract_ratio_floor: int = 1 << 30  # EXTRACT_MAX_RATIO applies only past this output size
    # The box of tools that read untrusted bytes (telebot/sandbox): Landlock where the kernel
    # has it, rlimits always.
    sandbox: bool = True  # SANDBOX=false turns the Landlock walls off (rlimits stay)
    sandbox_memory: int = 1 << 30  # SANDBOX_MEMORY: address space of one boxed tool
    # Scale-out (issue 17, README "Scale-out"): empty broker URL = one process, no Redis.
    celery_broker_url: str = field(default="", repr=False)  # may carry a Redis password
    celery_visibility_timeout: float = 43200.0  # > the longest task (telebot/scale/celery_app)
    worker_queues: tuple[str, ...] = ()  # () = every queue this worker can serve
    worker_lock_ttl: float = 30.0  # a dead worker's task may run elsewhere this long after
    bulk_limit: int = 100  # BULK_LIMIT: links one -b may start (intake/many.py)
    # DURABLE_WRITES: fsync each result before recording it. Off: the record carries the boot id
    # and is checked after a reboot instead (engine/taskstate.py; docs/ARCHITECTURE.md section 7).
    durable_writes: bool = False
    # MEDIA_GROUP: a leech sends the playable parts of one file (and screenshots) as albums.
    media_group: bool = True
    # Prometheus /metrics (telebot/monitor/metrics.py, docs/METRICS.md): 0 = off.
    metrics_port: int = 0
    metrics_bind: str = "127.0.0.1"  # loopback: a port the owner opens on purpose, not by default
    metrics_user_labels: bool = False  # true: running tasks per user id (ids are personal data)
    # /search (telebot/feeds/torznab, docs/FEEDS.md): Torznab endpoints of Jackett or Prowlarr and
    # one API key per endpoint (TORZNAB_API_KEY with one key is repeated for every URL).
    torznab_urls: tuple[str, ...] = ()
    torznab_api_keys: tuple[str, ...] = field(default=(), repr=False)
    rss_interval: float = 900.0  # RSS_INTERVAL: seconds between two checks of a feed (/rss)

    @property
    def upload_limit(self) -> int:
        """Largest part the configured Bot API accepts."""
        return LOCAL_UPLOAD_LIMIT if self.bot_api_local else CLOUD_UPLOAD_LIMIT

    @property
    def secrets(self) -> tuple[str, ...]:
        """Strings that must never reach a log line or a chat message."""
        return (self.bot_token, *_url_password(self.celery_broker_url), *self.torznab_api_keys,
                *self._netrc_passwords())

    def _netrc_passwords(self) -> tuple[str, ...]:
        from telebot.netrcfile import load_netrc

        if self.netrc_file is None:
            return ()
        try:
            return load_netrc(self.netrc_file).passwords
        except ConfigError:  # checked at start; gone since: nothing of it can reach a log
            return ()


KNOWN_KEYS = frozenset(
    {
        "BOT_TOKEN",
        "OWNER_ID",
        "AUTHORIZED_CHATS",
        "SUDO_USERS",
        "BOT_API_URL",
        "BOT_API_LOCAL",
        "DOWNLOAD_DIR",
        "MIRROR_DIR",
        "DATABASE_PATH",
        "RCLONE_CONFIG",
        "DEFAULT_UPLOAD",
        "INDEX_URL",
        "RCLONE_ALLOWED_ROOTS",
        "STATUS_UPDATE_INTERVAL",
        "STATUS_LIMIT",
        "LEECH_SPLIT_SIZE",
        "QUEUE_ALL",
        "QUEUE_DOWNLOAD",
        "QUEUE_UPLOAD",
        "ALLOW_PRIVATE_LINKS",
        "PERF_REPORT_INTERVAL",
        "SAMPLER_INTERVAL",
        "LOG_FILE",
        "UPLOAD_TIMEOUT",
        "MAX_DOWNLOAD_SIZE",
        "HOST_DOWN_TIMEOUT",
        "HOSTS_BASE_URLS",
        "YTDL_OPTIONS",
        "FFMPEG_PRESETS",
        "YTDL_SELECT_TIMEOUT",
        "YTDL_COOKIES_FILE",
        "NETRC_FILE",
        "TORRENT_PORT",
        "TORRENT_LISTEN",
        "TORRENT_DHT",
        "TORRENT_MAX_CONNECTIONS",
        "TORRENT_DOWNLOAD_LIMIT",
        "TORRENT_UPLOAD_LIMIT",
        "TORRENT_TIMEOUT",
        "TORRENT_SELECT_TIMEOUT",
        "STORAGE_THRESHOLD",
        "USER_TASKS_LIMIT",
        "DIRECT_LIMIT",
        "TORRENT_LIMIT",
        "YTDL_LIMIT",
        "LEECH_LIMIT",
        "STOP_DUPLICATE",
        "DURABLE_WRITES",
        "MEDIA_GROUP",
        "EXTRACT_MAX_RATIO",
        "EXTRACT_MAX_FILES",
        "EXTRACT_RATIO_FLOOR",
        "SANDBOX",
        "SANDBOX_MEMORY",
        "CELERY_BROKER_URL",
        "CELERY_VISIBILITY_TIMEOUT",
        "WORKER_QUEUES",
        "WORKER_LOCK_TTL",
        "BULK_LIMIT",
        "METRICS_PORT",
        "METRICS_BIND",
        "METRICS_USER_LABELS",
        "TORZNAB_URL",
        "TORZNAB_API_KEY",
        "RSS_INTERVAL",
    }
)


def read_config_file(path: Path) -> dict[str, str]:
    """Parse ``KEY=value`` lines: blank lines, ``#`` comment lines, ``export KEY=value``, quoted
    values and trailing comments are allowed (each value through :func:`clean_value`)."""
    values: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return values
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{path.name} line {number}", "is not a KEY=value line")
        try:
            values[key.strip()] = clean_value(value)
        except ValueError as exc:
            raise ConfigError(f"{path.name} line {number} ({key.strip()})", str(exc)) from None
    return values


_TRAILING_COMMENT = re.compile(r"\s#.*$")


def clean_value(value: str) -> str:
    """A setting's value as written in ``config.env`` or passed in the environment, without its
    quotes and trailing comment: ``"123:abc"`` and ``'123:abc'`` are ``123:abc``; in
    ``1  # me`` everything from a ``#`` that follows a space is a comment. A ``#`` inside quotes
    or without a space before it (``https://host/#x``) is kept.

    Why the environment too: ``docker run --env-file config.env`` passes each line's text as it
    is, quotes and comments included (docker/cli#3630), while Compose's ``env_file`` and this
    parser remove them. Cleaned on both paths, a config.env reads the same everywhere. Raises
    ValueError for an opening quote without its closing one, or text after the closing one."""
    value = value.strip()
    if value[:1] in ("'", '"'):
        quote = value[0]
        end = value.find(quote, 1)
        if end < 0:
            raise ValueError(f"has an opening {quote} without a closing one")
        rest = value[end + 1:].strip()
        if rest and not rest.startswith("#"):
            raise ValueError(f"has text after its closing {quote}: {rest[:20]!r}")
        return value[1:end]
    return _TRAILING_COMMENT.sub("", value).strip()


def read_raw(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> dict[str, str]:
    """Merged raw settings: ``config.env`` first, then the environment on top.

    Only keys telebot knows are taken from the environment (it holds much else); every key of
    ``config.env`` is kept so unknown ones can be reported. Environment values are cleaned like
    the file's (:func:`clean_value`).
    """
    env = os.environ if env is None else env
    merged = read_config_file((cwd or Path.cwd()) / CONFIG_FILE)
    for key, value in env.items():
        if key in KNOWN_KEYS:
            try:
                merged[key] = clean_value(value)
            except ValueError as exc:
                raise ConfigError(key, str(exc)) from None
    return merged


def database_path_of(raw: Mapping[str, str]) -> Path:
    """DATABASE_PATH from :func:`read_raw`'s settings, or its default."""
    return Path(raw.get("DATABASE_PATH", "").strip() or "telebot.db")


def heartbeat_file(database_path: Path) -> Path:
    """The health heartbeat, next to the database: the sampler writes it, ``python -m
    telebot.health`` reads it. The one place that names it, so the two cannot disagree."""
    return Path(f"{database_path}.heartbeat")


def _required(raw: Mapping[str, str], name: str) -> str:
    value = raw.get(name, "").strip()
    if not value:
        raise ConfigError(name, "is required but not set")
    return value


def _parse(raw: Mapping[str, str], name: str, default: T, conv: Callable[[str], T], what: str) -> T:
    value = raw.get(name, "").strip()
    if not value:
        return default
    try:
        return conv(value)
    except ValueError:
        raise ConfigError(name, f"must be {what}, got {value!r}") from None


def parse_base_urls(value: str) -> dict[str, str]:
    """``"mediafire=http://127.0.0.1:8080,pixeldrain=https://pd.example"`` -> {key: base}.

    A base is a scheme and an address only (no path, query or credentials): the resolver's
    requests keep their paths and go there instead of the host's own domain."""
    bases: dict[str, str] = {}
    for item in value.split(","):
        key, sep, base = (part.strip() for part in item.partition("="))
        parts = urlsplit(base)
        if (not sep or not key.isalnum() or parts.scheme not in ("http", "https")
                or not parts.hostname or parts.path not in ("", "/") or parts.query
                or parts.username or parts.password):
            raise ValueError(item)
        bases[key.lower()] = f"{parts.scheme}://{parts.netloc}"
    return bases


def _int_id(value: str) -> int:
    return int(value, 10)


def _id_set(value: str) -> frozenset[int]:
    return frozenset(int(part, 10) for part in value.replace(",", " ").split())


def _positive_int(value: str) -> int:
    number = int(value, 10)
    if number < 0:
        raise ValueError(value)
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError(value)
    return number


def parse_bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(value)


def parse_size(value: str) -> int:
    """``"50mb"`` → 50_000_000, ``"2GiB"`` → 2 * 1024**3, ``"1048576"`` → 1048576."""
    match = _SIZE_RE.match(value)
    if not match:
        raise ValueError(value)
    number, unit = match.groups()
    factor = _SIZE_UNITS.get((unit or "").lower())
    if factor is None:
        raise ValueError(value)
    size = int(float(number) * factor)
    if size <= 0:
        raise ValueError(value)
    return size


def _url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError(value)
    return value.rstrip("/")


def _remote_roots(value: str) -> tuple[str, ...]:
    """``RCLONE_ALLOWED_ROOTS``: ``remote:/path`` items, absolute, without ``..`` or ``.``."""
    roots = tuple(item.strip() for item in value.split(",") if item.strip())
    for root in roots:
        name, colon, path = root.partition(":")
        parts = path.split("/")
        if not (colon and name and path.startswith("/") and ".." not in parts
                and re.fullmatch(r"[A-Za-z0-9_.+@][A-Za-z0-9_.+@ -]*", name)):
            raise ValueError(root)
    return roots


def _resolved(path: Path, cwd: Path) -> Path:
    """``path`` made absolute against ``cwd`` with every symlink of its existing part resolved."""
    return (cwd / path.expanduser()).resolve(strict=False)


def _within(inner: Path, outer: Path) -> bool:
    return inner == outer or outer in inner.parents


def check_folders(config: Config, cwd: Path | None = None) -> None:
    """Refuse folder layouts where one part of the bot could delete or mistake another's files.

    The rule (docs/ARCHITECTURE.md §4), on paths resolved through symlinks:

    * ``DOWNLOAD_DIR`` and ``MIRROR_DIR`` may not be equal, nor either inside the other: task
      folders are created and removed in ``DOWNLOAD_DIR``, results live in ``MIRROR_DIR``.
    * the database's folder may not be ``DOWNLOAD_DIR`` or ``MIRROR_DIR`` or inside either: the
      database and its ``-wal``/``-shm`` files must never sit among task folders or results.
      The usual layout, the database in the working folder that *contains* ``downloads/`` and
      ``mirror/``, is fine.
    """
    base = cwd or Path.cwd()
    download = _resolved(config.download_dir, base)
    mirror = _resolved(config.mirror_dir, base)
    database = _resolved(config.database_path, base).parent
    if _within(download, mirror) or _within(mirror, download):
        raise ConfigError(
            "DOWNLOAD_DIR", f"and MIRROR_DIR overlap ({download} and {mirror}); use two "
            "separate folders, neither inside the other"
        )
    for name, folder in (("DOWNLOAD_DIR", download), ("MIRROR_DIR", mirror)):
        if _within(database, folder):
            raise ConfigError(
                "DATABASE_PATH", f"lies inside {name} ({folder}); keep the database outside "
                "the download and mirror folders"
            )


def load_config(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Config:
    """Build and validate the :class:`Config`; raises :class:`ConfigError` on the first problem."""
    config = _build_config(env, cwd)
    check_folders(config, cwd)
    return config


def _build_config(env: Mapping[str, str] | None, cwd: Path | None) -> Config:
    raw = read_raw(env, cwd)
    for key in sorted(set(raw) - KNOWN_KEYS):
        log.warning("config.env: unknown key %s is ignored", key)
    token = _required(raw, "BOT_TOKEN")
    if not _TOKEN_RE.match(token):
        # Never echo the token itself: it is a secret even when malformed.
        raise ConfigError("BOT_TOKEN", "must look like '123456:ABC-DEF...' (digits, colon, key)")
    owner = _parse(raw, "OWNER_ID", None, _int_id, "an integer user id")
    if owner is None:
        raise ConfigError("OWNER_ID", "is required but not set")
    local = _parse(raw, "BOT_API_LOCAL", False, parse_bool, "true or false")
    limit = LOCAL_UPLOAD_LIMIT if local else CLOUD_UPLOAD_LIMIT
    split = LEECH_SPLIT_SIZE.read_or(raw, limit)
    problem = split_size_problem(split, limit)
    if problem is not None:
        raise ConfigError(LEECH_SPLIT_SIZE.name, problem)
    rclone = raw.get("RCLONE_CONFIG", "").strip()
    default_upload = raw.get("DEFAULT_UPLOAD", "").strip() or "local"
    if default_upload != "local" and not rclone:
        raise ConfigError("DEFAULT_UPLOAD", "names an rclone remote, so RCLONE_CONFIG must be set")
    _check_scale(raw)
    return Config(
        bot_token=token,
        owner_id=owner,
        authorized_chats=_parse(
            raw, "AUTHORIZED_CHATS", frozenset(), _id_set, "space-separated ids"
        ),
        sudo_users=_parse(raw, "SUDO_USERS", frozenset(), _id_set, "space-separated user ids"),
        bot_api_url=_parse(raw, "BOT_API_URL", "https://api.telegram.org", _url, "an http(s) URL"),
        bot_api_local=local,
        download_dir=Path(raw.get("DOWNLOAD_DIR", "").strip() or "downloads"),
        mirror_dir=Path(raw.get("MIRROR_DIR", "").strip() or "mirror"),
        database_path=database_path_of(raw),
        rclone_config=Path(rclone) if rclone else None,
        default_upload=default_upload,
        index_url=_parse(raw, "INDEX_URL", "", _url, "an http(s) URL"),
        rclone_allowed_roots=_parse(
            raw, "RCLONE_ALLOWED_ROOTS", (), _remote_roots,
            "comma-separated remote:/absolute/path folders, e.g. sftp:/srv/share,ftp:/pub",
        ),
        status_update_interval=STATUS_UPDATE_INTERVAL.read(raw),
        status_limit=STATUS_LIMIT.read(raw),
        leech_split_size=split,
        queue_all=QUEUE_ALL.read(raw),
        queue_download=QUEUE_DOWNLOAD.read(raw),
        queue_upload=QUEUE_UPLOAD.read(raw),
        allow_private_links=_parse(raw, "ALLOW_PRIVATE_LINKS", False, parse_bool, "true or false"),
        perf_report_interval=_parse(
            raw, "PERF_REPORT_INTERVAL", 1800.0, _positive_float, "a positive number of seconds"
        ),
        sampler_interval=_parse(
            raw, "SAMPLER_INTERVAL", 5.0, _positive_float, "a positive number of seconds"
        ),
        log_file=Path(raw.get("LOG_FILE", "").strip() or "telebot.log"),
        max_download_size=MAX_DOWNLOAD_SIZE.read(raw),
        upload_timeout=_parse(
            raw, "UPLOAD_TIMEOUT", 120.0, _positive_float, "a positive number of seconds"
        ),
        host_down_timeout=_parse(
            raw, "HOST_DOWN_TIMEOUT", 600.0, _positive_float, "a positive number of seconds"
        ),
        durable_writes=_parse(raw, "DURABLE_WRITES", False, parse_bool, "true or false"),
        media_group=_parse(raw, "MEDIA_GROUP", True, parse_bool, "true or false"),
        hosts_base_urls=_parse(raw, "HOSTS_BASE_URLS", {}, parse_base_urls,
                               "host=http(s)://address[:port], comma-separated"),
        **_torrent_settings(raw),
        **_limit_settings(raw),
        ytdl_options=_ytdl_options(raw.get("YTDL_OPTIONS", "").strip()),
        ffmpeg_presets=_ffmpeg_presets(raw.get("FFMPEG_PRESETS", "")),
        ytdl_select_timeout=_parse(
            raw, "YTDL_SELECT_TIMEOUT", 120.0, _positive_float, "a positive number of seconds"
        ),
        ytdl_cookies_file=_cookies_file(raw.get("YTDL_COOKIES_FILE", "").strip()),
        netrc_file=_netrc_file(raw.get("NETRC_FILE", "").strip()),
        extract_max_ratio=_parse(raw, "EXTRACT_MAX_RATIO", 100.0, _positive_float, "a number > 0"),
        extract_max_files=_parse(
            raw, "EXTRACT_MAX_FILES", 100_000, _positive_int, "a whole number of entries"
        ),
        extract_ratio_floor=_parse(
            raw, "EXTRACT_RATIO_FLOOR", 1 << 30, parse_size_or_zero, "a size like 1GiB, or 0"
        ),
        sandbox=_parse(raw, "SANDBOX", True, parse_bool, "true or false"),
        sandbox_memory=_parse(
            raw, "SANDBOX_MEMORY", 1 << 30, _memory_size, "a size of at least 64mb, like 1gb"
        ),
        celery_broker_url=_parse(
            raw, "CELERY_BROKER_URL", "", _redis_url, "a redis:// URL (empty: one process)"
        ),
        celery_visibility_timeout=_parse(
            raw, "CELERY_VISIBILITY_TIMEOUT", 43200.0, _positive_float, "a number of seconds"
        ),
        worker_queues=_parse(
            raw, "WORKER_QUEUES", (), parse_queues, "queue names from default, torrent, leech-local"
        ),
        worker_lock_ttl=_parse(
            raw, "WORKER_LOCK_TTL", 30.0, _positive_float, "a positive number of seconds"
        ),
        bulk_limit=_parse(raw, "BULK_LIMIT", 100, _positive_int, "a whole number"),
        metrics_port=_parse(raw, "METRICS_PORT", 0, _port, "a port from 1 to 65535 (0 = off)"),
        metrics_bind=_parse(
            raw, "METRICS_BIND", "127.0.0.1", _ip_address, "an IP address like 127.0.0.1 or ::"
        ),
        metrics_user_labels=_parse(raw, "METRICS_USER_LABELS", False, parse_bool,
                                   "true or false"),
        rss_interval=_parse(
            raw, "RSS_INTERVAL", 900.0, _rss_interval,
            f"a number of seconds from {MIN_RSS_INTERVAL:g} (feeds are not polled faster) "
            f"to {MAX_RSS_INTERVAL:g}",
        ),
        **_torznab_settings(raw),
    )


class _TorznabFields(TypedDict):
    torznab_urls: tuple[str, ...]
    torznab_api_keys: tuple[str, ...]


def _torznab_settings(raw: Mapping[str, str]) -> _TorznabFields:
    """TORZNAB_URL (one or more endpoints, separated by commas or spaces) and TORZNAB_API_KEY
    (one key for all of them, or one per URL in the same order): docs/FEEDS.md."""
    urls = tuple(raw.get("TORZNAB_URL", "").replace(",", " ").split())
    keys = tuple(raw.get("TORZNAB_API_KEY", "").replace(",", " ").split())
    for url in urls:
        if not re.match(r"^https?://[^\s/?#@]+(?:[/?#]\S*)?$", url):  # no user:pass@
            # Not echoed: a pasted URL may carry its ?apikey=.
            raise ConfigError("TORZNAB_URL", "must be http(s) URLs of Torznab endpoints, "
                              "separated by commas, like http://127.0.0.1:9117/api/v2.0/"
                              "indexers/all/results/torznab/api")
    if keys and not urls:
        raise ConfigError("TORZNAB_API_KEY", "is set but TORZNAB_URL is not: set both, or neither")
    if urls and not keys:
        raise ConfigError("TORZNAB_API_KEY", "is required with TORZNAB_URL (the API key of "
                          "Jackett or Prowlarr)")
    if len(keys) == 1:
        keys = keys * len(urls)
    elif len(keys) != len(urls):
        raise ConfigError("TORZNAB_API_KEY", f"holds {len(keys)} keys for {len(urls)} URLs in "
                          "TORZNAB_URL: give one key for all, or one per URL in the same order")
    return {"torznab_urls": urls, "torznab_api_keys": keys}


#: The shortest RSS_INTERVAL: feed hosts (trackers above all) ban readers that poll faster.
#: Tests do not lower it: /rss check asks for a check at once.
MIN_RSS_INTERVAL = 60.0
MAX_RSS_INTERVAL = 7 * 86400.0  # a week: longer reads as a feed that is never checked


def _rss_interval(value: str) -> float:
    number = float(value)
    if not MIN_RSS_INTERVAL <= number <= MAX_RSS_INTERVAL:
        raise ValueError(value)
    return number


def _check_scale(raw: Mapping[str, str]) -> None:
    """A duplicate that finds the task locked retries after WORKER_LOCK_TTL seconds; a retry due
    later than the visibility timeout is itself redelivered early (celery/kombu#337)."""
    seconds = "a positive number of seconds"
    ttl = _parse(raw, "WORKER_LOCK_TTL", 30.0, _positive_float, seconds)
    if ttl >= _parse(raw, "CELERY_VISIBILITY_TIMEOUT", 43200.0, _positive_float, seconds):
        raise ConfigError("WORKER_LOCK_TTL", "must be shorter than CELERY_VISIBILITY_TIMEOUT")


def _url_password(url: str) -> tuple[str, ...]:
    """The password of a ``redis://:pw@host`` URL, if any, so logs never show it."""
    from urllib.parse import urlsplit

    password = urlsplit(url).password if url else None
    return (password,) if password else ()


def _redis_url(value: str) -> str:
    if not re.match(r"^rediss?://[^\s]+$", value):
        raise ValueError(value)
    return value


# The capability queues of telebot/scale/protocol.py (kept here so config imports no Celery).
WORKER_QUEUE_NAMES = ("default", "torrent", "leech-local")


def parse_queues(value: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(part.strip() for part in value.split(",") if part.strip()))
    if not names or any(name not in WORKER_QUEUE_NAMES for name in names):
        raise ValueError(value)
    return names


def _ffmpeg_presets(text: str) -> dict[str, Preset]:
    """FFMPEG_PRESETS: every preset checked (telebot/ffpresets.py); the first refused one stops
    start-up, named with its reason."""
    from telebot.errors import BadInputError
    from telebot.ffpresets import parse_presets

    try:
        return parse_presets(text)
    except BadInputError as exc:
        raise ConfigError("FFMPEG_PRESETS", f"is refused: {exc}") from None


def _ytdl_options(text: str) -> dict[str, Any]:
    """YTDL_OPTIONS: JSON checked against the same allow-list as -opt."""
    from telebot.errors import BadInputError
    from telebot.ytdl_options import parse_options

    if not text:
        return {}
    try:
        return parse_options(text, origin="YTDL_OPTIONS")
    except BadInputError as exc:
        raise ConfigError("YTDL_OPTIONS", f"is not usable: {exc}") from None


def _cookies_file(text: str) -> Path | None:
    """YTDL_COOKIES_FILE: a readable Netscape cookies.txt. Checked once here so a typo stops
    start-up; each run copies it afresh (the owner may refresh it without a restart). The
    problem names a line number, never a line: a cookie is a password."""
    from telebot.cookiefile import read_cookies_file
    from telebot.errors import BadInputError

    if not text:
        return None
    path = Path(text)
    try:
        read_cookies_file(path)
    except OSError as exc:
        raise ConfigError("YTDL_COOKIES_FILE", f"cannot be read ({exc.strerror})") from None
    except BadInputError as exc:
        raise ConfigError("YTDL_COOKIES_FILE", f"is not usable: {exc}") from None
    return path


def _netrc_file(text: str) -> Path | None:
    """NETRC_FILE: a .netrc the stdlib parses (ConfigError with the line number otherwise)."""
    from telebot.netrcfile import load_netrc

    if not text:
        return None
    path = Path(text)
    load_netrc(path, warn=True)
    return path


def _port(value: str) -> int:
    number = int(value, 10)
    if not 0 <= number <= 65535:
        raise ValueError(value)
    return number


def _ip_address(value: str) -> str:
    import ipaddress

    return str(ipaddress.ip_address(value.strip().strip("[]")))


def _rate(value: str) -> int:
    return 0 if value.strip() == "0" else parse_size(value)


def _listen(value: str) -> str:
    # Addresses only (the port is TORRENT_PORT): "0.0.0.0", "[::]", "192.0.2.7", "eth0".
    parts = [part.strip() for part in value.split(",")]
    if not all(re.fullmatch(r"[\w.:\[\]-]{1,64}", part) for part in parts):
        raise ValueError(value)
    return ",".join(parts)


class _TorrentFields(TypedDict):
    torrent_port: int
    torrent_listen: str
    torrent_dht: bool
    torrent_max_connections: int
    torrent_download_limit: int
    torrent_upload_limit: int
    torrent_timeout: float
    torrent_select_timeout: float


def _torrent_settings(raw: Mapping[str, str]) -> _TorrentFields:
    """The TORRENT_* settings (README "Torrents"), as Config keyword arguments."""
    seconds = "a positive number of seconds"
    return {
        "torrent_port": _parse(raw, "TORRENT_PORT", 16881, _port, "a port from 0 to 65535"),
        "torrent_listen": _parse(
            raw, "TORRENT_LISTEN", "0.0.0.0,[::]", _listen, "addresses like 0.0.0.0,[::]"
        ),
        "torrent_dht": _parse(raw, "TORRENT_DHT", True, parse_bool, "true or false"),
        "torrent_max_connections": _parse(
            raw, "TORRENT_MAX_CONNECTIONS", 200, _positive_int, "a whole number"
        ),
        "torrent_download_limit": _parse(
            raw, "TORRENT_DOWNLOAD_LIMIT", 0, _rate, "bytes per second like 5mb (0 = no cap)"
        ),
        "torrent_upload_limit": _parse(
            raw, "TORRENT_UPLOAD_LIMIT", 0, _rate, "bytes per second like 1mb (0 = no cap)"
        ),
        "torrent_timeout": _parse(raw, "TORRENT_TIMEOUT", 600.0, _positive_float, seconds),
        "torrent_select_timeout": _parse(
            raw, "TORRENT_SELECT_TIMEOUT", 300.0, _positive_float, seconds
        ),
    }


def _memory_size(value: str) -> int:
    size = parse_size(value)
    if size < 64 << 20:  # below this ffmpeg and 7-Zip cannot even start
        raise ValueError(value)
    return size


def parse_size_or_zero(value: str) -> int:
    """A size, or ``0`` (the setting is off)."""
    return 0 if value.strip() == "0" else parse_size(value)


class _LimitFields(TypedDict):
    storage_threshold: int
    user_tasks_limit: int
    direct_limit: int | None
    torrent_limit: int | None
    ytdl_limit: int | None
    leech_limit: int | None
    stop_duplicate: bool


#: The per-kind size limits: setting name → Config field. Same format as MAX_DOWNLOAD_SIZE.
SIZE_LIMITS = {
    "DIRECT_LIMIT": "direct_limit",
    "TORRENT_LIMIT": "torrent_limit",
    "YTDL_LIMIT": "ytdl_limit",
    "LEECH_LIMIT": "leech_limit",
}


def _limit_settings(raw: Mapping[str, str]) -> _LimitFields:
    """The limits that protect the host (README "Limits"), as Config keyword arguments."""
    return {
        "storage_threshold": STORAGE_THRESHOLD.read(raw),
        "user_tasks_limit": USER_TASKS_LIMIT.read(raw),
        "direct_limit": DIRECT_LIMIT.read(raw),
        "torrent_limit": TORRENT_LIMIT.read(raw),
        "ytdl_limit": YTDL_LIMIT.read(raw),
        "leech_limit": LEECH_LIMIT.read(raw),
        "stop_duplicate": STOP_DUPLICATE.read(raw),
    }


# -- Settings /bsetting may change at run time ------------------------------------------------
#
# Each is declared once here: config.env loading (_build_config) and /bsetting
# (telebot/settings/overrides.py) read it with the same parser, so a value means the same
# on both paths and is refused by both alike.

#: Typed instead of a size to drop an optional limit (config.env and /bsetting alike; an empty
#: value in config.env means the same).
NO_LIMIT = frozenset({"none", "off", "no", "-"})

#: The longest STATUS_UPDATE_INTERVAL: a larger one would leave a status message unchanged
#: for more than a day, which reads as a hung bot.
MAX_STATUS_INTERVAL = 86400.0


def parse_optional_size(value: str) -> int | None:
    """A size, or None (no limit) for one of :data:`NO_LIMIT`."""
    return None if value.strip().lower() in NO_LIMIT else parse_size(value)


def _status_interval(value: str) -> float:
    number = _positive_float(value)
    if number > MAX_STATUS_INTERVAL:
        raise ValueError(value)
    return number


@dataclass(frozen=True)
class Setting(Generic[T]):
    """How one runtime-changeable setting is read, for config.env and /bsetting alike.

    ``parse`` turns the text (already stripped, never empty) into the value or raises
    ValueError; ``what`` names the expected form for the error message (its words ``true``,
    ``false`` and ``none`` become /bsetting's buttons); ``sized`` values are shown as sizes.
    The :class:`Config` field is the name in lower case.
    """

    name: str
    default: T
    parse: Callable[[str], T]
    what: str
    sized: bool = False

    @property
    def field(self) -> str:
        return self.name.lower()

    def read(self, raw: Mapping[str, str]) -> T:
        """The value in config.env / the environment: empty is the default; a bad value
        raises :class:`ConfigError` naming the setting."""
        return self.read_or(raw, self.default)

    def read_or(self, raw: Mapping[str, str], default: T) -> T:
        """As :meth:`read`, with a default that depends on other settings."""
        return _parse(raw, self.name, default, self.parse, self.what)

    def shown(self, value: T) -> str:
        """``value`` as the owner would type it."""
        if value is None:
            return "none"
        if isinstance(value, bool):
            return "true" if value else "false"
        if self.sized and isinstance(value, int):
            return format_size(value) if value else "0"
        return f"{value:g}" if isinstance(value, float) else str(value)


def split_size_problem(size: int, upload_limit: int) -> str | None:
    """Why LEECH_SPLIT_SIZE ``size`` cannot be used with a Bot API that takes parts of up to
    ``upload_limit`` bytes, or None."""
    if size <= upload_limit:
        return None
    return f"must be at most {upload_limit} bytes ({format_size(upload_limit)}) for this Bot API"


_SIZE_OR_NONE = "a size like 20gb, or none (no limit)"
_UNLIMITED = "a whole number (0 = unlimited)"
STATUS_UPDATE_INTERVAL = Setting(
    "STATUS_UPDATE_INTERVAL", 10.0, _status_interval,
    "a positive number of seconds, at most 86400",
)
STATUS_LIMIT = Setting("STATUS_LIMIT", 4, _positive_int, "a whole number of tasks per page")
QUEUE_ALL = Setting("QUEUE_ALL", 4, _positive_int, _UNLIMITED)
QUEUE_DOWNLOAD = Setting("QUEUE_DOWNLOAD", 3, _positive_int, _UNLIMITED)
QUEUE_UPLOAD = Setting("QUEUE_UPLOAD", 2, _positive_int, _UNLIMITED)
#: Its default is the Bot API's upload limit (CLOUD_ or LOCAL_UPLOAD_LIMIT), and it may not
#: exceed it (:func:`split_size_problem`).
LEECH_SPLIT_SIZE = Setting(
    "LEECH_SPLIT_SIZE", CLOUD_UPLOAD_LIMIT, parse_size, "a size like 50mb or 2000000000",
    sized=True,
)
MAX_DOWNLOAD_SIZE: Setting[int | None] = Setting(
    "MAX_DOWNLOAD_SIZE", None, parse_optional_size, _SIZE_OR_NONE, sized=True
)
STORAGE_THRESHOLD = Setting(
    "STORAGE_THRESHOLD", 2_000_000_000, parse_size_or_zero, "a size like 2gb, or 0 (off)",
    sized=True,
)
USER_TASKS_LIMIT = Setting("USER_TASKS_LIMIT", 0, _positive_int, "a whole number (0 = no limit)")
DIRECT_LIMIT: Setting[int | None] = Setting(
    "DIRECT_LIMIT", None, parse_optional_size, _SIZE_OR_NONE, sized=True
)
TORRENT_LIMIT: Setting[int | None] = Setting(
    "TORRENT_LIMIT", None, parse_optional_size, _SIZE_OR_NONE, sized=True
)
YTDL_LIMIT: Setting[int | None] = Setting(
    "YTDL_LIMIT", None, parse_optional_size, _SIZE_OR_NONE, sized=True
)
LEECH_LIMIT: Setting[int | None] = Setting(
    "LEECH_LIMIT", None, parse_optional_size, _SIZE_OR_NONE, sized=True
)
STOP_DUPLICATE = Setting("STOP_DUPLICATE", False, parse_bool, "true or false")

#: The settings /bsetting may change (none names a folder, a secret, a port or the Bot API),
#: in the order it lists them.
RUNTIME_SETTINGS: tuple[Setting[Any], ...] = (
    STATUS_UPDATE_INTERVAL, STATUS_LIMIT, QUEUE_ALL, QUEUE_DOWNLOAD, QUEUE_UPLOAD,
    LEECH_SPLIT_SIZE, MAX_DOWNLOAD_SIZE, STORAGE_THRESHOLD, USER_TASKS_LIMIT,
    DIRECT_LIMIT, TORRENT_LIMIT, YTDL_LIMIT, LEECH_LIMIT, STOP_DUPLICATE,
)
