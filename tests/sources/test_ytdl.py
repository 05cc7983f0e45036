"""The yt-dlp source with the real yt-dlp and ffmpeg against the loopback origin."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from telebot.config import Config
from telebot.engine.task import Task, TaskSpec
from telebot.errors import BadInputError, DownloadError, SecurityError, TaskCancelled
from telebot.sources.ytdl.net import NetGuard, guarded_connect
from telebot.sources.ytdl.settings import YtdlSettings
from telebot.sources.ytdl.source import CHOICE_FILE, QualityOption, YtdlSource
from telebot.ytdl_options import parse_options, to_params
from tests.fakes.media import make_media, serve_media
from tests.fakes.origin import FakeOrigin


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_media(tmp_path_factory.mktemp("media"))


@pytest.fixture
def site(origin: FakeOrigin, media: Path) -> FakeOrigin:
    serve_media(origin, media)
    return origin


def config(**kw: object) -> Config:
    values: dict[str, object] = {"allow_private_links": True, **kw}
    return Config(bot_token="1:a", owner_id=1, **values)  # type: ignore[arg-type]


def settings(**kw: object) -> YtdlSettings:
    return YtdlSettings.from_config(config(**kw))


def task_for(url: str, workdir: Path, **spec: object) -> Task:
    workdir.mkdir(exist_ok=True)
    return Task(
        "abcdef0123",
        TaskSpec(kind="mirror", source=url, chat_id=1, user_id=1, tool="ytdl", **spec),  # type: ignore[arg-type]
        workdir,
    )


def probe(path: Path) -> dict[str, object]:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return json.loads(out)


class Chooser:
    """Stands in for the Telegram menu: records the options, answers with one key."""

    def __init__(self, answer: str | None) -> None:
        self.answer = answer
        self.options: list[QualityOption] = []

    def choose(
        self, task: Task, title: str, options: Sequence[QualityOption], timeout: float
    ) -> str | None:
        self.options = list(options)
        return self.answer


def test_direct_mp4(site: FakeOrigin, media: Path, tmp_path: Path) -> None:
    task = task_for(site.url + "/clip.mp4", tmp_path / "w")
    path = YtdlSource(settings()).fetch(task)
    assert path.parent == tmp_path / "w" / "media"
    assert path.read_bytes() == (media / "clip.mp4").read_bytes()
    assert task.engine == "yt-dlp" and task.name == path.name


def test_html_page_with_video_tag(site: FakeOrigin, tmp_path: Path) -> None:
    path = YtdlSource(settings()).fetch(task_for(site.url + "/page.html", tmp_path / "w"))
    kinds = {s["codec_type"] for s in probe(path)["streams"]}  # type: ignore[index, union-attr]
    assert kinds == {"video", "audio"}


def test_menu_lists_both_heights_and_the_choice_is_downloaded(
    site: FakeOrigin, tmp_path: Path
) -> None:
    chooser = Chooser("h:120")
    task = task_for(site.url + "/master.m3u8", tmp_path / "w")
    path = YtdlSource(settings(), lambda: chooser).fetch(task)
    keys = [o.key for o in chooser.options]
    assert keys[:3] == ["best", "h:240", "h:120"] and "audio:mp3" in keys and "merged" in keys
    streams = probe(path)["streams"]
    video = [s for s in streams if s["codec_type"] == "video"]  # type: ignore[union-attr]
    assert video[0]["height"] == 120
    assert any(s["codec_type"] == "audio" for s in streams)  # type: ignore[union-attr]
    assert (task.workdir / CHOICE_FILE).read_text() == "h:120"  # a restart keeps the choice


def test_q_skips_the_menu(site: FakeOrigin, tmp_path: Path) -> None:
    chooser = Chooser("h:120")
    task = task_for(site.url + "/master.m3u8", tmp_path / "w", ytdl_format="bv*[height=240]+ba")
    path = YtdlSource(settings(), lambda: chooser).fetch(task)
    assert chooser.options == []
    video = [s for s in probe(path)["streams"] if s["codec_type"] == "video"]  # type: ignore[union-attr]
    assert video[0]["height"] == 240


def test_audio_only_mp3(site: FakeOrigin, tmp_path: Path) -> None:
    path = YtdlSource(settings(), lambda: Chooser("audio:mp3")).fetch(
        task_for(site.url + "/master.m3u8", tmp_path / "w")
    )
    assert path.suffix == ".mp3"
    assert [s["codec_name"] for s in probe(path)["streams"]] == ["mp3"]  # type: ignore[index, union-attr]


def test_playlist_one_folder_and_the_broken_entry_is_reported(
    site: FakeOrigin, tmp_path: Path
) -> None:
    task = task_for(site.url + "/list.html", tmp_path / "w", name="My list")
    folder = YtdlSource(settings()).fetch(task)
    assert folder == tmp_path / "w" / "media" / "My list"
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 2 and names[0].startswith("001 ") and names[1].startswith("002 ")
    assert task.warnings and "entry 3" in task.warnings[0]
    assert task.detail is not None and task.detail.startswith("2/3 ")  # the status shows "2/3"


def test_error_is_translated_with_a_short_reason(site: FakeOrigin, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match=r"^HTTP 404"):
        YtdlSource(settings()).fetch(task_for(site.url + "/gone.mp4", tmp_path / "w"))
    site.add("/empty.html", data=b"<html><body>no video</body></html>", content_type="text/html")
    with pytest.raises(BadInputError, match="unsupported URL"):
        YtdlSource(settings()).fetch(task_for(site.url + "/empty.html", tmp_path / "x"))


def _throttled(site: FakeOrigin, size: int = 4_000_000) -> str:
    site.add("/big.mp4", size=size, seed=7, content_type="video/mp4")
    site.fault("/big.mp4", throttle=400_000)
    return site.url + "/big.mp4"


def _run(source: YtdlSource, task: Task) -> tuple[threading.Thread, list[object]]:
    out: list[object] = []

    def work() -> None:
        try:
            out.append(source.fetch(task))
        except Exception as exc:
            out.append(exc)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread, out


def _wait(cond: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        threading.Event().wait(0.02)


def test_cancel_stops_within_a_second_and_restart_resumes_the_part(
    site: FakeOrigin, tmp_path: Path
) -> None:
    url = _throttled(site)
    task = task_for(url, tmp_path / "w")
    thread, out = _run(YtdlSource(settings()), task)
    _wait(lambda: task.done > 500_000)
    started = time.monotonic()
    task.cancel("test")
    thread.join(10)
    assert not thread.is_alive() and time.monotonic() - started < 1.5
    assert isinstance(out[0], TaskCancelled)
    parts = list((task.workdir / "media").glob("*.part"))
    assert parts and parts[0].stat().st_size > 0
    site.clear_fault("/big.mp4")
    again = task_for(url, tmp_path / "w")
    path = YtdlSource(settings()).fetch(again)
    ranges = [r.range for r in site.requests_for("/big.mp4", "GET")]
    assert ranges[-1] is not None and ranges[-1].startswith("bytes=") and ranges[-1] != "bytes=0-"
    assert path.read_bytes() == site.add("/big.mp4", size=4_000_000, seed=7).bytes()


def test_default_config_never_connects_to_a_private_origin(
    site: FakeOrigin, tmp_path: Path
) -> None:
    with pytest.raises(SecurityError, match="private or local address"):
        YtdlSource(settings(allow_private_links=False)).fetch(
            task_for(site.url + "/master.m3u8", tmp_path / "w")
        )
    assert site.requests == [] and site.connections == 0


def test_guarded_connect_refuses_before_connecting() -> None:
    guard = NetGuard(allow_private=False)
    with pytest.raises(SecurityError):
        guarded_connect(guard, "localhost", 9, 1.0)
    assert guard.refused


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ('{"exec": "rm -rf /"}', "exec"),
        ('{"outtmpl": "/etc/x"}', "outtmpl"),
        ('{"paths": {"home": "/"}}', "paths"),
        ('{"cookiefile": "/root/c"}', "cookiefile"),
        ('{"postprocessors": [{"key": "Exec"}]}', "postprocessors"),
        ('{"external_downloader": "aria2c"}', "external_downloader"),
        ('{"load_info_filename": "/x"}', "load_info_filename"),
        ('{"download_archive": "/x"}', "download_archive"),
        ('{"config_locations": ["/x"]}', "config_locations"),
        ('{"something_new": 1}', "something_new"),
        ('{"format": 5}', "format"),
    ],
)
def test_opt_refusals_name_the_option(text: str, named: str) -> None:
    with pytest.raises(BadInputError, match=named):
        parse_options(text)


def test_opt_json_only_and_embed_keys_become_our_postprocessors() -> None:
    with pytest.raises(BadInputError, match="JSON"):
        parse_options("{'format': 'best'}")
    params = to_params(parse_options('{"format": "best", "embed_subs": true}'))
    assert params == {"format": "best", "postprocessors": [{"key": "FFmpegEmbedSubtitle"}]}


@pytest.mark.parametrize("path", ["/clip.mp4", "/master.m3u8"])
def test_max_download_size_holds_for_videos(site: FakeOrigin, tmp_path: Path, path: str) -> None:
    source = YtdlSource(settings(max_download_size=20_000))
    with pytest.raises(DownloadError, match="larger than the size limit"):
        source.fetch(task_for(site.url + path, tmp_path / "w", ytdl_format="b/bv*+ba"))


def test_cancel_during_a_playlist_is_not_swallowed_by_ignoreerrors(
    site: FakeOrigin, tmp_path: Path
) -> None:
    site.fault("/b.mp4", throttle=2_000)  # the second entry crawls
    task = task_for(site.url + "/list.html", tmp_path / "w", ytdl_format="b")
    thread, out = _run(YtdlSource(settings()), task)
    _wait(lambda: (task.detail or "").startswith("2/3"))
    task.cancel("test")
    thread.join(10)
    assert not thread.is_alive() and isinstance(out[0], TaskCancelled)


def test_error_text_never_shows_a_query_string(tmp_path: Path) -> None:
    from yt_dlp.utils import DownloadError as YtdlpDownloadError

    from telebot.sources.ytdl.source import translate_error

    exc = YtdlpDownloadError(
        "ERROR: [generic] x: Unable to read https://cdn.example/v.mp4?token=SECRET now"
    )
    error = translate_error(
        exc, NetGuard(allow_private=True), task_for("https://x", tmp_path / "w")
    )
    assert "SECRET" not in str(error) and "cdn.example/v.mp4" in str(error)
