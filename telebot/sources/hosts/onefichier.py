"""1fichier: the file page's form posted back, then the orange button's link.

Facts relied on (docs/HOSTS.md): a share is ``https://1fichier.com/?<id>`` (older links:
``https://<id>.1fichier.com/``). Its page is a form posted back to the same address (a
protected file's form has a ``pass`` field); the answer to the post holds the direct link in
``<a class="ok btn-general btn-orange" href=...>``. Without it, the page says why in a
``ct_warn`` box: a wait between free downloads ("you must wait N minutes"), a bad password,
or a file that does not exist (also a 404).
"""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from telebot.errors import HTTPStatusError
from telebot.sources.hosts.base import DirectLink, HostChanged, HostRefused, PageClient, Resolved
from telebot.sources.hosts.pagescan import Form, Scan, scan

# The download servers' names ("a-7.1fichier.com"): their links are the files themselves.
_DIRECT = re.compile(r"a-\d{1,4}\.1fichier\.com")
# A number of minutes after the phrase; bounded, so linear on any text.
_WAIT = re.compile(r"you must wait (?:at least )?(\d{1,4}) ?min", re.IGNORECASE)


class OneFichier:
    name: str = "1fichier"
    domains: tuple[str, ...] = ("1fichier.com",)
    service_domains: tuple[str, ...] = ()

    def resolve(self, link: str, client: PageClient, password: str | None) -> Resolved:
        if _DIRECT.fullmatch((urlsplit(link).hostname or "").lower()):
            return Resolved(self.name, (DirectLink(link),))  # already a download server's link
        try:
            page = client.get(link)
        except HTTPStatusError as exc:
            if exc.status == 404:
                raise HostRefused(self.name, "the file was deleted or the link is wrong") from exc
            raise
        found = scan(page.text)
        if _missing(found.text.lower()):
            raise HostRefused(self.name, "the file was deleted or the link is wrong")
        form = _download_form(found, page.url)
        if form is None:
            raise HostChanged(self.name, "the download form")
        protected = "pass" in form.inputs
        if protected and not password:
            raise HostRefused(self.name, "the file has a password: send it with -ap")
        data = {k: v for k, v in form.inputs.items() if k != "pass"}
        data.setdefault("dl_no_ssl", "on")  # the page's own checkbox; the answer is the same
        if protected and password:
            data["pass"] = password
        target = urljoin(page.url, form.attrs.get("action") or page.url)
        answer = scan(client.post(target, data=data).text)
        button = answer.find("a", class_="btn-orange")
        if button is None or not button.has_class("ok", "btn-general", "btn-orange"):
            self._refusals(answer, password)
            raise HostChanged(self.name, "the download link after the form")
        url = button.attrs.get("href", "")
        if not url.startswith(("https://", "http://")):
            raise HostChanged(self.name, "the download link after the form")
        return Resolved(self.name, (DirectLink(url, headers={"Referer": page.url}),))

    def _refusals(self, found: Scan, password: str | None) -> None:
        """What the answer to the form says instead of the link (its ``ct_warn`` box)."""
        text = found.text.lower()
        waited = _WAIT.search(text)
        if waited is not None:
            raise HostRefused(self.name, f"free downloads must wait {waited.group(1)} minutes "
                                         "between files; try again later")
        if "one file at a time" in text or "simultaneous" in text:
            raise HostRefused(self.name, "one free download at a time; try again later")
        if "bad password" in text or "mot de passe incorrect" in text:
            raise HostRefused(self.name, "the password is wrong")
        if _missing(text):
            raise HostRefused(self.name, "the file was deleted or the link is wrong")
        if password is None and found.find("input", name="pass") is not None:
            raise HostRefused(self.name, "the file has a password: send it with -ap")


def _missing(text: str) -> bool:
    return any(words in text for words in (
        "file not found", "does not exist", "n'existe pas", "has been deleted"))


def _download_form(found: Scan, page_url: str) -> Form | None:
    """The page's own post form: the one posted back to the share's address (``?<id>``),
    else the first post form (a search or login form posts elsewhere)."""
    posts = [f for f in found.forms if f.attrs.get("method", "").lower() == "post"]
    query = urlsplit(page_url).query
    for form in posts:
        action = form.attrs.get("action", "")
        if not action or (query and urlsplit(urljoin(page_url, action)).query == query):
            return form
    return posts[0] if posts else None


HOST = OneFichier()
