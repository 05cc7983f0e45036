"""/search end to end: the real bot asks loopback Torznab indexers (tests/fakes/torznab.py),
pages their results, and a press starts a real torrent task from a loopback libtorrent seeder."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OWNER
from tests.e2e.helpers import text_of, wait_chat_text, wait_text
from tests.e2e.test_torrent import assert_same_tree, press, torrent_env
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.swarm import Seeder, Tracker, magnet, make_files, make_torrent, wait_until
from tests.fakes.torznab import FakeTorznab

KEY = "tzKEY5a9e0c1d2b3f4a5968778695a4b3"  # one key for both indexers (TORZNAB_API_KEY)
GROUP = -100424242
STRANGER = 777
JACKETT_PATH = "/api/v2.0/indexers/all/results/torznab/api"
NO_SUCH = "magnet:?xt=urn:btih:" + "b" * 40 + "&dn=Pack+Alpha"


@pytest.fixture
def jackett() -> Iterator[FakeTorznab]:
    with FakeTorznab("jackett.xml", KEY, path=JACKETT_PATH, magnet_alpha=NO_SUCH,
                     hash_alpha="b" * 40) as server:
        yield server


@pytest.fixture
def prowlarr() -> Iterator[FakeTorznab]:
    with FakeTorznab("prowlarr.xml", KEY, path="/3/api") as server:
        yield server


def assert_key_never_shown(api: FakeBotAPI, bot: Any) -> None:
    """The API key is in no call the bot made to Telegram, nor in its log file."""
    for call in api.calls:
        assert KEY not in json.dumps(call.params, default=str), call.method
    log = bot.log_text()
    assert log and KEY not in log


def test_search_without_indexers_says_what_to_set(bot_api: FakeBotAPI, make_bot: Any) -> None:
    make_bot()
    since = bot_api.mark()
    bot_api.push_message("/search big buck bunny", chat_id=OWNER, user_id=OWNER)
    reply = wait_text(bot_api, r"not configured", chat_id=OWNER, since=since)
    assert "TORZNAB_URL" in text_of(reply) and "TORZNAB_API_KEY" in text_of(reply)


def test_results_are_sorted_paged_and_only_for_the_requester(
    bot_api: FakeBotAPI, make_bot: Any, jackett: FakeTorznab, prowlarr: FakeTorznab
) -> None:
    prowlarr.fail = 500
    bot = make_bot(AUTHORIZED_CHATS=str(GROUP), TORZNAB_URL=f"{jackett.url},{prowlarr.url}",
                   TORZNAB_API_KEY=KEY)
    since = bot_api.mark()
    bot_api.push_message("/search pack 2026 -cat movies", chat_id=GROUP, user_id=OWNER)
    shown = wait_text(bot_api, r"results</b> for", chat_id=GROUP, since=since)
    text = text_of(shown)
    assert "6 results</b> for <code>pack 2026</code> (movies)" in text
    # Most seeded first; each with size, seeders and the indexer the item names.
    order = [text.index(name) for name in
             ("Gamma Collection", "Pack Alpha", "Zeta Season 1", "Pack Beta", "Eta Extras")]
    assert order == sorted(order)
    assert "🌱 900 · OneSeven" in text and "🌱 7 · QuietBay" in text and "5.0 GiB" in text
    assert "Delta" not in text and "Page 1/2" in text
    # The failing indexer: a footer line, the other's results are all there.
    assert f"⚠️ 127.0.0.1:{prowlarr.url.split(':')[2].split('/')[0]} #3: HTTP 500" in text
    assert jackett.queries[0]["cat"] == "2000" and jackett.queries[0]["q"] == "pack 2026"
    menu_id = shown.result["message_id"]

    # A stranger in the group may use the bot, not these buttons: nothing starts.
    assert "not yours" in press(bot_api, GROUP, menu_id, "1. Mirror", STRANGER)
    assert "not yours" in press(bot_api, GROUP, menu_id, "▶", STRANGER)
    assert "Page 1/2" in bot_api.chat_messages(GROUP)[menu_id]["text"]
    assert not bot.download_dir.exists() or not any(bot.download_dir.iterdir())
    assert not [c for c in bot_api.calls[since:] if "/cancel" in text_of(c)]

    # The requester pages on.
    press(bot_api, GROUP, menu_id, "▶", OWNER)
    page2 = wait_chat_text(bot_api, GROUP, r"Page 2/2")
    assert "Delta Unknown Seeders" in page2 and "Gamma" not in page2
    press(bot_api, GROUP, menu_id, "Close", OWNER)
    wait_chat_text(bot_api, GROUP, r"Search for <code>pack 2026</code> closed")
    assert "expired" in press_data(bot_api, GROUP, shown.result, "sr:" + sid_of(shown) + ":p:0")
    assert_key_never_shown(bot_api, bot)


def sid_of(call: Any) -> str:
    markup = call.params["reply_markup"]
    markup = json.loads(markup) if isinstance(markup, str) else markup
    return str(markup["inline_keyboard"][0][0]["callback_data"]).split(":")[1]


def press_data(api: FakeBotAPI, chat_id: int, message: dict[str, Any], data: str) -> str:
    """Press with ``data`` on a message whose buttons are gone (a closed search)."""
    since = api.mark()
    query = api.push_callback(data, message=message, user_id=OWNER)
    answer = api.wait_for("answerCallbackQuery",
                          lambda c: c.params.get("callback_query_id") == query["id"],
                          since=since, timeout=15)
    return str(answer.params.get("text") or "")


def test_a_press_mirrors_the_result_from_a_real_seeder(
    tmp_path: Path, bot_api: FakeBotAPI, make_bot: Any
) -> None:
    with Seeder() as seeder:
        root = make_files(tmp_path / "seed", {"alpha/a.bin": 300_001, "alpha/b.txt": 17,
                                              "beta/c.bin": 200_003})
        # The magnet names the seeder (x.pe); beta's .torrent names a tracker that does, as
        # the .torrent files of real indexers name their trackers (DHT is off here).
        tracker = Tracker([seeder.port])
        alpha = make_torrent(root / "alpha")
        beta = make_torrent(root / "beta", trackers=[tracker.url])
        seeder.seed(alpha, root)
        seeder.seed(beta, root)
        try:
            with FakeTorznab("jackett.xml", KEY, path=JACKETT_PATH,
                             magnet_alpha=magnet(alpha, seeder.port),
                             hash_alpha="c" * 40) as jackett:
                # Pack Beta has no magnet: its .torrent is behind the key at a path that does
                # not end in .torrent, like Jackett's /dl/<tracker>/?jackett_apikey=... links.
                jackett.add_file("/dl/quietbay/", beta)
                bot = make_bot(TORZNAB_URL=jackett.url, TORZNAB_API_KEY=KEY, **torrent_env())
                since = bot_api.mark()
                bot_api.push_message("/search pack", chat_id=OWNER, user_id=OWNER)
                shown = wait_text(bot_api, r"results</b> for", chat_id=OWNER, since=since)
                menu_id = shown.result["message_id"]
                assert "Pack Alpha" in press(bot_api, OWNER, menu_id, "2. Mirror", OWNER)
                assert "Pack Beta" in press(bot_api, OWNER, menu_id, "4. Mirror", OWNER)

                def both_delivered() -> bool:
                    done = [text_of(c) for c in bot_api.calls[since:] if "✅" in text_of(c)]
                    return sum(("alpha" in t) + ("beta" in t) for t in done) >= 2

                wait_until(both_delivered, timeout=90, what="both mirrors to finish")
                assert jackett.downloads >= 1  # the .torrent was fetched, with the key
                assert_same_tree(bot.mirror_dir / "alpha", root / "alpha")
                assert_same_tree(bot.mirror_dir / "beta", root / "beta")
                assert_key_never_shown(bot_api, bot)
        finally:
            tracker.close()
