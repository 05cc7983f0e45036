"""The engine's face of the file hosts: a share link resolved, then fetched as files.

A spec whose link is on a registered host's domain (:func:`registry.find`) is taken here,
before the plain http source. :meth:`HostLinkSource.fetch` asks the host's resolver for the
direct links (the status shows "📥 MediaFire → direct link" meanwhile), then downloads each
with the bot's one segmented downloader (:class:`~telebot.sources.http.downloader.HttpSource`)
and the headers the host asked for. One file arrives as that file; a folder share arrives as a
folder named after it, each file in its own subfolder, every path checked to stay inside the
task's folder.

After a restart the share is resolved again (direct links expire) and each download continues
from its ``.part`` when the new link serves the same file: the partial download is recognised
by the share link and the file's place in it (``HttpOptions.resume_key``), not by the direct
link, and the downloader still checks size and validators before it trusts the old bytes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

from telebot.engine.pipeline import DiskSpace, Source, SourceFactory
from telebot.engine.task import Task, TaskSpec
from telebot.errors import CircuitOpenError, DownloadError, SecurityError
from telebot.monitor.counters import COUNTERS
from telebot.redact import strip_credentials
from telebot.resilience import ERRORS
from telebot.sources.hosts import registry
from telebot.sources.hosts.base import DirectLink, Host, HostChanged, HostError, Resolved
from telebot.sources.hosts.client import GuardedPageClient, Rebase
from telebot.sources.http.downloader import HttpOptions, HttpSource, ProbeResult
from telebot.sources.http.settings import HttpSettings
from telebot.sources.http.source import DirectLinkSource, with_disk_gate
from telebot.sources.http.webpage import is_web_page
from telebot.sources.names import sanitize_filename

log = logging.getLogger(__name__)


class HostLinkSource:
    """Resolves one host's share links and downloads what they stand for.

    Its engine is the http source's ("HTTP"): the files are direct downloads, under the same
    per-kind limit (DIRECT_LIMIT) and counted alike; the host is named in the status's detail
    line ("📥 MediaFire → direct link" while resolving, "📥 MediaFire" after)."""

    engine = DirectLinkSource.engine

    def __init__(self, host: Host, settings: HttpSettings, http: HttpSource,
                 rebase: Callable[[str], str], disk: DiskSpace | None = None) -> None:
        self.host = host
        self._settings = settings
        self._http = http
        self._rebase = rebase
        self._disk = disk

    def fetch(self, task: Task) -> Path:
        resolved = self.resolve(task)
        links = [replace(link, url=self._rebase(link.url)) for link in resolved.links]
        if not links:
            raise DownloadError(f"{self.host.name}: the share is empty")
        try:
            if resolved.folder_name is None and len(links) == 1:
                path = self._download(task, links[0], task.workdir, 0, None,
                                      name=task.spec.name or links[0].name, single=True)
            else:
                path = self._folder(task, resolved, links)
        except HostChanged as exc:  # a direct link answered a page: the resolver is stale
            self._failed(task, exc)
            raise
        task.name = path.name
        return path

    def resolve(self, task: Task) -> Resolved:
        """The resolver's answer for the task's link; a failure is logged (WARNING, naming the
        resolver and the step when the site changed) and counted per host for /stats."""
        task.detail = f"📥 {self.host.name} → direct link"
        client = GuardedPageClient(allow_private=self._settings.allow_private,
                                   cancel=task.cancel_event, rebase=self._rebase)
        try:
            with client:
                resolved = self.host.resolve(task.spec.source, client,
                                             task.spec.share_password)
        except (DownloadError, CircuitOpenError) as exc:  # HostError is a DownloadError
            self._failed(task, exc)
            raise
        count = len(resolved.links)
        task.detail = f"📥 {self.host.name}" + (
            f" · {count} files" if resolved.folder_name is not None else "")
        return resolved

    def _failed(self, task: Task, exc: Exception) -> None:
        """Log a failed resolve (a WARNING naming the resolver and the step when the site
        changed) and count it per resolver: /stats and /metrics."""
        if isinstance(exc, HostChanged):
            log.warning("host resolver %s failed at step %r: the site may have changed "
                        "(task %s)", self.host.name, exc.step, task.gid)
        elif isinstance(exc, HostError):
            log.info("host %s refused task %s: %s", self.host.name, task.gid, exc)
        ERRORS.record(type(exc).__name__, f"host {self.host.name}", str(exc))
        COUNTERS.host_failure(self.host.name)

    # ---------------------------------------------------------------------- downloading

    def _folder(self, task: Task, resolved: Resolved, links: list[DirectLink]) -> Path:
        root = task.workdir / sanitize_filename(task.spec.name or resolved.folder_name or "",
                                                fallback=self.host.name)
        total = sum(link.size for link in links if link.size is not None)
        known = all(link.size is not None for link in links)
        done = 0
        task.name = root.name
        taken: set[Path] = set()
        for link in links:
            folder = inside(task.workdir, root, link.folder)
            if link.name is not None:  # two files of one name in one folder: both arrive
                link = replace(link, name=free_name(folder, sanitize_filename(link.name), taken))
            finished = folder / sanitize_filename(link.name) if link.name else None
            if finished is not None and finished.is_file() and not _partial(finished):
                done += finished.stat().st_size  # this file completed before a restart
                task.progress(done, total if known else None)
                continue
            path = self._download(task, link, folder, done, total if known else None,
                                  name=link.name, single=False)
            done += path.stat().st_size
        return root

    def _download(self, task: Task, link: DirectLink, folder: Path, before: int,
                  total: int | None, name: str | None, single: bool) -> Path:
        """One direct link into ``folder``; progress counts ``before`` bytes done already."""
        options = HttpOptions(
            headers=dict(link.headers), name=name,
            allow_private=self._settings.allow_private, max_size=self._settings.max_size,
            host_down_timeout=self._settings.host_down_timeout,
            resume_key=f"{strip_credentials(task.spec.source)}#{link.folder}/{link.name or ''}",
            # The owner's HOSTS_BASE_URLS on the download's redirect hops too (a share that
            # redirects to its content domain); it leaves every URL alone when unset.
            rewrite=self._rebase,
        )

        def on_probe(probe: ProbeResult) -> None:
            if is_web_page(probe.content_type):  # a captcha or an error page, not the file
                raise HostChanged(self.host.name, "the file behind the download link")
            if single:  # the status shows the real name as soon as the host told it
                task.name = probe.name
            task.progress(before, probe.size if single else total)

        return self._http.download(
            link.url, folder, with_disk_gate(options, self._disk, task),
            progress=lambda done, size: task.progress(
                before + done, size if single else total),
            cancel=task.cancel_event, on_probe=on_probe,
            on_note=lambda text: setattr(task, "note", text))


def inside(workdir: Path, root: Path, folder: str) -> Path:
    """``root``/``folder`` with each part of ``folder`` a safe name ("." and ".." are dropped:
    a share's folder never climbs), refused (SecurityError) unless it stays inside the task's
    ``workdir``."""
    path = root
    for part in folder.replace("\\", "/").split("/"):
        if part.strip() not in ("", ".", ".."):
            path = path / sanitize_filename(part)
    if not path.resolve().is_relative_to(workdir.resolve()):
        raise SecurityError("a file of the share would land outside the task's folder")
    return path


def free_name(folder: Path, name: str, taken: set[Path]) -> str:
    """``name``, or ``name (1).ext``, ``name (2).ext``... when an earlier file of the same
    share took it in ``folder``; the name given is added to ``taken``. The same share lists
    its files in the same order, so a resumed run gives each file the same name again."""
    stem, dot, ext = name.rpartition(".") if "." in name.lstrip(".") else (name, "", "")
    candidate, n = name, 0
    while folder / candidate in taken:
        n += 1
        candidate = f"{stem} ({n}){dot}{ext}"
    taken.add(folder / candidate)
    return candidate


def _partial(path: Path) -> bool:
    """An earlier run's download of ``path`` still in progress (its ``.part`` is there)."""
    return path.with_name(path.name + ".part").exists()


def host_link_factory(settings: HttpSettings, bases: Mapping[str, str] | None = None,
                      http: HttpSource | None = None, disk: DiskSpace | None = None,
                      hosts: tuple[Host, ...] = registry.HOSTS) -> SourceFactory:
    """A :data:`~telebot.engine.pipeline.SourceFactory` for links on a registered host's
    domain. ``bases`` is ``HOSTS_BASE_URLS`` (the owner's: hosts sent elsewhere, for tests)."""
    downloader = http or HttpSource()
    rebase = Rebase(hosts, bases or {})

    def factory(spec: TaskSpec) -> Source | None:
        host = registry.find(spec.source, hosts)
        if host is None or spec.tool is not None:
            return None
        return HostLinkSource(host, settings, downloader, rebase, disk)

    return factory
