"""A :class:`~telebot.sources.hosts.base.PageClient` that answers from recorded pages, for a
resolver's unit tests: each host's fixtures live in ``tests/fixtures/hosts/<host>/``.

``RecordedClient({("GET", url): Answer(...)})`` answers exactly those requests (query strings
included, in the order written) and fails the test on any other, so a test also proves which
requests the resolver makes. Every request is kept in :attr:`RecordedClient.requests`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from telebot.errors import HTTPStatusError
from telebot.sources.hosts.base import Page

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "hosts"


def fixture(host: str, name: str) -> str:
    """The text of ``tests/fixtures/hosts/<host>/<name>``."""
    return (FIXTURES / host / name).read_text(encoding="utf-8")


@dataclass(frozen=True)
class Answer:
    """A recorded response: ``text`` (or a fixture's), status, headers, cookies, final URL."""

    text: str = ""
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    cookies: Mapping[str, str] = field(default_factory=dict)
    url: str | None = None  # the final URL after redirects (default: the one asked)


@dataclass
class Sent:
    """One request the resolver made."""

    method: str
    url: str
    headers: Mapping[str, str]
    data: Mapping[str, str] | None = None
    json: Any = None


class RecordedClient:
    """Answers the recorded requests; raises AssertionError for any other."""

    def __init__(self, answers: Mapping[tuple[str, str], Answer]) -> None:
        self.answers = dict(answers)
        self.requests: list[Sent] = []

    def get(
        self,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        allow_redirects: bool = True,
    ) -> Page:
        return self._answer(Sent("GET", _with(url, params), dict(headers or {})))

    def post(
        self,
        url: str,
        *,
        data: Mapping[str, str] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        allow_redirects: bool = True,
    ) -> Page:
        return self._answer(Sent("POST", url, dict(headers or {}), data, json))

    def _answer(self, sent: Sent) -> Page:
        self.requests.append(sent)
        answer = self.answers.get((sent.method, sent.url))
        if answer is None:
            raise AssertionError(f"unrecorded request {sent.method} {sent.url}")
        if answer.status >= 400:  # as the real client does: an error status raises
            raise HTTPStatusError(answer.status, urlsplit(sent.url).hostname or "")
        return Page(
            url=answer.url or sent.url,
            status=answer.status,
            headers={k.lower(): v for k, v in answer.headers.items()},
            text=answer.text,
            cookies=dict(answer.cookies),
        )


def _with(url: str, params: Mapping[str, str] | None) -> str:
    if not params:
        return url
    return url + ("&" if "?" in url else "?") + urlencode(params)
