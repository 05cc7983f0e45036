"""TorrentSource against real libtorrent swarms on loopback (nothing mocked)."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import libtorrent as lt
import pytest

from telebot.errors import DownloadError, SecurityError, TaskCancelled
from telebot.sources.torrent.safety import check_layout
from tests.fakes.origin import FakeOrigin
from tests.fakes.swarm import (
    Seeder,
    content,
    magnet,
    make_files,
    make_torrent,
    make_v1_torrent,
    wait_until,
)
from tests.sources.torrent.conftest import LEECHER, Leecher, SteppingClock, fetch_in_thread

PACK = {"pack/a.bin": 700_000, "pack/sub/b.bin": 300_001, "pack/c.txt": 5}


def same_tree(got: Path, want: Path) -> None:
    files = sorted(p.relative_to(want) for p in want.rglob("*") if p.is_file())
    assert sorted(p.relative_to(got) for p in got.rglob("*") if p.is_file()) == files
    for rel in files:
        assert (got / rel).read_bytes() == (want / rel).read_bytes(), rel


def seeded_pack(tmp_path: Path, seeder: Seeder, **kw: object) -> tuple[bytes, Path]:
    root = make_files(tmp_path / "seed", PACK)
    torrent = make_torrent(root / "pack", **kw)  # type: ignore[arg-type]
    seeder.seed(torrent, root)
    return torrent, root / "pack"


def test_magnet_with_peer_hint_completes(tmp_path: Path, seeder: Seeder, leecher: Leecher) -> None:
    torrent, original = seeded_pack(tmp_path, seeder)
    task = leecher.task(magnet(torrent, seeder.port))
    path = leecher.source.fetch(task)
    assert path == leecher.workdir / "data" / "pack"
    same_tree(path, original)
    assert task.name == "pack"
    assert task.done == task.total == sum(PACK.values())


def test_torrent_file_over_http_completes(tmp_path: Path, seeder: Seeder, leecher: Leecher) -> None:
    single = tmp_path / "seed" / "movie.mkv"
    single.parent.mkdir()
    single.write_bytes(content(900_000, 7))
    torrent = make_torrent(single)
    seeder.seed(torrent, single.parent)
    with FakeOrigin() as origin:
        origin.add("/files/movie.torrent", data=torrent)
        task = leecher.task(origin.url + "/files/movie.torrent")
        session = leecher.session  # the .torrent names no peers: connect the seeder by hand
        thread, out = fetch_in_thread(leecher, task)
        wait_until(lambda: session._watches != [], what="the torrent to be added")
        session._watches[0].handle.connect_peer(("127.0.0.1", seeder.port))
        thread.join(30)
    assert out and out[0] == leecher.workdir / "data" / "movie.mkv", out
    assert (leecher.workdir / "data" / "movie.mkv").read_bytes() == single.read_bytes()
    assert (leecher.workdir / ".metainfo.torrent").read_bytes() == torrent


def test_web_seed_alone_completes(tmp_path: Path, leecher: Leecher) -> None:
    with FakeOrigin() as origin:
        root = make_files(tmp_path / "seed", PACK)
        torrent = make_torrent(root / "pack", web_seeds=[origin.url + "/ws/"])
        for rel in PACK:
            origin.add(f"/ws/{rel}", data=(root / rel).read_bytes())
        origin.add("/pack.torrent", data=torrent)
        path = leecher.source.fetch(leecher.task(origin.url + "/pack.torrent"))
        assert origin.requests_for("/ws/pack/a.bin")
    same_tree(path, root / "pack")


def test_cancel_frees_the_files_within_a_second(
    tmp_path: Path, seeder: Seeder, leecher: Leecher
) -> None:
    seeder.throttle(200_000)
    torrent, _ = seeded_pack(tmp_path, seeder)
    task = leecher.task(magnet(torrent, seeder.port))
    thread, out = fetch_in_thread(leecher, task)
    wait_until(lambda: task.done > 0, what="the first bytes")
    assert any((leecher.workdir / "data").rglob("*.bin"))
    started = time.monotonic()
    task.cancel("cancelled by user")
    thread.join(5)
    elapsed = time.monotonic() - started
    assert isinstance(out[0], TaskCancelled)
    assert elapsed < 1.0, elapsed
    assert not [p for p in (leecher.workdir / "data").rglob("*") if p.is_file()]


def test_no_seeder_times_out_with_a_clear_message(make_leecher: Callable[..., Leecher]) -> None:
    clock = SteppingClock(step=1.0)  # every status poll moves time a second
    leecher = make_leecher(replace(LEECHER, timeout=5), clock=clock)
    torrent_hash = "a" * 40
    task = leecher.task(f"magnet:?xt=urn:btih:{torrent_hash}&dn=nothing")
    with pytest.raises(DownloadError, match="no metadata after 5s"):
        leecher.source.fetch(task)


def test_private_peer_refused_by_default(
    tmp_path: Path, seeder: Seeder, make_leecher: Callable[..., Leecher]
) -> None:
    torrent, _ = seeded_pack(tmp_path, seeder)
    strict = replace(LEECHER, allow_private=False, timeout=3)
    leecher = make_leecher(strict, clock=SteppingClock(step=0.2))
    with pytest.raises(DownloadError, match="private or local addresses were refused"):
        leecher.source.fetch(leecher.task(magnet(torrent, seeder.port)))
    assert seeder.session.get_torrents()[0].status().total_payload_upload == 0


def test_size_limit_stops_before_data_flows(
    tmp_path: Path, seeder: Seeder, make_leecher: Callable[..., Leecher]
) -> None:
    torrent, _ = seeded_pack(tmp_path, seeder)
    leecher = make_leecher(replace(LEECHER, max_size=500_000))
    with pytest.raises(DownloadError, match=r"over the 488\.3 KiB limit"):
        leecher.source.fetch(leecher.task(magnet(torrent, seeder.port)))
    assert seeder.session.get_torrents()[0].status().total_payload_upload == 0


def test_dotdot_paths_stay_inside_the_task_folder(
    tmp_path: Path, seeder: Seeder, leecher: Leecher
) -> None:
    files = [
        (["..", "..", "..", "escaped.txt"], content(20_000, 1)),
        (["sub", "ok.txt"], content(30_000, 2)),
        (["x" * 300], content(10, 3)),
    ]
    torrent = make_v1_torrent("evil", files)
    seed_root = tmp_path / "seed"
    seeder.seed(torrent, seed_root, [data for _, data in files])
    path = leecher.source.fetch(leecher.task(magnet(torrent, seeder.port)))
    written = [p for p in tmp_path.rglob("*") if p.is_file() and seed_root not in p.parents]
    assert written and all(leecher.workdir in p.parents for p in written), written
    assert all(path in p.parents for p in written if "data" in p.parts)
    assert (path / "sub" / "ok.txt").read_bytes() == files[1][1]


@pytest.mark.parametrize("bad", ["evil/../../x", "/etc/cron.d/x", "a/" + "y" * 300])
def test_layout_check_refuses_paths_that_escape(tmp_path: Path, bad: str) -> None:
    files = lt.file_storage()
    files.add_file("evil/fine.txt", 10)
    files.add_file(bad, 10)
    with pytest.raises(SecurityError, match="refused"):
        check_layout(files, tmp_path)


CHILD = "tests.sources.torrent.leech_child"


def _have_pieces(resume: Path) -> int:
    try:
        return sum(1 for bit in lt.read_resume_data(resume.read_bytes()).have_pieces if bit)
    except (FileNotFoundError, RuntimeError):
        return 0


def test_kill_then_resume_fetches_only_missing_pieces(tmp_path: Path, leecher: Leecher) -> None:
    import subprocess
    import sys

    root = make_files(tmp_path / "seed", {"big/a.bin": 3_000_000, "big/b.bin": 1_000_000})
    torrent = make_torrent(root / "big", piece_size=65536)
    info = lt.torrent_info(lt.bdecode(torrent))
    with Seeder(upload_limit=500_000) as seeder:
        handle = seeder.seed(torrent, root)
        uri = magnet(torrent, seeder.port)
        child = subprocess.Popen(
            [sys.executable, "-m", CHILD, str(leecher.workdir), uri],
            cwd=Path(__file__).parents[3],
        )
        resume = leecher.workdir / ".torrent.resume"
        try:
            wait_until(lambda: _have_pieces(resume) >= info.num_pieces() // 3, what="a third")
        finally:
            child.kill()
            child.wait()
        kept = _have_pieces(resume)
        assert kept < info.num_pieces()
        seeder.throttle(0)
        # Bytes the seeder still pushes at the dead leecher's socket are not a re-download.
        wait_until(lambda: handle.status().num_peers == 0, what="the dead peer to be dropped")
        before = handle.status().total_payload_upload
        thread, out = fetch_in_thread(leecher, leecher.task(uri))  # a new session
        wait_until(lambda: bool(leecher.session._watches), what="the torrent to be added")
        watch = leecher.session._watches[0]
        thread.join(30)
        fetched_again = handle.status().total_payload_upload - before
    assert isinstance(out[0], Path), out
    same_tree(out[0], root / "big")
    assert watch.resume_rejected is None
    assert "checking_files" not in watch.states, watch.states  # trusted, not re-hashed
    assert fetched_again <= (info.num_pieces() - kept) * info.piece_length(), (kept, fetched_again)


def test_download_cap_holds_for_loopback_peers(
    tmp_path: Path, seeder: Seeder, make_leecher: Callable[..., Leecher]
) -> None:
    """libtorrent exempts LAN/loopback peers from global caps unless told (docs/ENGINES.md,
    libtorrent)."""
    torrent, _ = seeded_pack(tmp_path, seeder)
    leecher = make_leecher(replace(LEECHER, download_limit=400_000))
    started = time.monotonic()
    leecher.source.fetch(leecher.task(magnet(torrent, seeder.port)))
    # 1 MB at 400 kB/s needs about 2.5 s (the first second's burst allowance aside);
    # uncapped it takes a fraction of a second here.
    assert time.monotonic() - started >= 1.5


def test_shutdown_keeps_the_data_and_fresh_resume_data(
    tmp_path: Path, seeder: Seeder, leecher: Leecher
) -> None:
    from telebot.engine.manager import SHUTDOWN_REASON

    seeder.throttle(200_000)
    torrent, _ = seeded_pack(tmp_path, seeder)
    task = leecher.task(magnet(torrent, seeder.port))
    thread, out = fetch_in_thread(leecher, task)
    wait_until(lambda: task.done > 0, what="the first bytes")
    task.cancel(SHUTDOWN_REASON)
    thread.join(5)
    assert isinstance(out[0], TaskCancelled)
    assert _have_pieces(leecher.workdir / ".torrent.resume") > 0
    assert any((leecher.workdir / "data").rglob("*.bin"))


class PickOne:
    """A FileChooser that takes the file whose path ends with ``suffix``."""

    def __init__(self, suffix: str) -> None:
        self.suffix = suffix
        self.offered: list[str] = []

    def choose(self, task: object, files: list, timeout: float) -> frozenset[int]:  # type: ignore[type-arg]
        self.offered = [entry.path for entry in files]
        return frozenset(e.index for e in files if e.path.endswith(self.suffix))


@pytest.mark.parametrize("v1_only", [False, True], ids=["hybrid", "v1-unaligned"])
def test_unselected_files_are_never_written(
    tmp_path: Path, seeder: Seeder, leecher: Leecher, v1_only: bool
) -> None:
    torrent, original = seeded_pack(tmp_path, seeder, v1_only=v1_only, piece_size=16384)
    chooser = PickOne("sub/b.bin")
    leecher.source._chooser = chooser
    path = leecher.source.fetch(leecher.task(magnet(torrent, seeder.port), select=True))
    assert sorted(chooser.offered) == sorted(PACK)  # no pad files offered
    assert [p.relative_to(path) for p in path.rglob("*") if p.is_file()] == [Path("sub/b.bin")]
    assert (path / "sub" / "b.bin").read_bytes() == (original / "sub" / "b.bin").read_bytes()


def test_private_web_seed_refused_by_default(
    tmp_path: Path, make_leecher: Callable[..., Leecher]
) -> None:
    from telebot.sources.torrent.source import TorrentSource

    strict = replace(LEECHER, allow_private=False, timeout=3)
    leecher = make_leecher(strict, clock=SteppingClock(step=0.2))
    with FakeOrigin() as origin:
        root = make_files(tmp_path / "seed", PACK)
        torrent = make_torrent(root / "pack", web_seeds=[origin.url + "/ws/"])
        for rel in PACK:
            origin.add(f"/ws/{rel}", data=(root / rel).read_bytes())
        # The .torrent itself comes from a callable here: the HTTP guard would refuse loopback.
        source = TorrentSource(
            leecher.session, metainfo=lambda task: torrent, clock=SteppingClock(0.2)
        )
        with pytest.raises(DownloadError, match="no progress"):
            source.fetch(leecher.task("https://example.invalid/pack.torrent"))
        assert not origin.requests_for("/ws/pack/a.bin")


def test_room_check_refuses_what_the_disk_cannot_hold(tmp_path: Path) -> None:
    from telebot.sources.torrent.safety import check_room

    free = shutil.disk_usage(tmp_path).free
    check_room(free // 2, 0, tmp_path, None)
    with pytest.raises(DownloadError, match="not enough disk space"):
        check_room(free * 2, 0, tmp_path, None)
    check_room(free * 2, free * 2 - 1, tmp_path, None)  # most of it is already on disk


def test_a_torrent_pauses_while_the_disk_is_low_and_resumes(
    tmp_path: Path, seeder: Seeder, make_leecher: Callable[..., Leecher]
) -> None:
    """STORAGE_THRESHOLD mid-download: pieces land sparse, so a torrent must pause, not fail,
    when other writers take the room, and go on when it returns."""
    from telebot.engine.diskguard import DiskGuard

    free = {"bytes": 10**12}
    guard = DiskGuard(10**9, lambda: free["bytes"], poll=0.05)
    leecher = make_leecher()
    leecher.source._disk = guard  # what wiring passes (torrent_source_factory(disk=...))
    torrent, original = seeded_pack(tmp_path, seeder)
    seeder.throttle(200_000)  # ~5 s for the pack: time to see the pause
    task = leecher.task(magnet(torrent, seeder.port))
    worker, result = fetch_in_thread(leecher, task)
    wait_until(lambda: task.done > 0, 30)
    free["bytes"] = 10**8  # someone filled the disk: below the threshold
    wait_until(lambda: (task.note or "").startswith("⏸ waiting for disk space"), 10)
    paused_at = task.done
    handle = leecher.session._watches[0].handle
    wait_until(lambda: bool(handle.status().flags & lt.torrent_flags.upload_mode), 10)
    # Pieces requested before the pause may still land, but the torrent stays unfinished.
    assert worker.is_alive() and paused_at <= task.done < sum(PACK.values())
    free["bytes"] = 10**12
    worker.join(60)
    assert not worker.is_alive() and task.note is None
    assert isinstance(result[0], Path), result
    same_tree(result[0], original)
