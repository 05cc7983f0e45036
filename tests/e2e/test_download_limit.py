"""MAX_DOWNLOAD_SIZE holds for every source, Telegram files included."""

from __future__ import annotations

from typing import Any

from tests.conftest import OWNER
from tests.e2e.helpers import files_in, text_of, wait_text
from tests.fakes.bot_api import FakeBotAPI


def test_a_telegram_file_over_max_download_size_is_refused_before_download(
    bot_api: FakeBotAPI, make_bot: Any
) -> None:
    bot = make_bot(MAX_DOWNLOAD_SIZE="100kb")
    big = bot_api.add_file(b"x" * 200_000, file_name="big.bin")
    small = bot_api.add_file(b"y" * 50_000, file_name="small.bin")
    for document in (big, small):
        since = bot_api.mark()
        upload = bot_api.push_message("", chat_id=OWNER, user_id=OWNER, document=document)
        bot_api.push_message("/mirror", chat_id=OWNER, user_id=OWNER, reply_to=upload)
        wait_text(bot_api, r"✅|❌", chat_id=OWNER, since=since, timeout=60)

    refused = wait_text(bot_api, r"❌", chat_id=OWNER, timeout=1)
    assert "big.bin" in text_of(refused) and "97.7 KiB" in text_of(refused)
    assert "download limit" in text_of(refused)
    [saved] = files_in(bot.mirror_dir)
    assert saved.name == "small.bin"
    # Refused from the size in the update: Telegram was not even asked for the big file.
    asked = [c.params.get("file_id") for c in bot_api.calls_of("getFile")]
    assert asked == [small["file_id"]]
