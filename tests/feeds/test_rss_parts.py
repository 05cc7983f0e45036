"""/rss's parts without the bot: filters, the feed parser, the -c check, the guarded fetch
(against a loopback feed), and a check of a subscription in a real SQLite store."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from telebot.errors import BadInputError, DownloadError, SecurityError
from telebot.feeds.rss.book import FeedBook, guid_hash
from telebot.feeds.rss.fetch import MAX_FEED_BYTES, FeedFetcher
from telebot.feeds.rss.filters import Filter, wanted
from telebot.feeds.rss.items import parse_feed
from telebot.feeds.rss.service import MAX_FAILURES, RssService, parse_add, parse_command
from telebot.intake.args import TaskArgs
from telebot.intake.request import Outcome, Request
from telebot.resilience import BreakerConfig, BreakerRegistry, ErrorTracker
from telebot.resilience.retry import RetryPolicy
from telebot.sources.http.netguard import check_url
from telebot.store import Store
from tests.fakes.feed import FakeFeeds, FeedItem
from tests.fakes.origin import FakeOrigin

ALIASES = {"m": "mirror", "mirror": "mirror", "leech": "leech", "l": "leech"}


# -- filters ---------------------------------------------------------------------------------


def test_include_needs_every_word_of_some_group() -> None:
    include = Filter.parse("1080p x265|720P")
    assert include.groups == (("1080p", "x265"), ("720p",))
    assert wanted("Show S01E01 1080p WEB x265", include, Filter())
    assert wanted("show 720p", include, Filter())
    assert not wanted("Show 1080p x264", include, Filter())  # one word of the group missing


def test_exclude_drops_a_title_that_has_all_words_of_any_group() -> None:
    exclude = Filter.parse("cam|hdts sample", "-exf")
    assert not wanted("Movie CAM 2024", Filter(), exclude)
    assert wanted("Movie HDTS 2024", Filter(), exclude)  # only one word of "hdts sample"
    assert not wanted("Movie hdts Sample", Filter(), exclude)
    assert wanted("Anything at all", Filter(), Filter())  # no filters: every title


def test_a_filter_without_words_is_refused() -> None:
    with pytest.raises(BadInputError, match="-exf needs words"):
        Filter.parse(" | ", "-exf")
    assert Filter.parse("a  b |c").text() == "a b|c"


# -- the feed parser ------------------------------------------------------------------------


RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Tracker</title>
<item><title>Two</title><link>https://tracker.example/t/2</link><guid>id-2</guid>
<enclosure url="https://tracker.example/dl/2.torrent" type="application/x-bittorrent"
 length="10"/></item>
<item><title>One</title><link>magnet:?xt=urn:btih:0123456789abcdef0123456789abcdef01234567</link>
</item></channel></rss>"""


def test_rss_items_take_the_torrent_enclosure_else_the_link() -> None:
    feed = parse_feed(RSS)
    assert feed.title == "Tracker"
    two, one = feed.items
    assert (two.guid, two.title, two.link) == ("id-2", "Two", "https://tracker.example/dl/2.torrent")
    assert one.link.startswith("magnet:?xt=") and one.guid == one.link  # no GUID: the link
    assert (two.torrent_file, one.torrent_file) == (True, False)


def test_atom_entries_and_non_feeds() -> None:
    atom = (b'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>A</title>'
            b'<entry><title>E</title><id>urn:e</id><link href="https://x.example/e.bin"/></entry>'
            b"</feed>")
    [entry] = parse_feed(atom).items
    assert (entry.guid, entry.link) == ("urn:e", "https://x.example/e.bin")
    with pytest.raises(DownloadError, match="not an RSS or Atom feed"):
        parse_feed(b"<html><body>a web page</body></html>")


# -- /rss add's words --------------------------------------------------------------------------


