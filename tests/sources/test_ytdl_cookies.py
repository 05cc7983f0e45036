"""Signed-in videos: the user's or the owner's cookies.txt reaches the site through the real
yt-dlp (the loopback origin records the ``Cookie`` header), from a private per-run copy in the
task folder that is gone when the run ends; a sign-in failure says how to fix it."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from telebot.cookiefile import check_cookies
from telebot.engine.task import Task, TaskSpec
from telebot.errors import DownloadError
from telebot.sources.ytdl.net import NetGuard
from telebot.sources.ytdl.settings import YtdlSettings
from telebot.sources.ytdl.source import COOKIES_FILE, SIGN_IN_HINT, YtdlSource, translate_error
from tests.fakes.media import make_media, serve_media
from tests.fakes.origin import FakeOrigin
from tests.polling import wait_until


def jar(name: str, value: str, domain: str = "127.0.0.1") -> str:
    return f"# Netscape HTTP Cookie File\n{domain}\tFALSE\t/\tFALSE\t0\t{name}\t{value}\n"


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_media(tmp_path_factory.mktemp("media"))


@pytest.fixture
def site(origin: FakeOrigin, media: Path) -> FakeOrigin:
    serve_media(origin, media)
    return origin


def task_for(url: str, workdir: Path, cookies: str | None = None) -> Task:
    workdir.mkdir(exist_ok=True)
    spec = TaskSpec(
        kind="mirror", source=url, chat_id=1, user_id=1, tool="ytdl",
        cookies=check_cookies(cookies)[0] if cookies else None,
    )  # fmt: skip
    return Task("abcdef0123", spec, workdir)


def cookie_headers(site: FakeOrigin, path: str) -> list[str | None]:
    return [r.headers.get("cookie") for r in site.requests_for(path)]


class Spy(YtdlSource):
    """Records the cookie file a run was given and its mode while it existed."""

    seen: tuple[Path, int, str] | None = None

    def base_params(self, task: Task, home: Path, cookies: Path | None = None) -> dict[str, object]:
        if cookies is not None:
            self.seen = (cookies, stat.S_IMODE(cookies.stat().st_mode), cookies.read_text())
        return super().base_params(task, home, cookies)


def test_the_users_cookies_reach_the_media_request_and_are_removed_after(
    site: FakeOrigin, tmp_path: Path
) -> None:
    owner = tmp_path / "owner.txt"
    owner.write_text(jar("sid", "owner-cookie"))
    source = Spy(YtdlSettings(allow_private=True, cookies_file=owner))
    task = task_for(site.url + "/page.html", tmp_path / "w", jar("sid", "user-cookie-1"))
    path = source.fetch(task)
    assert path.is_file()
    assert cookie_headers(site, "/clip.mp4") and set(cookie_headers(site, "/clip.mp4")) == {
        "sid=user-cookie-1"
    }
    assert source.seen is not None
    copy, mode, _ = source.seen
    assert copy == task.workdir / COOKIES_FILE and mode == 0o600
    assert not copy.exists()
    assert owner.read_text() == jar("sid", "owner-cookie")  # yt-dlp never wrote the owner's


def test_the_owners_file_is_used_when_the_user_has_none(site: FakeOrigin, tmp_path: Path) -> None:
    owner = tmp_path / "owner.txt"
    owner.write_text(jar("sid", "owner-cookie"))
    before = owner.stat().st_mtime_ns
    source = YtdlSource(YtdlSettings(allow_private=True, cookies_file=owner))
    source.fetch(task_for(site.url + "/clip.mp4", tmp_path / "w"))
    assert set(cookie_headers(site, "/clip.mp4")) == {"sid=owner-cookie"}
    assert owner.stat().st_mtime_ns == before
    assert not (tmp_path / "w" / COOKIES_FILE).exists()


def test_no_cookies_no_header_and_no_file(site: FakeOrigin, tmp_path: Path) -> None:
    YtdlSource(YtdlSettings(allow_private=True)).fetch(task_for(site.url + "/clip.mp4", tmp_path))
    assert cookie_headers(site, "/clip.mp4") and set(cookie_headers(site, "/clip.mp4")) == {None}


def test_a_failed_run_removes_the_copy_and_a_restart_rewrites_it(
    site: FakeOrigin, tmp_path: Path
) -> None:
    workdir = tmp_path / "w"
    task = task_for(site.url + "/missing.mp4", workdir, jar("sid", "v2"))
    (workdir / COOKIES_FILE).write_text("left by a crash")  # a killed run's copy
    with pytest.raises(DownloadError):
        Spy(YtdlSettings(allow_private=True)).fetch(task)
    assert not (workdir / COOKIES_FILE).exists()
    again = Spy(YtdlSettings(allow_private=True))
    again.fetch(task_for(site.url + "/clip.mp4", workdir, jar("sid", "v2")))
    assert again.seen is not None and "\tsid\tv2" in again.seen[2]
    assert "left by a crash" not in again.seen[2]


def test_a_cancelled_run_removes_the_copy(site: FakeOrigin, tmp_path: Path) -> None:
    site.fault("/clip.mp4", throttle=20_000)
    task = task_for(site.url + "/clip.mp4", tmp_path / "w", jar("sid", "x"))
    source = YtdlSource(YtdlSettings(allow_private=True))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            source.fetch(task)
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    wait_until(lambda: site.bytes_sent("/clip.mp4") > 0, timeout=30, what="the download began")
    task.cancel("test")
    thread.join(30)
    assert not thread.is_alive() and errors
    assert not (tmp_path / "w" / COOKIES_FILE).exists()


@pytest.mark.parametrize(
    ("message", "signed_in", "expected"),
    [
        ("ERROR: [youtube] abc: Sign in to confirm you\u2019re not a bot. Use --cookies-from"
         "-browser or --cookies for the authentication.", False, SIGN_IN_HINT),
        ("ERROR: [youtube] abc: Sign in to confirm your age.", True, "export fresh ones"),
        ("ERROR: [youtube] abc: Join this channel to get access to members-only content",
         False, SIGN_IN_HINT),
    ],
)  # fmt: skip
def test_sign_in_errors_say_how_to_fix_them(
    message: str, signed_in: bool, expected: str, tmp_path: Path
) -> None:
    task = task_for("https://www.youtube.com/watch?v=abc", tmp_path)
    error = translate_error(Exception(message), NetGuard(allow_private=False), task,
                            signed_in=signed_in)  # fmt: skip
    assert isinstance(error, DownloadError)
    assert expected in str(error) and str(error).startswith("YouTube")


def test_with_cookies_no_outside_downloader_runs(tmp_path: Path) -> None:
    """rtmpdump, ffmpeg and the like would take the cookies on their command line: refused,
    even where private links are allowed (without cookies, that guard lets them run)."""
    from telebot.errors import SecurityError
    from telebot.sources.ytdl.net import COOKIES_OUTSIDE, make_youtubedl

    jar_path = tmp_path / "c.txt"
    jar_path.write_text(jar("sid", "x"))
    guard = NetGuard(allow_private=True)
    ydl = make_youtubedl({"cookiefile": str(jar_path), "quiet": True}, guard)
    info = {"url": "rtmp://127.0.0.1/live/x", "protocol": "rtmp", "ext": "flv", "id": "x"}
    with pytest.raises(SecurityError, match="command line"):
        ydl.dl(str(tmp_path / "out.flv"), info)
    assert guard.refused == [COOKIES_OUTSIDE]
