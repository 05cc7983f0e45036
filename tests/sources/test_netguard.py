"""SSRF guard: URL checks, connect-time peer checks, redirect hops."""

from __future__ import annotations

import ipaddress
import threading
from pathlib import Path

import pytest
import requests

from telebot.errors import SecurityError
from telebot.sources.http import addresses
from telebot.sources.http.downloader import HttpOptions, HttpSource
from telebot.sources.http.netguard import GuardedAdapter, check_url, is_forbidden_address
from tests.fakes.origin import FakeOrigin


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x",
        "http://127.1/x",  # inet_aton shorthand
        "http://2130706433/x",  # 127.0.0.1 as one decimal number
        "http://localhost/x",
        "http://10.1.2.3/x",
        "http://172.16.0.1/x",
        "http://192.168.1.1/x",
        "http://169.254.169.254/latest/meta-data",  # cloud metadata
        "http://100.64.0.1/x",  # carrier-grade NAT: not global
        "http://0.0.0.0/x",
        "http://224.0.0.1/x",
        "http://240.0.0.1/x",  # reserved
        "http://[::1]/x",
        "http://[::]/x",
        "http://[fe80::1]/x",
        "http://[fc00::1]/x",
        "http://[::ffff:127.0.0.1]/x",  # v4-mapped loopback
        "http://[::ffff:10.0.0.1]/x",
        "http://[2002:7f00:1::]/x",  # 6to4 wrapping 127.0.0.1
    ],
)
def test_private_and_special_addresses_are_refused(url: str) -> None:
    with pytest.raises(SecurityError, match="refused") as info:
        check_url(url, allow_private=False)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/f", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("gopher://x/", "only http and https"),
        ("http://user:pw@example.com/", "credentials"),
        ("http://example.com@127.0.0.1/", "credentials"),
        ("http:///path-only", "no valid host"),
    ],
)
def test_bad_shapes_are_refused(url: str, why: str) -> None:
    with pytest.raises(SecurityError, match=why):
        check_url(url, allow_private=True)


def test_public_literal_passes_and_allow_private_opens_loopback() -> None:
    check_url("https://1.1.1.1/file", allow_private=False)
    check_url("http://[2606:4700:4700::1111]/f", allow_private=False)
    check_url("http://127.0.0.1:8080/file", allow_private=True)


def test_forbidden_address_examples() -> None:
    assert is_forbidden_address(ipaddress.ip_address("::ffff:169.254.1.1"))
    assert not is_forbidden_address(ipaddress.ip_address("8.8.8.8"))
    assert not is_forbidden_address(ipaddress.ip_address("::ffff:8.8.8.8"))


def test_connection_guard_refuses_loopback_peer_even_without_url_check(
    origin: FakeOrigin,
) -> None:
    """DNS rebinding: the URL check passed earlier, the socket now points home."""
    origin.add("/f", data=b"secret")
    session = requests.Session()
    session.mount("http://", GuardedAdapter(allow_private=False))
    with pytest.raises(SecurityError, match=r"127\.0\.0\.1"):
        session.get(f"{origin.url}/f", timeout=5)
    assert origin.requests == []


def test_download_of_loopback_link_is_refused_before_any_request(
    origin: FakeOrigin, source: HttpSource, tmp_path: Path
) -> None:
    origin.add("/f", data=b"secret")
    with pytest.raises(SecurityError, match="private or local address"):
        source.download(f"{origin.url}/f", tmp_path, HttpOptions(),
                        progress=lambda d, t: None, cancel=threading.Event())
    assert origin.requests == []


def test_redirect_hop_to_loopback_is_refused(
    origin: FakeOrigin, source: HttpSource, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pretend 127.0.0.1 (the origin) is a public server; every other special
    # address keeps its real verdict. The hop to [::1] / 127.0.0.2 must be refused.
    real = addresses.is_forbidden_address
    monkeypatch.setattr(addresses, "is_forbidden_address",
                        lambda ip: str(ip) != "127.0.0.1" and real(ip))
    port = origin.url.rsplit(":", 1)[1]
    origin.add("/f", data=b"public")
    origin.redirect("/to-v6", f"http://[::1]:{port}/f")
    origin.redirect("/to-loop2", f"http://127.0.0.2:{port}/f")
    for path in ("/to-v6", "/to-loop2"):
        with pytest.raises(SecurityError, match="refused"):
            source.download(f"{origin.url}{path}", tmp_path, HttpOptions(),
                            progress=lambda d, t: None, cancel=threading.Event())
    assert {r.path for r in origin.requests} == {"/to-v6", "/to-loop2"}
    # And the same origin through the guard works: the patch really is selective.
    got = source.download(f"{origin.url}/f", tmp_path, HttpOptions(),
                          progress=lambda d, t: None, cancel=threading.Event())
    assert got.read_bytes() == b"public"


def test_forbidden_networks_agree_with_is_forbidden_address() -> None:
    """The range list (for libtorrent's ip_filter) never allows what the predicate refuses."""
    import ipaddress

    from telebot.sources.http.netguard import FORBIDDEN_NETWORKS, is_forbidden_address

    for net in FORBIDDEN_NETWORKS:
        assert is_forbidden_address(net[0]) and is_forbidden_address(net[-1]), net
    samples = ["127.0.0.1", "10.1.2.3", "172.16.5.4", "192.168.1.1", "169.254.1.1", "100.64.0.1",
               "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fc00::1",
               "ff02::1", "::ffff:127.0.0.1", "::ffff:10.0.0.1", "2002:7f00:1::", "2001:db8::1"]
    for text in samples:
        ip = ipaddress.ip_address(text)
        assert any(ip in net for net in FORBIDDEN_NETWORKS if net.version == ip.version), text
