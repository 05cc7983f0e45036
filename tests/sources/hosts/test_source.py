"""The hosts source with a real downloader on loopback: a folder share's paths stay inside the
task's folder, progress counts the whole folder, files finished earlier are kept, and a direct
link that answers with a web page is a changed site."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from telebot.engine.limits import Limits, LimitValues, Refused
from telebot.engine.task import State, Task, TaskSpec
from telebot.errors import BadInputError, SecurityError
from telebot.monitor.counters import COUNTERS
from telebot.resilience import BreakerRegistry, ErrorTracker
from telebot.sources.hosts.base import DirectLink, HostChanged, PageClient, Resolved
from telebot.sources.hosts.client import no_rebase
from telebot.sources.hosts.source import HostLinkSource, host_link_factory, inside
from telebot.sources.http.downloader import HttpSource
from telebot.sources.http.settings import HttpSettings
from telebot.sources.http.source import direct_link_factory
from tests.fakes.origin import FakeOrigin


class Share:
    """A host whose share is the links it was given (no pages to read)."""

    name = "Share"
    domains = ("share.example",)
    service_domains = ("cdn.share.example",)

    def __init__(self, links: tuple[DirectLink, ...], folder: str | None) -> None:
        self.links, self.folder = links, folder
        self.resolves = 0

    def resolve(self, link: str, client: PageClient, password: str | None) -> Resolved:
        self.resolves += 1
        return Resolved(self.name, self.links, folder_name=self.folder)


class Watched(Task):
    """A task that remembers every progress report."""

    def progress(self, done: int, total: int | None) -> None:
        self.seen.append((done, total))
        super().progress(done, total)


def run(host: Share, tmp_path: Path) -> tuple[Task, Path, list[tuple[int, int | None]]]:
    task = Watched("abcdef0123", TaskSpec(kind="mirror", source="https://share.example/s/1",
                                          chat_id=1, user_id=1), tmp_path / "task")
    seen: list[tuple[int, int | None]] = []
    task.seen = seen
    task.begin(State.DOWNLOADING, host.name)
    http = HttpSource(breakers=BreakerRegistry(), errors=ErrorTracker(), sleep=lambda s: None)
    source = HostLinkSource(host, HttpSettings(allow_private=True), http, no_rebase)
    return task, source.fetch(task), seen


def test_a_folder_stays_inside_and_counts_as_one(origin: FakeOrigin, tmp_path: Path) -> None:
    one = origin.add("/a", size=3000, seed=1)
    two = origin.add("/b", size=5000, seed=2)
    host = Share((DirectLink(f"{origin.url}/a", name="../../escape.bin", size=3000),
                  DirectLink(f"{origin.url}/b", name="b.bin", size=5000, folder="../x/./sub")),
                 folder="../My Share")
    task, path, seen = run(host, tmp_path)
    workdir = tmp_path / "task"
    assert path.parent == workdir and path.name == "My Share"
    files = sorted(p.relative_to(path).as_posix() for p in path.rglob("*") if p.is_file())
    assert files == ["escape.bin", "x/sub/b.bin"]
    assert (path / "escape.bin").read_bytes() == one.bytes()
    assert (path / "x/sub/b.bin").read_bytes() == two.bytes()
    assert seen[-1] == (8000, 8000) and all(total == 8000 for _, total in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert task.name == "My Share"


def test_files_finished_before_a_restart_are_kept(origin: FakeOrigin, tmp_path: Path) -> None:
    origin.add("/a", size=3000, seed=1)
    origin.add("/b", size=5000, seed=2)
    host = Share((DirectLink(f"{origin.url}/a", name="a.bin", size=3000),
                  DirectLink(f"{origin.url}/b", name="b.bin", size=5000)), folder="F")
    run(host, tmp_path)
    (tmp_path / "task" / "F" / "b.bin").unlink()  # as if the restart came during b.bin
    before = len(origin.requests_for("/a"))
    run(host, tmp_path)
    assert len(origin.requests_for("/a")) == before  # a.bin was not fetched again
    assert (tmp_path / "task" / "F" / "b.bin").stat().st_size == 5000


def test_a_direct_link_answering_a_web_page_is_a_changed_site(
        origin: FakeOrigin, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    origin.add("/captcha", data=b"<html><title>Are you human?</title></html>",
               content_type="text/html")
    host = Share((DirectLink(f"{origin.url}/captcha"),), folder=None)
    before = COUNTERS.host_failures().get("Share", 0)
    with caplog.at_level(logging.WARNING), \
            pytest.raises(HostChanged, match="the file behind the download link"):
        run(host, tmp_path)
    assert not any((tmp_path / "task").rglob("*.part"))
    assert "host resolver Share failed at step 'the file behind the download link'" \
        in caplog.text
    assert COUNTERS.host_failures()["Share"] == before + 1


def test_two_files_of_one_name_both_arrive(origin: FakeOrigin, tmp_path: Path) -> None:
    one = origin.add("/a", size=1000, seed=1)
    two = origin.add("/b", size=2000, seed=2)
    host = Share((DirectLink(f"{origin.url}/a", name="x.bin", size=1000),
                  DirectLink(f"{origin.url}/b", name="x.bin", size=2000)), folder="F")
    _task, path, _seen = run(host, tmp_path)
    assert (path / "x.bin").read_bytes() == one.bytes()
    assert (path / "x (1).bin").read_bytes() == two.bytes()


def test_inside_refuses_a_path_outside_the_task(tmp_path: Path) -> None:
    assert inside(tmp_path, tmp_path / "F", "a/../b\\..\\c") == tmp_path / "F" / "a" / "b" / "c"
    with pytest.raises(SecurityError):
        inside(tmp_path / "task", tmp_path / "elsewhere", "")


def test_the_factory_takes_only_registered_domains() -> None:
    factory = host_link_factory(HttpSettings(), hosts=(Share((), None),))  # type: ignore[arg-type]
    spec = TaskSpec(kind="mirror", source="https://www.share.example/s/1", chat_id=1, user_id=1)
    assert factory(spec) is not None
    assert factory(TaskSpec(kind="mirror", source="https://other.example/s/1", chat_id=1,
                            user_id=1)) is None


def test_a_share_password_for_a_link_on_no_host_is_refused_not_dropped() -> None:
    factory = direct_link_factory(HttpSettings())
    plain = TaskSpec(kind="mirror", source="https://files.example/a.bin", chat_id=1, user_id=1)
    assert factory(plain) is not None
    with pytest.raises(BadInputError, match="-au <user> -ap <password>"):
        factory(TaskSpec(kind="mirror", source="https://files.example/a.bin", chat_id=1,
                         user_id=1, share_password="pw"))


def test_host_files_are_direct_links_for_the_limits() -> None:
    source = host_link_factory(HttpSettings(), hosts=(Share((), None),))(  # type: ignore[arg-type]
        TaskSpec(kind="mirror", source="https://share.example/s/1", chat_id=1, user_id=1))
    assert source is not None
    spec = TaskSpec(kind="mirror", source="https://share.example/s/1", chat_id=1, user_id=1)
    with pytest.raises(Refused, match="DIRECT_LIMIT"):
        Limits(LimitValues(direct=1000)).check_size(spec, source.engine, 5000, "f.bin")
