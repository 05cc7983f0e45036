"""Which destinations the rclone allow-list accepts: only remotes of the operator's config that
cannot reach the bot's own disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from telebot.errors import BadInputError
from telebot.redact import redact
from telebot.sinks.rclone.remotes import Remotes, child_env, looks_remote, remote_names

CONF = """
[wd]
type = webdav
url = http://127.0.0.1:1/
pass = ObscuredSecretValue123

[disk]
type = local

[to_path]
type = alias
remote = /srv/data

[to_wd]
type = alias
remote = wd:sub

[to_to_path]
type = alias
remote = to_path:x

[conn]
type = alias
remote = :local:/tmp

[enc]
type = crypt
remote = disk:vault
password = AnotherSecretValue456

[pool]
type = union
upstreams = wd:a disk:b:ro

[good_pool]
type = union
upstreams = wd:a to_wd:b:nc

[joined]
type = combine
upstreams = "docs=wd:docs" "bad=to_path:"

[loop1]
type = alias
remote = loop2:

[loop2]
type = alias
remote = loop1:
"""


@pytest.fixture
def remotes(tmp_path: Path) -> Remotes:
    conf = tmp_path / "rclone.conf"
    conf.write_text(CONF)
    return Remotes.load(conf)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("/tmp/x", "local paths are refused"),
        ("data", "local paths are refused"),
        (":local:/tmp/x", "Connection strings"),
        (":webdav,url='http://x':", "Connection strings"),
        ("wd,url='http://evil/':x", "local paths are refused"),  # per-call overrides
        ("wd:a/../b", "'..'"),
        ("wd:..", "'..'"),
        ("wd:a\nb", "control characters"),
        ("nosuch:x", "no remote called 'nosuch'"),
        ("disk:x", "bot's own disk"),
        ("to_path:x", "local path or a connection string"),
        ("to_to_path:x", "local path or a connection string"),
        ("conn:x", "local path or a connection string"),
        ("enc:x", "bot's own disk"),
        ("pool:x", "bot's own disk"),
        ("joined:x", "local path or a connection string"),
        ("loop1:x", "nest too deep"),
    ],
)
def test_refused_destinations(remotes: Remotes, text: str, why: str) -> None:
    with pytest.raises(BadInputError, match=why.replace("(", r"\(")):
        remotes.check(text)


@pytest.mark.parametrize("text", ["wd:", "wd:a/b c", "to_wd:x", "good_pool:x", "wd:/abs/ok"])
def test_accepted_destinations(remotes: Remotes, text: str) -> None:
    dest = remotes.check(text)
    assert str(dest) == text.strip()


def test_names_lists_only_usable_remotes(remotes: Remotes) -> None:
    assert remotes.names() == ["good_pool", "to_wd", "wd"]


def test_secret_values_are_registered_with_the_redactor(remotes: Remotes) -> None:
    assert "ObscuredSecretValue123" not in redact("rclone said pass=ObscuredSecretValue123 x")
    assert "AnotherSecretValue456" not in redact("AnotherSecretValue456")


def test_missing_or_encrypted_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="RCLONE_CONFIG is not set"):
        Remotes.load(None)
    with pytest.raises(BadInputError, match="cannot be read"):
        Remotes.load(tmp_path / "absent.conf")
    enc = tmp_path / "enc.conf"
    enc.write_text("# Encrypted rclone configuration File\n\nRCLONE_ENCRYPT_V0:\nabc\n")
    with pytest.raises(BadInputError, match="encrypted"):
        Remotes.load(enc)


def test_child_env_drops_remote_definitions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RCLONE_CONFIG_EVIL_TYPE", "local")
    monkeypatch.setenv("RCLONE_CONFIG", "/other.conf")
    monkeypatch.setenv("RCLONE_BWLIMIT", "1M")
    env = child_env()
    assert "RCLONE_CONFIG_EVIL_TYPE" not in env and "RCLONE_CONFIG" not in env
    assert env["RCLONE_BWLIMIT"] == "1M"


def test_looks_remote() -> None:
    assert looks_remote("wd:x") and not looks_remote("local") and not looks_remote(None)
    assert not looks_remote("/tmp/x")


def test_remote_names_for_stats(tmp_path: Path) -> None:
    conf = tmp_path / "rclone.conf"
    conf.write_text(CONF)
    assert remote_names(conf) == ["good_pool", "to_wd", "wd"]
    assert remote_names(None) is None
    assert remote_names(tmp_path / "absent") == []


ROOTS_CONF = """
[wd]
type = webdav
url = http://127.0.0.1:1/

[sf]
type = sftp
host = 127.0.0.1

