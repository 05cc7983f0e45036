"""-d: seeding after delivery, against real libtorrent peers on loopback."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from telebot.engine.task import State, Task
from telebot.sources.torrent.seeding import SEEDING_DIR, Seeding
from tests.fakes.swarm import Seeder, magnet, make_files, make_torrent, wait_until
from tests.sources.torrent.conftest import Leecher, SteppingClock

PACK = {"pack/a.bin": 600_000, "pack/b.bin": 200_000}


class Ended:
    def __init__(self) -> None:
        self.event = threading.Event()
        self.reasons: list[str] = []

    def __call__(self, task: Task, reason: str) -> None:
        self.reasons.append(reason)
        self.event.set()


@pytest.fixture
def seeding_leecher(
    leecher: Leecher, tmp_path: Path
) -> Iterator[Callable[..., tuple[Seeding, Ended]]]:
    made: list[Seeding] = []

    def make(clock: Callable[[], float] | None = None) -> tuple[Seeding, Ended]:
        ended = Ended()
        kwargs = {"clock": clock} if clock is not None else {}
        seeding = Seeding(leecher.session, tmp_path / "dl", notify=ended, poll=0.05, **kwargs)  # type: ignore[arg-type]
        leecher.source._seeding = seeding
        made.append(seeding)
        return seeding, ended

    yield make
    for seeding in made:
        seeding.shutdown()


def fetch_and_deliver(leecher: Leecher, uri: str, tmp_path: Path, **spec: object) -> Task:
    task = leecher.task(uri, **spec)
    path = leecher.source.fetch(task)
    shutil.copytree(path, tmp_path / "mirror" / path.name)  # the sink copies for -d
    leecher.source.after_delivery(task)
    task.state = State.DONE
    shutil.rmtree(leecher.workdir)  # what the manager does next
    return task


def test_seeds_until_the_ratio_then_frees_the_data(
    tmp_path: Path, leecher: Leecher, seeding_leecher: Callable[..., tuple[Seeding, Ended]]
) -> None:
    seeding, ended = seeding_leecher()
    root = make_files(tmp_path / "seed", PACK)
    torrent = make_torrent(root / "pack")
    with Seeder() as origin:
        origin.seed(torrent, root)
        task = fetch_and_deliver(leecher, magnet(torrent, origin.port), tmp_path, seed_ratio=1.0)
    folder = tmp_path / "dl" / SEEDING_DIR / task.gid
    assert (folder / "pack" / "a.bin").read_bytes() == (root / "pack" / "a.bin").read_bytes()
    [shot] = seeding.snapshots(1)
    assert shot.state is State.SEEDING and shot.detail and shot.detail.startswith("ratio 0.00 of 1")
    # The first seeder is gone: a new peer can only get the data from the seeding task.
    with Seeder() as peer:
        handle = peer.leech(magnet(torrent, leecher.session.listen_port), tmp_path / "peer")
        assert ended.event.wait(30), "seeding did not stop at ratio 1"
        wait_until(lambda: handle.status().is_seeding, what="the peer to finish")
    assert "ratio" in ended.reasons[0]
    assert not folder.exists() and seeding.snapshots() == []
    assert leecher.session._watches == []


def test_seeding_time_limit(
    tmp_path: Path,
    seeder: Seeder,
    leecher: Leecher,
    seeding_leecher: Callable[..., tuple[Seeding, Ended]],
) -> None:
    _seeding, ended = seeding_leecher(clock=SteppingClock(step=20.0))
    root = make_files(tmp_path / "seed", PACK)
    torrent = make_torrent(root / "pack")
    seeder.seed(torrent, root)
    task = fetch_and_deliver(leecher, magnet(torrent, seeder.port), tmp_path, seed_minutes=1.0)
    assert ended.event.wait(30)
    assert ended.reasons[0].startswith("seeded for")
    assert not (tmp_path / "dl" / SEEDING_DIR / task.gid).exists()


def test_cancel_stops_seeding_and_frees_the_data(
    tmp_path: Path,
    seeder: Seeder,
    leecher: Leecher,
    seeding_leecher: Callable[..., tuple[Seeding, Ended]],
) -> None:
    seeding, _ended = seeding_leecher()
    root = make_files(tmp_path / "seed", PACK)
    torrent = make_torrent(root / "pack")
    seeder.seed(torrent, root)
    task = fetch_and_deliver(leecher, magnet(torrent, seeder.port), tmp_path, seed_ratio=50.0)
    assert seeding.get(task.gid) is task
    assert seeding.cancel(task.gid)
    assert not (tmp_path / "dl" / SEEDING_DIR / task.gid).exists()
    assert seeding.get(task.gid) is None and leecher.session._watches == []
    assert (tmp_path / "mirror" / "pack" / "a.bin").exists()  # the delivered copy stays


def test_a_failed_delivery_does_not_leave_a_torrent_behind(
    tmp_path: Path,
    seeder: Seeder,
    leecher: Leecher,
    seeding_leecher: Callable[..., tuple[Seeding, Ended]],
) -> None:
    _seeding, _ = seeding_leecher()
    root = make_files(tmp_path / "seed", PACK)
    torrent = make_torrent(root / "pack")
    seeder.seed(torrent, root)
    task = leecher.task(magnet(torrent, seeder.port), seed_ratio=1.0)
    leecher.source.fetch(task)
    assert len(leecher.session._watches) == 1  # kept for seeding
    task.state = State.FAILED  # the sink failed; after_delivery never comes
    wait_until(lambda: leecher.session._watches == [], what="the kept torrent to go")


def test_without_d_the_torrent_leaves_the_session(
    tmp_path: Path, seeder: Seeder, leecher: Leecher
) -> None:
    root = make_files(tmp_path / "seed", PACK)
    torrent = make_torrent(root / "pack")
    seeder.seed(torrent, root)
    leecher.source.fetch(
        replace(leecher, workdir=tmp_path / "t").task(magnet(torrent, seeder.port))
    )
    assert leecher.session._watches == []
