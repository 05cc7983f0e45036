"""What resolvers read in a host's HTML: tags and their attributes, forms, the title.

Pages are untrusted bytes, so they are read with the standard library's
:class:`html.parser.HTMLParser` (a linear tokenizer, no regular expression that can blow up)
and only after the :class:`PageClient` capped their size. Nothing here runs or follows
anything: it only reports what the page holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass(frozen=True)
class Tag:
    """One start tag: its name (lower case), attributes (names lower case, values unescaped;
    a bare attribute is ""), and the index of the form it sits in (None: in none)."""

    name: str
    attrs: dict[str, str]
    form: int | None = None

    def has_class(self, *names: str) -> bool:
        classes = self.attrs.get("class", "").split()
        return all(n in classes for n in names)


@dataclass
class Form:
    """A ``<form>``: its attributes and the named inputs inside it (name -> value)."""

    attrs: dict[str, str]
    inputs: dict[str, str] = field(default_factory=dict)


class _Scanner(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[Tag] = []
        self.forms: list[Form] = []
        self._form: int | None = None
        self._in_title = False
        self._hidden = 0  # inside <script> or <style>: not text a reader sees
        self.title: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append(Form(values))
            self._form = len(self.forms) - 1
        elif tag in ("input", "button", "select", "textarea") and self._form is not None:
            name = values.get("name")
            kind = values.get("type", "").lower()
            if kind in ("checkbox", "radio"):  # sent as a browser sends them: only if checked
                if name and "checked" in values:
                    self.forms[self._form].inputs.setdefault(name, values.get("value") or "on")
            elif name and kind not in ("submit", "button", "image", "reset"):
                self.forms[self._form].inputs.setdefault(name, values.get("value", ""))
        elif tag == "title" and not self.title:
            self._in_title = True
        elif tag in ("script", "style"):
            self._hidden += 1
        self.tags.append(Tag(tag, values, self._form))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._form = None
        elif tag == "title":
            self._in_title = False
        elif tag in ("script", "style"):
            self._hidden = max(0, self._hidden - 1)

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._hidden:
            self.text.append(data)


@dataclass(frozen=True)
class Scan:
    """A page read once: every start tag in order, every form, the title, and the text a
    reader sees (outside scripts and styles), spaces collapsed."""

    tags: tuple[Tag, ...]
    forms: tuple[Form, ...]
    title: str | None
    text: str = ""

    def find(self, tag_name: str, /, **attrs: str) -> Tag | None:
        """The first ``<tag_name>`` whose attributes have these values (``class_`` for class: one
        of its classes; ``id``, ``aria_label`` ... with ``_`` for ``-``)."""
        for tag in self.find_all(tag_name, **attrs):
            return tag
        return None

    def find_all(self, tag_name: str, /, **attrs: str) -> list[Tag]:
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [tag for tag in self.tags if tag.name == tag_name and all(
            (v in tag.attrs.get("class", "").split()) if k == "class" else tag.attrs.get(k) == v
            for k, v in wanted.items())]

    def form(self, **attrs: str) -> Form | None:
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        for form in self.forms:
            if all(form.attrs.get(k) == v for k, v in wanted.items()):
                return form
        return None


def scan(text: str) -> Scan:
    """Read ``text`` as HTML (never raises on broken markup)."""
    scanner = _Scanner()
    scanner.feed(text)
    scanner.close()
    title = " ".join("".join(scanner.title).split())
    text = " ".join(" ".join(scanner.text).split())
    return Scan(tuple(scanner.tags), tuple(scanner.forms), title or None, text)

