"""Krakenfiles: the view page's download form, posted for a JSON answer with the link.

Facts relied on (docs/HOSTS.md): a share is ``https://krakenfiles.com/view/<id>/file.html``;
its page holds ``<form id="dl-form" action="/download/<hash>">`` with a hidden ``token``
input; posting the token there answers ``{"status": "ok", "url": "<direct link>"}``. The file's
name is in the page's title (``<name> - Krakenfiles.com``); a deleted file answers 404.
"""

from __future__ import annotations

from urllib.parse import urljoin

from telebot.errors import HTTPStatusError
from telebot.sources.hosts.base import DirectLink, HostChanged, HostRefused, PageClient, Resolved
from telebot.sources.hosts.pagescan import scan


class Krakenfiles:
    name: str = "Krakenfiles"
    domains: tuple[str, ...] = ("krakenfiles.com",)
    service_domains: tuple[str, ...] = ()

    def resolve(self, link: str, client: PageClient, password: str | None) -> Resolved:
        try:
            page = client.get(link)
        except HTTPStatusError as exc:
            if exc.status in (404, 410):
                raise HostRefused(self.name, "the file was deleted or the link is wrong") from exc
            raise
        found = scan(page.text)
        form = found.form(id="dl-form")
        if form is None:
            if "file not found" in found.text.lower():
                raise HostRefused(self.name, "the file was deleted or the link is wrong")
            raise HostChanged(self.name, "the download form")
        token = form.inputs.get("token")
        action = form.attrs.get("action")
        if not token or not action:
            raise HostChanged(self.name, "the download form's token")
        answer = client.post(urljoin(page.url, action), data={"token": token},
                             headers={"Referer": page.url, "X-Requested-With": "XMLHttpRequest"})
        try:
            body = answer.json()
        except ValueError as exc:
            raise HostChanged(self.name, "the download link in the form's answer") from exc
        url = body.get("url") if isinstance(body, dict) else None
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise HostChanged(self.name, "the download link in the form's answer")
        return Resolved(self.name, (DirectLink(url, name=_name(found.title),
                                               headers={"Referer": page.url}),))


def _name(title: str | None) -> str | None:
    """The file's name, from the page's title ("<name> - Krakenfiles.com"), if it says."""
    if title is None or not title.endswith(" - Krakenfiles.com"):
        return None
    return title.removesuffix(" - Krakenfiles.com").strip() or None


HOST = Krakenfiles()
