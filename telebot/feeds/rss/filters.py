"""Title filters of a subscription: ``-inf "a b|c"`` and ``-exf "x"``.

A filter is groups of words separated by ``|``. A title *hits* a filter when every word of at
least one group appears in it (case-insensitive, as a substring: ``1080`` hits ``1080p``). An
item is taken when it hits the include filter (no include filter: every title does) and does
not hit the exclude filter.
"""

from __future__ import annotations

from dataclasses import dataclass

from telebot.errors import BadInputError

#: Bounds that keep a stored filter small: far beyond any real one.
MAX_GROUPS = 20
MAX_WORDS = 20


@dataclass(frozen=True)
class Filter:
    """Groups of lower-case words; empty means "no filter given"."""

    groups: tuple[tuple[str, ...], ...] = ()

    @classmethod
    def parse(cls, text: str | None, flag: str = "-inf") -> Filter:
        """``"a b|c"`` → ((a, b), (c,)); empty groups are dropped. BadInputError past the
        bounds, or when text was given but holds no word."""
        if text is None:
            return cls()
        groups = tuple(
            tuple(word.casefold() for word in part.split())
            for part in text.split("|")
            if part.split()
        )
        if not groups:
            raise BadInputError(f'{flag} needs words, e.g. {flag} "1080p|720p x265".')
        if len(groups) > MAX_GROUPS or any(len(group) > MAX_WORDS for group in groups):
            raise BadInputError(
                f"{flag} takes at most {MAX_GROUPS} groups of at most {MAX_WORDS} words."
            )
        return cls(groups)

    def __bool__(self) -> bool:
        return bool(self.groups)

    def hits(self, title: str) -> bool:
        """Every word of some group is in ``title`` (False for an empty filter)."""
        folded = title.casefold()
        return any(all(word in folded for word in group) for group in self.groups)

    def text(self) -> str:
        """As the user writes it (stored, shown by /rss list)."""
        return "|".join(" ".join(group) for group in self.groups)


def wanted(title: str, include: Filter, exclude: Filter) -> bool:
    """Whether an item titled ``title`` becomes a task."""
    if include and not include.hits(title):
        return False
    return not exclude.hits(title)