def test_c_flags_are_checked_when_the_feed_is_added() -> None:
    assert parse_command('/m -up remote:tv -z', ALIASES.get) == ("mirror", "-up remote:tv -z")
    assert parse_command(None, ALIASES.get) == ("mirror", "")
    with pytest.raises(BadInputError, match="-c: Unknown flag -x"):
        parse_command("/leech -x", ALIASES.get)
    with pytest.raises(BadInputError, match="-c: -sp"):
        parse_command("/leech -sp lots", ALIASES.get)
    with pytest.raises(BadInputError, match="cannot use -b"):
        parse_command("/mirror -b", ALIASES.get)
    with pytest.raises(BadInputError, match="the link is each item's"):
        parse_command("/mirror https://a.example/x", ALIASES.get)
    with pytest.raises(BadInputError, match="starts with a task command"):
        parse_command("/status", ALIASES.get)


def test_add_words() -> None:
    asked = parse_add(
        'https://f.example/rss tv -inf "1080p|720p" -exf cam -c "/leech -doc" -all', ALIASES.get
    )
    assert (asked.url, asked.name, asked.command, asked.flags) == (
        "https://f.example/rss", "tv", "leech", "-doc")
    assert asked.include.text() == "1080p|720p" and asked.exclude.text() == "cam"
    assert asked.everything
    with pytest.raises(BadInputError, match="http:// or https://"):
        parse_add("ftp://f.example/rss", ALIASES.get)
    with pytest.raises(BadInputError, match="name is 1 to 32"):
        parse_add("https://f.example/rss bad/name", ALIASES.get)


# -- the guarded, conditional fetch --------------------------------------------------------------


@pytest.fixture
def feeds() -> Iterator[FakeFeeds]:
    with FakeFeeds() as server:
        yield server


QUICK = RetryPolicy(attempts=2, base_delay=0.0, max_delay=0.0, deadline=5.0)


def fetcher(*, allow_private: bool = True, cool_down: float = 30.0) -> FeedFetcher:
    return FeedFetcher(allow_private=allow_private,
                       breakers=BreakerRegistry(BreakerConfig(cool_down=cool_down)),
                       errors=ErrorTracker(), policy=QUICK)


def test_conditional_get_sends_the_validators_and_304_is_nothing_new(feeds: FakeFeeds) -> None:
    url = feeds.feed("/f", "F", [FeedItem("a", "https://x.example/a")])
    first = fetcher().fetch(url)
    assert first.body is not None and first.validators.etag == '"v1"'
    again = fetcher().fetch(url, first.validators)
    assert again.body is None and again.validators == first.validators
    last = feeds.requests_for("/f")[-1]
    assert last.headers["if-none-match"] == '"v1"' and last.status == 304
    assert "if-modified-since" in last.headers


def test_private_feeds_are_refused_without_allow_private(feeds: FakeFeeds) -> None:
    url = feeds.feed("/f", "F", [])
    with pytest.raises(SecurityError, match="private or local address"):
        fetcher(allow_private=False).fetch(url)
    assert feeds.requests_for("/f") == []  # refused before any byte was sent


def test_a_feed_past_the_size_cap_is_refused(origin: FakeOrigin) -> None:
    origin.add("/huge.xml", size=MAX_FEED_BYTES + 1, content_type="application/rss+xml")
    with pytest.raises(DownloadError, match="larger than 5 MiB"):
        fetcher().fetch(f"{origin.url}/huge.xml")


# -- a subscription's checks, on a real store ---------------------------------------------------


