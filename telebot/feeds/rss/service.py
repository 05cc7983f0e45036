"""What /rss does, and what one check of a feed does.

A check fetches the feed (conditional GET), and each item not seen before whose title passes
the filters becomes a :class:`~telebot.intake.request.Request` of its subscriber handed to
:meth:`~telebot.intake.desk.Intake.submit`, exactly like a typed command: authorization, the
user's limits, STOP_DUPLICATE, the disk guard and the sources' link checks (ALLOW_PRIVATE_LINKS)
all apply, so a feed can never start what its subscriber could not. A refusal is told to the
subscriber's chat.

**At most once, across kill -9.** Submitting a task and recording the item cannot share one
SQLite transaction (the intake writes the task journal in its own), so an item is first
recorded as 'submitting' (committed), then submitted, then recorded 'done' or 'refused'. A
stop between the first write and the last leaves it 'submitting': at the next start it is
marked 'unsure' and its subscriber is told that it may not have started, and it is never
submitted again. The other order (submit, then record) could start it twice; a duplicate
download is the worse harm, and the one message says what to do.

Blocking (HTTP, SQLite, the intake): never on the event loop.
"""

from __future__ import annotations

import html
import logging
import re
import shlex
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace

from telebot.errors import BadInputError, SecurityError, TaskCancelled, TelebotError
from telebot.feeds.rss.book import (
    DONE,
    FILTERED,
    REFUSED,
    SUBMITTING,
    FeedBook,
    Subscription,
    guid_hash,
)
from telebot.feeds.rss.fetch import FeedFetcher, Validators
from telebot.feeds.rss.filters import Filter, wanted
from telebot.feeds.rss.items import Feed, Item, parse_feed
from telebot.intake.args import MAX_LINK_LENGTH, TaskArgs, parse_task_args, split_words
from telebot.intake.desk import NOT_AUTHORIZED
from telebot.intake.request import Outcome, Request, Requester
from telebot.intake.specs import COMMANDS
from telebot.shown import html_name

log = logging.getLogger(__name__)

#: Checks failing in a row before a feed is paused (with one message to its subscriber).
MAX_FAILURES = 5
#: Items one check submits at most, started or refused; the rest wait for the next check (an
#: -all on a long feed, or a feed that published a burst, must not queue a hundred tasks or
#: send a hundred refusals at once).
MAX_STARTS_PER_CHECK = 10
#: /rss get shows this many items by default, and at most MAX_SHOWN.
DEFAULT_SHOWN = 5
MAX_SHOWN = 20
#: Subscriptions one user may hold (each is polled every RSS_INTERVAL).
MAX_FEEDS_PER_USER = 50
#: Items remembered per feed (at least twice what the feed lists now): the oldest beyond go.
KEEP_ITEMS = 5000
DEFAULT_COMMAND = "mirror"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
#: Flags a feed's -c cannot use: they read the chat (-b, -i, -m) or wait for a person (-s).
_INTERACTIVE = {"bulk": "-b", "multi": "-i", "folder": "-m", "select": "-s"}

USAGE = (
    'Write /rss add <feed url> [name] [-inf "word|word word"] [-exf "word"] '
    '[-c "/mirror -up remote:path"] [-all]; /rss list, /rss get <name> [n], '
    "/rss check|pause|resume|remove <name>."
)

#: How long /rss check waits for the check's outcome before answering without it.
CHECK_WAIT = 60.0

Submit = Callable[[Request], Outcome]
Notify = Callable[[int, str], None]  # (chat id, HTML text), from any thread but the loop's
#: Refuses an item's link before it is submitted (SecurityError: a private address without
#: ALLOW_PRIVATE_LINKS); the source would refuse it too, after a task was made for it.
LinkCheck = Callable[[str], None]


def _unchecked(link: str) -> None:
    return None


def _no_poller(feed_id: int) -> Future[str]:
    done: Future[str] = Future()
    done.cancel()
    return done


@dataclass(frozen=True)
class AddRequest:
    """``/rss add``'s words, checked."""

    url: str
    name: str | None
    command: str
    flags: str
    include: Filter
    exclude: Filter
    everything: bool  # -all: the items already in the feed start too


