"""The real PageClient against a loopback origin: redirects under the SSRF guard, cookies kept
within a resolve, the page cap, forms, the owner's base URLs, cancel."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from telebot.errors import DownloadError, SecurityError, TaskCancelled
from telebot.resilience import BreakerRegistry, ErrorTracker, RetryPolicy
from telebot.sources.hosts.client import GuardedPageClient, Rebase
from tests import polling
from tests.fakes.origin import FakeOrigin

ONCE = RetryPolicy(attempts=1, base_delay=0.0, max_delay=0.0, deadline=5.0)


class Site:
    name = "Example Share"
    domains = ("share.example",)
    service_domains = ("api.share-cdn.example",)


@pytest.fixture
def cancel() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


def client(cancel: threading.Event, *, allow_private: bool = True, max_page: int = 1 << 20,
           bases: dict[str, str] | None = None) -> GuardedPageClient:
    return GuardedPageClient(allow_private=allow_private, cancel=cancel,
                             rebase=Rebase([Site()], bases or {}), breakers=BreakerRegistry(),
                             errors=ErrorTracker(), policy=ONCE, max_page=max_page)


def test_redirects_are_followed_and_cookies_kept(origin: FakeOrigin,
                                                 cancel: threading.Event) -> None:
    origin.add("/start", data=b"<p>hi</p>", content_type="text/html; charset=utf-8",
               headers={"Set-Cookie": "session=abc; Path=/"})
    origin.add("/final", data="café".encode(), content_type="text/html")
    origin.redirect("/short", "/final")
    with client(cancel) as pages:
        first = pages.get(f"{origin.url}/start", params={"a": "1"})
        page = pages.get(f"{origin.url}/short")
    assert first.text == "<p>hi</p>" and first.cookies == {"session": "abc"}
    assert page.url == f"{origin.url}/final" and page.text == "café"
    assert page.headers["content-type"] == "text/html"
    [final] = origin.requests_for("/final")
    assert final.headers.get("cookie") == "session=abc"
    assert origin.requests_for("/start")[0].query == "a=1"


def test_loopback_is_refused_without_allow_private(origin: FakeOrigin,
                                                   cancel: threading.Event) -> None:
    origin.add("/page", data=b"x", content_type="text/html")
    with client(cancel, allow_private=False) as pages, pytest.raises(SecurityError):
        pages.get(f"{origin.url}/page")
    assert origin.requests_for("/page") == []


def test_a_page_over_the_cap_is_refused(origin: FakeOrigin, cancel: threading.Event) -> None:
    origin.add("/big", size=70_000, content_type="text/html")
    with client(cancel, max_page=64 * 1024) as pages, pytest.raises(DownloadError, match="over"):
        pages.get(f"{origin.url}/big")


def test_post_sends_the_form(origin: FakeOrigin, cancel: threading.Event) -> None:
    origin.add("/form", data=b'{"url": "x"}', content_type="application/json")
    with client(cancel) as pages:
        page = pages.post(f"{origin.url}/form", data={"pass": "p w", "token": "t"})
    assert page.json() == {"url": "x"}
    [sent] = origin.requests_for("/form", "POST")
    assert sent.body == b"pass=p+w&token=t"


def test_error_status_raises(origin: FakeOrigin, cancel: threading.Event) -> None:
    with client(cancel) as pages, pytest.raises(DownloadError, match="404"):
        pages.get(f"{origin.url}/missing")


def test_the_owner_base_sends_a_host_elsewhere(origin: FakeOrigin,
                                               cancel: threading.Event) -> None:
    origin.add("/file/k/x", data=b"page", content_type="text/html")
    with client(cancel, bases={"exampleshare": origin.url}) as pages:
        page = pages.get("https://www.share.example/file/k/x")
    assert page.text == "page" and page.url == f"{origin.url}/file/k/x"
    with client(cancel, bases={"exampleshare": origin.url}) as pages, \
            pytest.raises(DownloadError):  # other domains are left alone (and do not resolve)
        pages.get("https://share.example.invalid/file/k/x")


def test_the_owner_base_covers_the_declared_service_domains(origin: FakeOrigin,
                                                            cancel: threading.Event) -> None:
    """An API on a domain no user pastes (``service_domains``) follows its host's base, for a
    request and for a redirect hop to it; without a base nothing is rewritten."""
    origin.add("/v1/item", data=b'{"ok": true}', content_type="application/json")
    origin.redirect("/share/k", "https://api.share-cdn.example/v1/item")
    with client(cancel, bases={"exampleshare": origin.url}) as pages:
        assert pages.get("https://eu.api.share-cdn.example/v1/item").json() == {"ok": True}
        redirected = pages.get("https://share.example/share/k")
    assert redirected.url == f"{origin.url}/v1/item"
    rebase = Rebase([Site()], {"exampleshare": "http://127.0.0.1:9"})
    assert rebase("https://api.share-cdn.example/v1/x?q=1") == "http://127.0.0.1:9/v1/x?q=1"
    assert rebase("https://share-cdn.example/v1/x") == "https://share-cdn.example/v1/x"
    assert Rebase([Site()], {})("https://api.share-cdn.example/a") == (
        "https://api.share-cdn.example/a")


def test_cancel_stops_a_stalled_page(origin: FakeOrigin, cancel: threading.Event) -> None:
    origin.add("/slow", data=b"late", content_type="text/html")
    hold = threading.Event()
    origin.fault("/slow", gate=hold)
    failure: list[BaseException] = []

    def fetch() -> None:
        try:
            with client(cancel) as pages:
                pages.get(f"{origin.url}/slow")
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=fetch)
    thread.start()
    polling.wait_until(lambda: origin.requests_for("/slow"), 10, "the request reached the origin")
    cancel.set()
    thread.join(10)
    hold.set()
    assert not thread.is_alive()
    assert len(failure) == 1 and isinstance(failure[0], TaskCancelled)