class Recorder:
    """Stands for Intake.submit: records each request; refuses links containing 'refuse'."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.told: list[tuple[int, str]] = []

    def submit(self, request: Request) -> Outcome:
        self.requests.append(request)
        if "refuse" in str(request.args):
            return Outcome(refusal="Too many tasks")
        return Outcome(gids=(f"g{len(self.requests)}",))

    def notify(self, chat_id: int, text: str) -> None:
        self.told.append((chat_id, text))


def service(store: Store, seen: Recorder, cool_down: float = 30.0, **kwargs: object) -> RssService:
    return RssService(FeedBook(store), fetcher(cool_down=cool_down), seen.submit, seen.notify,
                      resolve=ALIASES.get, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    db = Store(tmp_path / "t.db", secret_key="1:token")
    yield db
    db.close()


def test_new_items_start_once_oldest_first_with_the_flags(feeds: FakeFeeds, store: Store) -> None:
    seen = Recorder()
    url = feeds.feed("/f", "My Feed", [FeedItem("Old 1080p", "https://x.example/old", "o")])
    rss = service(store, seen)
    reply = rss.add(7, -100, f'{url} -inf 1080p -exf cam -c "/m -z"')
    assert "my-feed" in reply and "1 item there now, skipped" in reply
    stop = threading.Event()
    feeds.publish("/f", FeedItem("New 1080p", "https://x.example/new", "n1"))
    feeds.publish("/f", FeedItem("New 1080p CAM", "https://x.example/cam", "n2"))
    feeds.publish("/f", FeedItem("Newer 1080p", "https://x.example/newer", "n3"))
    feeds.publish("/f", FeedItem("Other 720p", "https://x.example/720", "n4"))
    [sub] = rss.book.all(7)
    assert rss.check(sub.id, stop) == "2 new items started, 2 left out by the filters."
    assert [(r.requester.user_id, r.requester.chat_id, r.command, r.args)
            for r in seen.requests] == [
        (7, -100, "mirror", "https://x.example/new -z"),
        (7, -100, "mirror", "https://x.example/newer -z"),
    ]
    assert all(r.conversation is None for r in seen.requests)
    # The feed changes (a new ETag) but holds the same items: nothing starts again.
    feeds.publish("/f", FeedItem("late cam", "https://x.example/late", "n5"))
    assert rss.check(sub.id, stop).startswith("0 new items started")
    assert len(seen.requests) == 2
    # Unchanged: a conditional GET, 304.
    assert rss.check(sub.id, stop) == "nothing new (the feed has not changed)."
    # The same, from a new service on the same database (a restart).
    assert service(store, seen).check(sub.id, stop) == "nothing new (the feed has not changed)."
    assert len(seen.requests) == 2


def test_a_torrent_enclosure_starts_a_torrent_whatever_its_path(
    feeds: FakeFeeds, store: Store
) -> None:
    """A tracker's .torrent download rarely ends in .torrent (/dl/<id>?passkey=): the item's
    enclosure type says it is one, and the request says so to the intake (torrent_link)."""
    seen = Recorder()
    url = feeds.feed("/t", "Tracker", [])
    rss = service(store, seen)
    rss.add(7, 7, f"{url} -c \"/leech -doc\"")
    feeds.publish("/t", FeedItem("Pack", "https://tracker.example/details/9", "p",
                                 torrent="https://tracker.example/dl/9?passkey=abc"))
    feeds.publish("/t", FeedItem("Page", "https://tracker.example/details/10", "q"))
    [sub] = rss.book.all(7)
    rss.check(sub.id, threading.Event())
    pack, page = seen.requests
    assert isinstance(pack.args, TaskArgs) and pack.args.torrent_link
    assert (pack.args.link, pack.args.as_document) == ("https://tracker.example/dl/9?passkey=abc",
                                                       True)
    assert page.args == "https://tracker.example/details/10 -doc"  # a plain link: as typed


def test_refusals_and_private_links_are_told(feeds: FakeFeeds, store: Store) -> None:
    seen = Recorder()
    url = feeds.feed("/f", "F", [])
    rss = service(store, seen, check_link=lambda link: check_url(link, allow_private=False))
    rss.add(7, 7, f"{url} f")
    feeds.publish("/f", FeedItem("limit", "https://x.example/refuse", "r"))
    feeds.publish("/f", FeedItem("inside", "http://127.0.0.1:9/secret.bin", "p"))
    [sub] = rss.book.all(7)
    assert rss.check(sub.id, threading.Event()) == "0 new items started, 2 refused."
    assert [r.args for r in seen.requests] == ["https://x.example/refuse"]  # never the private one
    texts = [text for chat, text in seen.told if chat == 7]
    assert any("limit" in t and "Too many tasks" in t for t in texts)
    assert any("inside" in t and "private or local address" in t for t in texts)


def test_a_failing_feed_pauses_once(feeds: FakeFeeds, store: Store) -> None:
    seen = Recorder()
    url = feeds.feed("/f", "F", [])
    # The host's breaker opens during the failures; with no cool-down it lets the check after
    # the resume through at once.
    rss = service(store, seen, cool_down=0.0)
    rss.add(7, 7, f"{url} f")
    [sub] = rss.book.all(7)
    feeds.fail("/f", 500)
    for count in range(1, MAX_FAILURES + 1):
        assert f"failed ({count} in a row)" in rss.check(sub.id, threading.Event())
    assert rss.check(sub.id, threading.Event()) == "paused"
    paused = [text for _chat, text in seen.told if "is paused" in text]
    assert len(paused) == 1 and "5 checks in a row failed" in paused[0]
    feeds.heal("/f")
    rss.book.set_paused(sub.id, False)
    assert rss.check(sub.id, threading.Event()) == "nothing new (the feed has not changed)."
    assert rss.book.all(7)[0].failures == 0


def test_an_item_interrupted_mid_submit_is_reported_not_run(
    feeds: FakeFeeds, store: Store
) -> None:
    seen = Recorder()
    url = feeds.feed("/f", "F", [])
    rss = service(store, seen)
    rss.add(7, 7, f"{url} f")
    [sub] = rss.book.all(7)
    feeds.publish("/f", FeedItem("Half done", "https://x.example/h", "h"))
    # What a kill -9 between the two writes leaves: the item claimed, its outcome unrecorded.
    assert rss.book.claim(sub.id, "h", "Half done", "submitting")
    again = service(store, seen)
    again.report_interrupted()
    [(chat, text)] = seen.told
    assert chat == 7 and "Half done" in text and "may not have started" in text
    again.report_interrupted()
    assert len(seen.told) == 1  # told once
    assert again.check(sub.id, threading.Event()).startswith("0 new items started")
    assert seen.requests == []


def test_secrets_of_a_subscription_are_sealed_at_rest(feeds: FakeFeeds, store: Store) -> None:
    seen = Recorder()
    url = feeds.feed("/f?passkey=SECRETKEY", "F", [FeedItem("a", "https://x.example/a", "guid-a")])
    rss = service(store, seen)
    rss.add(7, 7, f'{url} f -c "/m -z hunter2pass"')
    [sub] = rss.book.all(7)
    assert sub.url == url and sub.flags == "-z hunter2pass"
    raw = Path(store.path).read_bytes() + Path(f"{store.path}-wal").read_bytes()
    for secret in (b"SECRETKEY", b"hunter2pass", b"guid-a"):
        assert secret not in raw


def test_users_manage_only_their_own_feeds(feeds: FakeFeeds, store: Store) -> None:
    seen = Recorder()
    url = feeds.feed("/f", "F", [])
    rss = service(store, seen)
    rss.add(7, 7, f"{url} mine")
    rss.add(8, 8, f"{url} mine")
    with pytest.raises(BadInputError, match="already have a feed named mine"):
        rss.add(7, 7, f"{url} mine")
    assert "user <code>8</code>" not in rss.list_text(7, sudo=False)
    assert "user <code>8</code>" in rss.list_text(1, sudo=True)
    with pytest.raises(BadInputError, match="no feed named other"):
        rss.pause(7, False, "other")
    with pytest.raises(BadInputError, match="Several users"):
        rss.remove(1, True, "mine")
    assert "Removed" in rss.remove(1, True, "mine@8")
    assert [s.user_id for s in rss.book.all()] == [7]
    assert "Paused" in rss.pause(7, False, "mine")
    assert "⏸ paused" in rss.list_text(7, False)


def test_all_starts_what_is_there_ten_per_check(feeds: FakeFeeds, store: Store) -> None:
    seen = Recorder()
    items = [FeedItem(f"Item {n}", f"https://x.example/{n}", f"i{n}") for n in range(12)]
    url = feeds.feed("/f", "F", items, atom=True)
    rss = service(store, seen)
    assert "12 items there now, which start too" in rss.add(7, 7, f"{url} f -all")
    [sub] = rss.book.all(7)
    stop = threading.Event()
    assert rss.check(sub.id, stop) == "10 new items started, more at the next check."
    # The rest come at the next check, although the feed did not change (no 304 hides them).
    assert rss.check(sub.id, stop) == "2 new items started."
    assert rss.check(sub.id, stop) == "nothing new (the feed has not changed)."
    assert [r.args for r in seen.requests] == [f"https://x.example/{n}" for n in range(12)]


def test_prune_forgets_the_oldest_items_but_never_one_being_submitted(
    feeds: FakeFeeds, store: Store
) -> None:
    seen = Recorder()
    url = feeds.feed("/f", "F", [FeedItem(f"I{n}", f"https://x.example/{n}", f"i{n}")
                                 for n in range(3)])
    rss = service(store, seen)
    rss.add(7, 7, f"{url} f")  # records i0..i2
    [sub] = rss.book.all(7)
    for guid in ("later-1", "later-2"):
        assert rss.book.claim(sub.id, guid, guid, "done")
    with store.transaction() as conn:  # one of the old ones is mid-submit
        conn.execute("UPDATE rss_items SET state = 'submitting', seen_at = 0 WHERE feed_id = ? "
                     "AND guid_hash = ?", (sub.id, guid_hash("i1")))
        conn.execute("UPDATE rss_items SET seen_at = 1 WHERE feed_id = ? AND state = 'seen'",
                     (sub.id,))
    assert rss.book.prune(sub.id, keep=2) == 2  # i0 and i2
    assert rss.book.known(sub.id) == {guid_hash(g) for g in ("i1", "later-1", "later-2")}


def test_a_feed_host_that_is_down_fails_with_one_line_naming_only_the_host() -> None:
    from tests.fakes.ports import held_port

    with held_port() as port, pytest.raises(DownloadError) as info:
        fetcher().fetch(f"http://127.0.0.1:{port}/rss/SECRETPATH?passkey=SECRET")
    assert str(info.value) == "could not connect to 127.0.0.1"


def test_the_poller_checks_at_start_when_due_and_when_asked(
    feeds: FakeFeeds, store: Store
) -> None:
    from telebot.feeds.rss.poller import Poller
    from tests.polling import wait_until

    seen = Recorder()
    rss = service(store, seen)
    rss.add(7, 7, f"{feeds.feed('/a', 'A', [])} a")
    rss.add(7, 7, f"{feeds.feed('/b', 'B', [])} b")
    now = [1000.0]
    poller = Poller(rss, interval=60.0, clock=lambda: now[0])
    poller.start()
    try:
        assert len(feeds.requests_for("/a")) == 1  # the adds' reads; no check before polling
        poller.polling_started()
        wait_until(lambda: len(feeds.requests_for("/a")) == len(feeds.requests_for("/b")) == 2,
                   10, "the first check of every feed at start")
        [a, b] = rss.book.all(7)
        assert poller.poke(b.id).result(10) == "nothing new (the feed has not changed)."
        assert len(feeds.requests_for("/a")) == 2  # not due: the interval has not passed
        now[0] += 61.0
        poller.poke(b.id).result(10)
        wait_until(lambda: len(feeds.requests_for("/a")) == 3, 10, "a's check once due")
    finally:
        poller.stop()
    assert poller.poke(a.id).cancelled()  # stopped: nobody waits for a check that never comes