def parse_add(text: str, resolve: Callable[[str], str | None]) -> AddRequest:
    """The words after ``/rss add``; ``resolve`` turns a command name or alias into a task
    command's name (None: not one). BadInputError says what is wrong."""
    words = split_words(text, "rss add")
    values: dict[str, str] = {}
    everything = False
    positional: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("-inf", "-exf", "-c"):
            if i + 1 >= len(words):
                raise BadInputError(f"{word} needs a value. {USAGE}")
            if word in values:
                raise BadInputError(f"{word} is given twice: give it once.")
            values[word] = words[i + 1]
            i += 2
        elif word == "-all":
            everything = True
            i += 1
        elif word.startswith("-") and len(word) > 1:
            raise BadInputError(f"Unknown /rss add flag {word[:20]}. {USAGE}")
        else:
            positional.append(word)
            i += 1
    if not positional:
        raise BadInputError(USAGE)
    if len(positional) > 2:
        raise BadInputError(f"Unexpected {positional[2][:40]!r}. {USAGE}")
    url = positional[0]
    if not re.match(r"^https?://", url, re.IGNORECASE) or len(url) > MAX_LINK_LENGTH:
        raise BadInputError("The feed must be an http:// or https:// link.")
    name = positional[1] if len(positional) > 1 else None
    if name is not None:
        check_name(name)
    command, flags = parse_command(values.get("-c"), resolve)
    return AddRequest(
        url, name, command, flags,
        Filter.parse(values.get("-inf"), "-inf"), Filter.parse(values.get("-exf"), "-exf"),
        everything,
    )


def check_name(name: str) -> None:
    if not _NAME.match(name):
        raise BadInputError(
            "A feed's name is 1 to 32 letters, digits, '.', '_' or '-', starting with a letter "
            "or digit."
        )


def parse_command(text: str | None, resolve: Callable[[str], str | None]) -> tuple[str, str]:
    """``-c "/mirror -up remote:path -z"`` → ("mirror", "-up remote:path -z"), the flags
    checked now by the task parser (a bad flag is refused at once, not at the first item)."""
    if text is None or not text.strip():
        return DEFAULT_COMMAND, ""
    first, _, flags = text.strip().partition(" ")
    command = resolve(first.lstrip("/"))
    if command is None or command not in COMMANDS:
        names = ", ".join(f"/{name}" for name in COMMANDS)
        raise BadInputError(f"-c starts with a task command ({names}), not {first[:30]!r}.")
    flags = flags.strip()
    try:
        # Parsed as each item's task will be: the link first, then the flags (an optional
        # value, -z <password>, is read only after a link).
        args = parse_task_args(f"{_ITEM_LINK} {flags}", command)
    except BadInputError as exc:
        if "Unexpected" in str(exc):
            raise BadInputError("-c takes a command and its flags; the link is each item's.") \
                from None
        raise BadInputError(f"-c: {exc}") from None
    _check_unattended(args)
    return command, flags


#: Stands for an item's link while -c's flags are checked.
_ITEM_LINK = "https://feed.item/link"


def _check_unattended(args: TaskArgs) -> None:
    for name, flag in _INTERACTIVE.items():
        if getattr(args, name):
            raise BadInputError(f"-c cannot use {flag}: a feed's tasks run with nobody there.")


@dataclass
class Tally:
    """What one check did with the feed's new items."""

    started: list[str] = field(default_factory=list)  # titles
    filtered: int = 0
    refused: int = 0
    complete: bool = True  # False: items were left for the next check

    def summary(self) -> str:
        parts = [f"{len(self.started)} new item{'s' if len(self.started) != 1 else ''} started"]
        if self.filtered:
            parts.append(f"{self.filtered} left out by the filters")
        if self.refused:
            parts.append(f"{self.refused} refused")
        if not self.complete:
            parts.append("more at the next check")
        return ", ".join(parts) + "."