[top]
type = alias
remote = wd:./

[sub]
type = alias
remote = wd:keep//inner/

[subsub]
type = alias
remote = sub:deeper

[home]
type = alias
remote = sf:/srv/share

[vault]
type = crypt
remote = wd:enc
password = AnotherSecretValue789

[both]
type = union
upstreams = wd:u1 sf:u2:ro
"""


@pytest.fixture
def rooted(tmp_path: Path) -> Remotes:
    conf = tmp_path / "rclone.conf"
    conf.write_text(ROOTS_CONF)
    return Remotes.load(conf, ["sf:/"])  # absolute sftp paths allowed: the roots are the point


@pytest.mark.parametrize(
    ("text", "holder"),
    [
        ("wd:", "wd"), ("wd:.", "wd"), ("wd:./", "wd"), ("wd:/", "wd"), ("wd://", "wd"),
        ("wd:.//./", "wd"), ("sf:/", "sf"),
        ("top:", "top"), ("top:.", "top"), ("top:./", "top"),  # an alias's own root
        ("sub:./", "sub"), ("subsub:", "subsub"),
        ("wd:keep", "sub"), ("wd:keep/inner/", "sub"), ("wd:./keep//inner", "sub"),
        ("wd:/keep", "sub"), ("top:/keep/inner", "sub"), ("wd:/enc", "vault"),
        ("top:keep/inner", "sub"), ("top:keep/inner/deeper", "subsub"),
        ("sub:deeper/.", "subsub"),
        ("sf:/srv/share/", "home"), ("sf:/srv", "home"),
        ("wd:enc", "vault"), ("wd:u1/", "both"), ("sf:u2", "both"),
    ],
)
def test_root_holder_sees_a_remote_root_however_it_is_written(
    rooted: Remotes, text: str, holder: str
) -> None:
    assert rooted.root_holder(rooted.check(text)) == holder


@pytest.mark.parametrize(
    "text",
    ["wd:file.txt", "wd:keep/other", "top:keep/inner/x", "sub:x", "sf:srv/share",
     "wd:enc2", "home:a/./b", "vault:x"],
)
def test_root_holder_leaves_files_and_folders_inside(rooted: Remotes, text: str) -> None:
    assert rooted.root_holder(rooted.check(text)) is None


def test_resolve_follows_alias_chains(rooted: Remotes) -> None:
    assert str(rooted.resolve(rooted.check("subsub:a/./b//"))) == "wd:keep/inner/deeper/a/b"
    assert str(rooted.resolve(rooted.check("home:x"))) == "sf:/srv/share/x"
    assert str(rooted.resolve(rooted.check("vault:x"))) == "vault:x"  # crypt renames: stop


ABSOLUTE_CONF = ROOTS_CONF + """
[sfhome]
type = alias
remote = sf:

[sfdir]
type = alias
remote = sf:dir

[sfabs]
type = alias
remote = sf:/srv/share

[ftp]
type = ftp
host = 127.0.0.1

[sfvault]
type = crypt
remote = sf:v
password = AnotherSecretValue789
"""


@pytest.fixture
def absolute(tmp_path: Path) -> Path:
    conf = tmp_path / "rclone.conf"
    conf.write_text(ABSOLUTE_CONF)
    return conf


@pytest.mark.parametrize(
    "text",
    ["sf:/etc", "sf://etc", "sf:/./etc", "sf:/", "ftp:/pub/x", "sfhome:/etc", "sfvault:/x",
     "both:/x", "sf:/srv/shared", "sf:/srv"],
)
def test_absolute_paths_on_server_rooted_remotes_are_refused(absolute: Path, text: str) -> None:
    remotes = Remotes.load(absolute, ["sf:/srv/share", "ftp:/incoming"])
    with pytest.raises(BadInputError, match="absolute path"):
        remotes.check(text)


@pytest.mark.parametrize(
    "text",
    ["sf:etc", "sf:./etc", "wd:/x", "top:/x", "sfdir:/x", "sfabs:x", "sfabs:/x",
     "sf:/srv/share", "sf:/srv/share/a/b", "sf://srv//share/./a", "sfhome:/srv/share/x",
     "ftp:/incoming/f"],
)
def test_relative_paths_and_allowed_roots_pass(absolute: Path, text: str) -> None:
    remotes = Remotes.load(absolute, ["sf:/srv/share", "ftp:/incoming"])
    assert str(remotes.check(text)) == text


def test_without_allowed_roots_no_absolute_path_passes(absolute: Path) -> None:
    remotes = Remotes.load(absolute)
    with pytest.raises(BadInputError, match="absolute path"):
        remotes.check("sf:/srv/share/x")
