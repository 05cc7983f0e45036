"""/mirror <link> -e with RAR end to end: the real bot, the fake origin serving libarchive's RAR
test files (tests/fixtures/rar/README.md), the real unar: RAR4 and RAR5, stored and compressed,
a RAR5 password (never on a command line), a volume set, hostile names."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path
from typing import Any

import pytest

from telebot.processing import unar
from tests.conftest import OWNER
from tests.e2e.helpers import files_in, text_of, wait_text
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.origin import FakeOrigin
from tests.processing.archive_helpers import Watcher
from tests.processing.rar_helpers import (
    FIXTURES,
    PASSWORD,
    PASSWORD5,
    STORED4,
    STORED5,
    VOLUME5_FILES,
    renamed_rar5,
)

pytestmark = pytest.mark.skipif(unar.find() is None, reason="unar is not installed")


def contents(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in files_in(root)}


def mirror(bot_api: FakeBotAPI, command: str, mark: str = "✅") -> str:
    since = bot_api.mark()
    bot_api.push_message(command, chat_id=OWNER, user_id=OWNER)
    return text_of(wait_text(bot_api, mark, chat_id=OWNER, since=since, timeout=60))


def test_rar4_and_rar5_stored_and_compressed_become_folders(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot()
    for name in ("rar5-stored.rar", "rar4-stored.rar", "rar5-compressed.rar",
                 "rar4-compressed.rar"):
        origin.add(f"/{name}", data=(FIXTURES / name).read_bytes())
    done = mirror(bot_api, f"/mirror {origin.url}/rar5-stored.rar -e")
    assert "extracted 1 archive: 1 file" in done
    assert contents(bot.mirror_dir / "rar5-stored") == STORED5
    done = mirror(bot_api, f"/mirror {origin.url}/rar4-stored.rar -e")
    assert contents(bot.mirror_dir / "rar4-stored") == STORED4
    assert "skipped symbolic link testlink" in done
    mirror(bot_api, f"/mirror {origin.url}/rar5-compressed.rar -e")
    mirror(bot_api, f"/mirror {origin.url}/rar4-compressed.rar -e")
    assert {k: len(v) for k, v in contents(bot.mirror_dir / "rar5-compressed").items()} \
        == {"test.bin": 1200}
    assert {k: len(v) for k, v in contents(bot.mirror_dir / "rar4-compressed").items()} \
        == {"lowdist-reset.bin": 64}
    assert files_in(bot.download_dir) == []


def test_a_rar5_password_opens_it_and_stays_off_command_lines(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    bot = make_bot()
    origin.add("/locked.rar", data=(FIXTURES / "rar5-password.rar").read_bytes())
    failed = mirror(bot_api, f"/mirror {origin.url}/locked.rar -e", "❌")
    assert "the archive is encrypted: give its password" in failed
    failed = mirror(bot_api, f"/mirror {origin.url}/locked.rar -e guess", "❌")
    assert failed.endswith("failed: wrong password")
    with Watcher() as watcher:
        done = mirror(bot_api, f"/mirror {origin.url}/locked.rar -e {PASSWORD}")
    assert "extracted 1 archive: 4 files" in done
    assert contents(bot.mirror_dir / "locked") == PASSWORD5
    # Every process that runs unar or lsar: the tools, and the sandbox step before them.
    tools = [line for line in watcher.seen if b"/unar\0" in line or b"/lsar\0" in line]
    assert any(line.split(b"\0")[0].endswith(b"unar") for line in tools), "unar never seen"
    assert not [line for line in tools if b"\0-p\0" in line or b"\0password" in line]


def test_a_volume_set_is_read_through_its_first_volume(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    # A link is one file: the set arrives in a tar, and the nested pass meets it in a folder,
    # as it would in a torrent's.
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for volume in sorted(FIXTURES.glob("vol5.part*.rar")):
            tar.add(volume, arcname=f"set/{volume.name}")
    bot = make_bot()
    origin.add("/set.tar", data=buffer.getvalue())
    mirror(bot_api, f"/mirror {origin.url}/set.tar -e")
    got = contents(bot.mirror_dir / "set")
    assert {k.removeprefix("set/vol5/"): len(v) for k, v in got.items()} == VOLUME5_FILES


@pytest.mark.parametrize(("name", "reason"), [("../escaped.txt", "parent reference"),
                                               ("/tmp/evil2.txt", "absolute path")])
def test_a_hostile_rar_is_refused_and_nothing_escapes(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any, name: str, reason: str
) -> None:
    bot = make_bot()
    origin.add("/evil.rar", data=renamed_rar5(FIXTURES / "rar5-stored.rar", "helloworld.txt",
                                              name))
    failed = mirror(bot_api, f"/mirror {origin.url}/evil.rar -e", "❌")
    assert "refused" in failed and reason in failed
    assert not any(p.name in ("escaped.txt", "evil2.txt") for p in bot.mirror_dir.parent.rglob("*"))
    assert not Path("/tmp/evil2.txt").exists()
    assert files_in(bot.mirror_dir) == [] and "Traceback" not in bot.log_text()