class RssService:
    """The subscriptions of one bot. Thread-safe (the store serializes; checks of one feed
    never submit an item twice: :meth:`FeedBook.claim`)."""

    def __init__(
        self, book: FeedBook, fetcher: FeedFetcher, submit: Submit, notify: Notify,
        *, resolve: Callable[[str], str | None], check_link: LinkCheck = _unchecked,
    ) -> None:
        self.book = book
        self._fetcher = fetcher
        self._submit = submit
        self._notify = notify
        self._resolve = resolve
        self._check_link = check_link
        # Asks the poller to check a feed now; the future gets the check's summary.
        self.poke: Callable[[int], Future[str]] = _no_poller

    # -- /rss add, list, pause, resume, remove, get, check -------------------------------------

    def add(self, user_id: int, chat_id: int, text: str) -> str:
        asked = parse_add(text, self._resolve)
        if len(self.book.all(user_id)) >= MAX_FEEDS_PER_USER:
            raise BadInputError(f"You have {MAX_FEEDS_PER_USER} feeds: remove one first.")
        if asked.name is not None and self.book.name_taken(user_id, asked.name):
            raise BadInputError(f"You already have a feed named {asked.name}.")
        try:
            fetched = self._fetcher.fetch(asked.url)
            feed = parse_feed(fetched.body or b"")
        except TelebotError as exc:
            raise BadInputError(f"Could not read the feed: {exc}") from None
        name = asked.name or self._free_name(user_id, feed.title or asked.url)
        seen = [] if asked.everything else [(item.guid, item.title) for item in feed.items]
        sub = self.book.add(
            user_id=user_id, chat_id=chat_id, name=name, url=asked.url, command=asked.command,
            flags=asked.flags, include=asked.include, exclude=asked.exclude,
            # -all: no validators, so the first check reads the whole feed and starts it.
            validators=Validators() if asked.everything else fetched.validators,
            seen=seen,
        )
        log.info("user %s subscribed to feed %s (%d items there)", user_id, sub.id, len(feed.items))
        if asked.everything:
            self.poke(sub.id)
        count = len(feed.items)
        items = f"{count} item{'s' if count != 1 else ''}"
        now = (f"{items} there now, which start too" if asked.everything
               else f"{items} there now, skipped")
        return (
            f"✅ Subscribed to <b>{html.escape(feed.title or name)}</b> as "
            f"<code>{html.escape(name)}</code>: {now}; new items start "
            f"<code>{html.escape(_task_line(sub))}</code>.{_filters_line(sub)}"
        )

    def list_text(self, user_id: int, sudo: bool) -> str:
        subs = self.book.all(None if sudo else user_id)
        if not subs:
            return "No RSS subscriptions. " + html.escape(USAGE)
        lines = ["<b>RSS subscriptions</b>"]
        for sub in subs:
            state = "⏸ paused" if sub.paused else "▶️"
            owner = f" (user <code>{sub.user_id}</code>)" if sub.user_id != user_id else ""
            lines.append(
                f"{state} <code>{html.escape(sub.name)}</code>{owner}: "
                f"<code>{html.escape(_task_line(sub))}</code>{_filters_line(sub)}"
            )
        return "\n".join(lines)

    def pause(self, user_id: int, sudo: bool, ref: str) -> str:
        sub = self.find(user_id, sudo, ref)
        self.book.set_paused(sub.id, True)
        return f"⏸ Paused <code>{html.escape(sub.name)}</code>."

    def resume(self, user_id: int, sudo: bool, ref: str) -> str:
        sub = self.find(user_id, sudo, ref)
        self.book.set_paused(sub.id, False)
        self.poke(sub.id)
        return f"▶️ Resumed <code>{html.escape(sub.name)}</code>; checking it now."

    def remove(self, user_id: int, sudo: bool, ref: str) -> str:
        sub = self.find(user_id, sudo, ref)
        self.book.remove(sub.id)
        return f"🗑 Removed <code>{html.escape(sub.name)}</code>."

    def check_now(self, user_id: int, sudo: bool, ref: str) -> str:
        sub = self.find(user_id, sudo, ref)
        if sub.paused:
            raise BadInputError(f"{sub.name} is paused: /rss resume {sub.name} checks it.")
        try:
            summary = self.poke(sub.id).result(CHECK_WAIT)
        except FutureTimeout:
            return f"🔄 Checking <code>{html.escape(sub.name)}</code>: still busy, news come here."
        except Exception:  # cancelled: the bot is stopping
            return "The bot is stopping: try again once it is back."
        return f"🔄 <code>{html.escape(sub.name)}</code>: {summary}"

    def recent(self, user_id: int, sudo: bool, ref: str, count: str | None) -> str:
        sub = self.find(user_id, sudo, ref)
        if count is None:
            shown = DEFAULT_SHOWN
        elif count.isdigit() and 1 <= int(count) <= MAX_SHOWN:
            shown = int(count)
        else:
            raise BadInputError(f"/rss get {sub.name} [n]: n is a number from 1 to {MAX_SHOWN}.")
        try:
            feed = parse_feed(self._fetcher.fetch(sub.url).body or b"")
        except TelebotError as exc:
            raise BadInputError(f"Could not read {sub.name}: {exc}") from None
        known = self.book.known(sub.id)
        lines = [f"<b>{html.escape(feed.title or sub.name)}</b>: the last {shown} items"]
        for item in feed.items[:shown]:
            mark = "•" if guid_hash(item.guid) in known else "🆕"
            if not wanted(item.title, sub.include, sub.exclude):
                mark = "⏭"
            lines.append(f"{mark} {html_name(item.title)}")
        if len(lines) == 1:
            lines.append("(no items)")
        lines.append("🆕 not handled yet · ⏭ left out by the filters · • handled")
        return "\n".join(lines)

    def find(self, user_id: int, sudo: bool, ref: str) -> Subscription:
        """The subscription ``ref`` names: the user's own; for sudo users also anyone's
        (``name@user id`` when several users have one of that name)."""
        name, _, owner = ref.partition("@")
        mine = [s for s in self.book.all(user_id) if s.name == name] if not owner else []
        if mine:
            return mine[0]
        if sudo:
            others = [s for s in self.book.all() if s.name == name
                      and (not owner or str(s.user_id) == owner)]
            if len(others) == 1:
                return others[0]
            if others:
                raise BadInputError(
                    f"Several users have a feed named {name}: write {name}@<user id>."
                )
        raise BadInputError(f"You have no feed named {name[:40]}. /rss list shows yours.")

    # -- one check --------------------------------------------------------------------------

    def report_interrupted(self) -> None:
        """Tell the subscribers about items a stop left half-submitted (once, at start)."""
        for feed_id, title in self.book.interrupted():
            sub = self.book.get(feed_id)
            if sub is None:
                continue
            self._tell(sub.chat_id, (
                f"⚠️ RSS <code>{html.escape(sub.name)}</code>: the bot stopped while starting "
                f"{html_name(title)}, so it may not have started. It will not be started "
                "again by the feed: send it yourself if it is missing."
            ))

    def check(self, feed_id: int, stop: threading.Event) -> str:
        """Fetch one feed and start its new wanted items (see the module docstring); returns
        what happened, as a line for /rss check (HTML)."""
        sub = self.book.get(feed_id)
        if sub is None:
            return "removed"
        if sub.paused:
            return "paused"
        try:
            fetched = self._fetcher.fetch(sub.url, sub.validators, stop)
            feed = None if fetched.body is None else parse_feed(fetched.body)
        except TaskCancelled:
            return "stopped"
        except Exception as exc:  # every failure counts; a programming error is logged too
            return self._failed(sub, exc)
        if feed is None:
            self.book.answered(sub.id, fetched.validators)
            return "nothing new (the feed has not changed)."
        tally = self._start_new(sub, feed, stop)
        self.book.prune(sub.id, max(KEEP_ITEMS, 2 * len(feed.items)))
        # The validators are kept only once every item was handled: a 304 must not hide items
        # left for the next check (the per-check cap, a stop).
        self.book.answered(sub.id, fetched.validators if tally.complete else sub.validators)
        return tally.summary()

    def _failed(self, sub: Subscription, exc: Exception) -> str:
        if not isinstance(exc, TelebotError):
            log.warning("RSS feed %s: %s: %s", sub.id, type(exc).__name__, exc)
        reason = str(exc) if isinstance(exc, TelebotError) else type(exc).__name__
        count, paused = self.book.failed(sub.id, MAX_FAILURES)
        log.info("RSS feed %s failed (%d in a row): %s", sub.id, count, reason)
        if paused:
            self._tell(sub.chat_id, (
                f"⏸ RSS <code>{html.escape(sub.name)}</code> is paused: {count} checks in a row "
                f"failed (last: {html.escape(reason)}). /rss resume {html.escape(sub.name)} "
                "tries again."
            ))
        return f"the check failed ({count} in a row): {html.escape(reason)}"

    def _start_new(self, sub: Subscription, feed: Feed, stop: threading.Event) -> Tally:
        """Submit the feed's new wanted items, oldest first."""
        known = self.book.known(sub.id)
        fresh: dict[str, Item] = {}
        for item in reversed(feed.items):  # feeds list the newest first
            key = guid_hash(item.guid)
            if key not in known and key not in fresh:
                fresh[key] = item
        tally = Tally()
        try:
            for item in fresh.values():
                if stop.is_set():
                    tally.complete = False
                    break
                if not wanted(item.title, sub.include, sub.exclude):
                    self.book.claim(sub.id, item.guid, item.title, FILTERED)
                    tally.filtered += 1
                    continue
                if len(tally.started) + tally.refused >= MAX_STARTS_PER_CHECK:
                    tally.complete = False
                    break
                if not self._start(sub, item, tally):
                    break  # the subscriber may no longer start tasks: the feed is paused
        finally:
            self._tell_started(sub, tally.started)
        return tally

    def _start(self, sub: Subscription, item: Item, tally: Tally) -> bool:
        """Submit one item; False when the feed was paused for it."""
        if not self.book.claim(sub.id, item.guid, item.title, SUBMITTING):
            return True  # another check took it meanwhile
        try:
            self._check_link(item.link)
            refused = None
        except SecurityError as exc:
            refused = Outcome(refusal=str(exc))
        except TelebotError:
            refused = None  # a host that does not resolve now: the source's to retry
        words = f"{shlex.quote(item.link)} {sub.flags}".strip()
        args: str | TaskArgs = words
        if item.torrent_file and refused is None:
            # A .torrent enclosure's path rarely says so (/dl/<id>?passkey=...): tell the intake.
            try:
                args = replace(parse_task_args(words, COMMANDS[sub.command].kind),
                               torrent_link=True)
            except BadInputError as exc:
                refused = Outcome(refusal=str(exc))
        outcome = refused or self._submit(Request(Requester(sub.user_id, sub.chat_id),
                                                  sub.command, args))
        if outcome.refusal is None:
            self.book.settle(sub.id, item.guid, DONE, outcome.gids[0] if outcome.gids else None)
            tally.started.append(item.title)
            return True
        self.book.settle(sub.id, item.guid, REFUSED)
        tally.refused += 1
        self._refused(sub, item, outcome.refusal)
        if outcome.refusal == NOT_AUTHORIZED:
            self.book.set_paused(sub.id, True)
            return False
        return True

    def _refused(self, sub: Subscription, item: Item, refusal: str) -> None:
        log.info("RSS feed %s: item refused: %s", sub.id, refusal)
        paused = " The feed is paused." if refusal == NOT_AUTHORIZED else ""
        self._tell(sub.chat_id, (
            f"❌ RSS <code>{html.escape(sub.name)}</code>: {html_name(item.title)} was not "
            f"started: {html.escape(refusal)}{paused}"
        ))

    def _tell_started(self, sub: Subscription, titles: list[str]) -> None:
        if not titles:
            return
        listed = "\n".join(f"• {html_name(title)}" for title in titles)
        self._tell(sub.chat_id, (
            f"📰 RSS <code>{html.escape(sub.name)}</code>: started {len(titles)} new "
            f"item{'s' if len(titles) != 1 else ''}:\n{listed}"
        ))

    def _tell(self, chat_id: int, text: str) -> None:
        try:
            self._notify(chat_id, text)
        except Exception as exc:  # a lost notice must not stop the feed's other items
            log.warning("RSS: could not message chat %s: %s", chat_id, exc)

    def _free_name(self, user_id: int, title: str) -> str:
        base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:24] or "feed"
        if not base[0].isalnum():
            base = "feed"
        name, number = base, 1
        while self.book.name_taken(user_id, name):
            number += 1
            name = f"{base}-{number}"
        return name


def _task_line(sub: Subscription) -> str:
    return f"/{sub.command} {sub.flags}".strip()


def _filters_line(sub: Subscription) -> str:
    parts = []
    if sub.include:
        parts.append(f"only <code>{html.escape(sub.include.text())}</code>")
    if sub.exclude:
        parts.append(f"not <code>{html.escape(sub.exclude.text())}</code>")
    return (" Titles: " + ", ".join(parts) + ".") if parts else ""
