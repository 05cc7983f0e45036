"""NETRC_FILE: its logins reach the link's own host (real downloader, loopback origins that
check Basic auth and record every header), never a host a redirect names; -au/-ap win; a file
the stdlib cannot parse stops start-up naming the line only."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from telebot.config import load_config
from telebot.engine.task import Task, TaskSpec
from telebot.errors import ConfigError, DownloadError
from telebot.netrcfile import load_netrc
from telebot.sources.http.downloader import HttpSource
from telebot.sources.http.settings import HttpSettings
from telebot.sources.http.source import DirectLinkSource
from telebot.sources.ytdl.settings import YtdlSettings
from telebot.sources.ytdl.source import YtdlSource
from tests.fakes.origin import FakeOrigin

PASSWORD = "netrc-pw-8c1e"


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def netrc_file(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "netrc"
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def other() -> Iterator[FakeOrigin]:
    with FakeOrigin() as server:
        yield server


def fetch(source: DirectLinkSource, url: str, tmp_path: Path, **spec: object) -> Path:
    workdir = tmp_path / "task"
    workdir.mkdir(parents=True, exist_ok=True)
    task = Task(
        "0123456789",
        TaskSpec(kind="mirror", source=url, chat_id=1, user_id=1, **spec),  # type: ignore[arg-type]
        workdir,
    )
    return source.fetch(task)


def direct(source: HttpSource, path: Path | None) -> DirectLinkSource:
    logins = load_netrc(path) if path else HttpSettings().netrc
    return DirectLinkSource(HttpSettings(allow_private=True, netrc=logins), http=source)


def test_the_login_of_the_links_host_is_sent_and_without_it_401_says_what_to_do(
    origin: FakeOrigin, source: HttpSource, tmp_path: Path
) -> None:
    login = {"Authorization": basic("bob", PASSWORD)}
    res = origin.add("/f.bin", size=50_000, seed=4, require=login)
    rc = netrc_file(tmp_path, f"machine 127.0.0.1 login bob password {PASSWORD}\n")
    path = fetch(direct(source, rc), origin.url + "/f.bin", tmp_path)
    assert path.read_bytes() == res.bytes()
    with pytest.raises(DownloadError, match=r"HTTP 401 .*the site wants a login: add -au"):
        fetch(direct(source, None), origin.url + "/f.bin", tmp_path / "x")


def test_au_ap_win_over_netrc(
    origin: FakeOrigin, source: HttpSource, tmp_path: Path
) -> None:
    origin.add("/f.bin", size=10_000, seed=5, require={"Authorization": basic("ann", "right")})
    rc = netrc_file(tmp_path, f"machine 127.0.0.1 login bob password {PASSWORD}\n")
    fetch(direct(source, rc), origin.url + "/f.bin", tmp_path / "a", auth=("ann", "right"))
    with pytest.raises(DownloadError, match="the login was refused"):
        fetch(direct(source, rc), origin.url + "/f.bin", tmp_path / "c")
    sent = {r.headers.get("authorization") for r in origin.requests_for("/f.bin")}
    assert sent == {basic("ann", "right"), basic("bob", PASSWORD)}


def test_a_redirect_to_another_host_carries_no_authorization(
    origin: FakeOrigin, other: FakeOrigin, source: HttpSource, tmp_path: Path
) -> None:
    elsewhere = other.url.replace("127.0.0.1", "localhost")
    res = other.add("/f.bin", size=20_000, seed=6)
    origin.redirect("/go", elsewhere + "/f.bin")
    rc = netrc_file(
        tmp_path,
        f"machine 127.0.0.1 login bob password {PASSWORD}\n"
        f"default login any password {PASSWORD}\n",
    )  # fmt: skip
    path = fetch(direct(source, rc), origin.url + "/go", tmp_path)
    assert path.read_bytes() == res.bytes()
    assert {r.headers.get("authorization") for r in origin.requests_for("/go")} == {
        basic("bob", PASSWORD)
    }
    assert other.requests and all("authorization" not in r.headers for r in other.requests)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (f"{PASSWORD} machine x\n", "cannot be parsed at line 1"),
        (f"machine a login b password p\n\n{PASSWORD} machine c\n", "cannot be parsed at line 3"),
    ],
)
def test_a_bad_netrc_file_names_the_line_not_its_tokens(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = netrc_file(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config({"BOT_TOKEN": "1:a", "OWNER_ID": "1", "NETRC_FILE": str(path)}, cwd=tmp_path)
    assert caught.value.name == "NETRC_FILE" and problem in str(caught.value)
    assert PASSWORD not in str(caught.value)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_netrc(tmp_path / "missing")


def test_a_netrc_others_can_read_is_warned_about_and_its_passwords_are_secrets(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = netrc_file(tmp_path, f"machine h login u password {PASSWORD}\n", mode=0o644)
    with caplog.at_level(logging.WARNING, logger="telebot.netrcfile"):
        config = load_config(
            {"BOT_TOKEN": "1:a", "OWNER_ID": "1", "NETRC_FILE": str(path)}, cwd=tmp_path
        )
        HttpSettings.from_config(config)  # the plug-in reads it again, without a second warning
    assert caplog.text.count("chmod 600") == 1 and PASSWORD not in caplog.text
    assert PASSWORD in config.secrets
    assert PASSWORD not in repr(load_netrc(path))


def test_ytdl_reads_the_owners_netrc_itself(tmp_path: Path) -> None:
    path = netrc_file(tmp_path, f"machine youtube login u password {PASSWORD}\n")
    task = Task("0123456789", TaskSpec(kind="mirror", source="https://x.test/v", chat_id=1,
                                       user_id=1, tool="ytdl"), tmp_path)  # fmt: skip
    params = YtdlSource(YtdlSettings(netrc_file=path)).base_params(task, tmp_path)
    assert params["usenetrc"] is True and params["netrc_location"] == str(path)
    assert "usenetrc" not in YtdlSource(YtdlSettings()).base_params(task, tmp_path)
