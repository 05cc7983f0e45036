"""``/search -cat <word>``: the words users type → standard Torznab (Newznab) category ids.

The ids are the standard top-level categories every Torznab indexer understands (docs/FEEDS.md);
an indexer answers a parent id with its sub-categories too, so ``movies`` (2000) finds HD and
UHD movies alike.
"""

from __future__ import annotations

from telebot.errors import BadInputError

CATEGORIES: dict[str, tuple[int, ...]] = {
    "movies": (2000,),
    "tv": (5000,),
    "anime": (5070,),
    "music": (3000,),
    "audio": (3000,),
    "audiobooks": (3030,),
    "books": (7000,),
    "ebooks": (7020,),
    "comics": (7030,),
    "games": (1000, 4050),
    "console": (1000,),
    "software": (4000,),
    "pc": (4000,),
    "other": (8000,),
}


def category_ids(word: str) -> tuple[int, ...]:
    """The ids of one ``-cat`` word (any case); BadInputError listing the known words."""
    ids = CATEGORIES.get(word.strip().lower())
    if ids is None:
        known = "|".join(CATEGORIES)
        raise BadInputError(f"Unknown category {word[:20]!r}: use -cat {known}.")
    return ids
