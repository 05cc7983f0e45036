"""The engine's face of the HTTP downloader: direct http(s) links for mirror and leech."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from telebot.engine.pipeline import DiskSpace, Source, SourceFactory
from telebot.engine.task import Task, TaskSpec
from telebot.errors import (
    DownloadError,
    HTTPStatusError,
    TaskCancelled,
    TelebotError,
    share_password_unused,
)
from telebot.monitor.perf import monitor_performance
from telebot.sources.http.downloader import HttpOptions, HttpSource, ProbeResult
from telebot.sources.http.settings import HttpSettings
from telebot.sources.http.webpage import TITLE_BYTES, WebPageError, is_web_page, title_of


def is_http_link(link: str) -> bool:
    return link[:8].lower().startswith(("http://", "https://"))


class DirectLinkSource:
    """Fetches ``spec.source`` with :class:`HttpSource` into the task's folder."""

    engine = "HTTP"

    def __init__(
        self,
        settings: HttpSettings,
        http: HttpSource | None = None,
        disk: DiskSpace | None = None,
    ) -> None:
        self._settings = settings
        self._http = http or HttpSource()
        self._disk = disk

    def options_for(self, spec: TaskSpec) -> HttpOptions:
        return HttpOptions(
            headers=dict(spec.headers),
            auth=self._auth_for(spec),
            name=spec.name,
            allow_private=self._settings.allow_private,
            max_size=self._settings.max_size,
            host_down_timeout=self._settings.host_down_timeout,
        )

    def _auth_for(self, spec: TaskSpec) -> tuple[str, str] | None:
        """-au/-ap, else NETRC_FILE's login for the link's host (never for a link with its own
        user:pass: the downloader refuses those, asking for -au/-ap). Whichever it is goes only
        to the link's own origin (scheme, host, port), never to a host a redirect names
        (request.open_response): over https only to that https host, over http only to that
        same http host."""
        if spec.auth is not None:
            return spec.auth
        parts = urlsplit(spec.source)
        if parts.username or parts.password:
            return None
        return self._settings.netrc.for_host(parts.hostname)

    @monitor_performance("source.http.fetch")
    def fetch(self, task: Task) -> Path:
        options = self.options_for(task.spec)
        try:
            path = self._http.download(
                task.spec.source,
                task.workdir,
                with_disk_gate(options, self._disk, task),
                progress=task.progress,
                cancel=task.cancel_event,
                on_probe=lambda probe: self._on_probe(task, probe),
                on_note=lambda text: setattr(task, "note", text),
            )
        except HTTPStatusError as exc:
            if exc.status != 401:
                raise
            sent = options.auth is not None or bool(urlsplit(task.spec.source).username)
            raise DownloadError(_login_problem(exc, signed_in=sent)) from None
        task.name = path.name
        return path

    def _on_probe(self, task: Task, probe: ProbeResult) -> None:
        """A web page is not a file: refused (naming its title) unless the user gave -html."""
        if is_web_page(probe.content_type) and not task.spec.keep_html:
            raise WebPageError(self.page_title(task.spec.source, self.options_for(task.spec),
                                               task.cancel_event))
        _show_probe(task, probe)

    def page_title(self, link: str, options: HttpOptions, cancel: threading.Event) -> str | None:
        """The title of the page at ``link``, from its first bytes; None when it cannot be
        read (the refusal does not depend on it)."""
        try:
            head, _total = self._http.read_range(link, options, 0, TITLE_BYTES, cancel=cancel)
        except TaskCancelled:
            raise
        except TelebotError:
            return None
        return title_of(head)

    def still_same(self, task: Task, origin: dict[str, Any]) -> bool:
        """After a reboot, before a download recorded then is trusted (engine/taskstate.py):
        does the server still have the same file, by size and validators (ETag,
        Last-Modified)? Any doubt, a failed probe included, says no: the fetch runs again (and
        waits for a host that is down, as any fetch does)."""
        try:
            probe = self._http.probe(
                task.spec.source, self.options_for(task.spec), cancel=task.cancel_event
            )
        except TaskCancelled:
            raise
        except TelebotError:
            return False
        return probe.size is not None and _origin(probe) == origin


def _login_problem(exc: HTTPStatusError, *, signed_in: bool) -> str:
    """The ❌ line of a 401: what the user (or the owner) can do about it."""
    if signed_in:
        return f"{exc}: the login was refused (check -au/-ap, or the owner's NETRC_FILE)"
    return f"{exc}: the site wants a login: add -au user -ap password (or the owner's NETRC_FILE)"


def _origin(probe: ProbeResult) -> dict[str, Any]:
    """What is recorded with a finished download about the server's file."""
    return {"size": probe.size, "etag": probe.etag, "modified": probe.last_modified}


def with_disk_gate(options: HttpOptions, disk: DiskSpace | None, task: Task) -> HttpOptions:
    """``options`` whose writes wait for room above STORAGE_THRESHOLD (engine/diskguard.py),
    with the waiting line in the task's status."""
    if disk is None:
        return options
    gate = disk.gate(lambda text: setattr(task, "note", text))
    return replace(options, make_room=gate.wait)


def _show_probe(task: Task, probe: ProbeResult) -> None:
    """The status shows the real name and size as soon as the server told them."""
    task.name = probe.name
    task.origin = _origin(probe)
    task.progress(task.done, probe.size)


def direct_link_factory(
    settings: HttpSettings, http: HttpSource | None = None, disk: DiskSpace | None = None
) -> SourceFactory:
    """A :data:`~telebot.engine.pipeline.SourceFactory` for http(s) links."""
    source = DirectLinkSource(settings, http, disk)

    def factory(spec: TaskSpec) -> Source | None:
        if not is_http_link(spec.source):
            return None
        if spec.share_password is not None:  # nothing dropped silently (the hosts come first)
            raise share_password_unused(
                "this link is not on a host I know. For HTTP basic auth write -au <user> "
                "-ap <password>")
        return source

    return factory


class LinkRanges:
    """Byte ranges of the links this plug-in takes, without a task: ``/mediainfo`` reads a
    file's head and tail this way (bot/handlers/mediainfo.py), through the same guarded
    downloader as a download (private addresses refused unless ``ALLOW_PRIVATE_LINKS``)."""

    def __init__(self, settings: HttpSettings, http: HttpSource | None = None) -> None:
        self._options = HttpOptions(allow_private=settings.allow_private)
        self._http = http or HttpSource()

    def takes(self, link: str) -> bool:
        return is_http_link(link)

    def read_range(
        self, link: str, start: int, length: int, cancel: threading.Event
    ) -> tuple[bytes, int | None]:
        """At most ``length`` bytes from ``start``, and the total size when the server says."""
        return self._http.read_range(link, self._options, start, length, cancel=cancel)
