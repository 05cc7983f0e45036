"""Tests of the fake Bot API, driven by a real PTB 22 ``Bot`` over loopback."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, InputMediaDocument
from telegram.error import BadRequest, Conflict, InvalidToken, NetworkError, RetryAfter, TimedOut

from tests.fakes.bot_api import CLOUD_UPLOAD_LIMIT, Call, FakeBotAPI

os.environ.setdefault("PTB_TIMEDELTA", "1")  # docs/TELEGRAM.md, errors: timedelta retry_after
T = TypeVar("T")


@pytest.fixture
def api() -> Iterator[FakeBotAPI]:
    with FakeBotAPI() as server:
        yield server


@pytest.fixture
def local_api(tmp_path: Path) -> Iterator[FakeBotAPI]:
    with FakeBotAPI(local_mode=True, workdir=tmp_path / "api") as server:
        yield server


def make_bot(api: FakeBotAPI, token: str | None = None, *, local: bool = False) -> Bot:
    return Bot(token or api.token, base_url=f"{api.url}/bot",
               base_file_url=f"{api.url}/file/bot", local_mode=local)


def with_bot(api: FakeBotAPI, body: Callable[[Bot], Awaitable[T]], *, local: bool = False) -> T:
    """Run ``body(bot)`` in a fresh event loop with an initialized PTB Bot."""

    async def main() -> T:
        async with make_bot(api, local=local) as bot:
            return await body(bot)

    return asyncio.run(main())


KEYBOARD = InlineKeyboardMarkup([[InlineKeyboardButton("Cancel", callback_data="cancel:1")]])


# ---- basics


def test_get_me_and_wrong_token(api: FakeBotAPI) -> None:
    me = with_bot(api, lambda bot: bot.get_me())
    assert me.id == api.bot_id and me.is_bot

    async def bad() -> None:
        await make_bot(api, "1:WRONG").get_me()

    with pytest.raises(InvalidToken):
        asyncio.run(bad())
    assert [c.method for c in api.calls] == ["getMe", "getMe"]  # wrong token not recorded


def test_unknown_method_is_404(api: FakeBotAPI) -> None:
    resp = requests.post(f"{api.url}/bot{api.token}/noSuchMethod", timeout=5)
    assert resp.status_code == 404
    assert resp.json() == {"ok": False, "error_code": 404, "description": "Not Found"}


def test_methods_are_case_insensitive_and_accept_json_and_query(api: FakeBotAPI) -> None:
    base = f"{api.url}/bot{api.token}"
    by_json = requests.post(f"{base}/SENDMESSAGE", json={"chat_id": 5, "text": "7"}, timeout=5)
    by_query = requests.get(f"{base}/sendMessage?chat_id=5&text=8", timeout=5)
    assert by_json.json()["result"]["text"] == "7"
    assert by_query.json()["result"]["text"] == "8"
    assert [c.params for c in api.calls_of("sendmessage")] == [
        {"chat_id": 5, "text": "7"}, {"chat_id": 5, "text": "8"}]


# ---- updates


def test_push_message_round_trips_through_get_updates(api: FakeBotAPI) -> None:
    pushed = api.push_message("/mirror http://x -n a", chat_id=-100, user_id=9)

    async def poll(bot: Bot) -> Any:
        return await bot.get_updates(timeout=1)

    (update,) = with_bot(api, poll)
    msg = update.message
    assert msg.message_id == pushed["message_id"]
    assert msg.chat.type == "group" and msg.from_user.id == 9
    assert msg.entities[0].type == "bot_command" and msg.entities[0].length == len("/mirror")
    assert api.pending_updates == 1  # delivered but not yet confirmed


def test_updates_confirmed_by_offset_and_limit(api: FakeBotAPI) -> None:
    for i in range(3):
        api.push_message(f"m{i}")

    async def poll(bot: Bot) -> tuple[list[int], list[int]]:
        first = await bot.get_updates(limit=2)
        rest = await bot.get_updates(offset=first[-1].update_id + 1)
        return [u.update_id for u in first], [u.update_id for u in rest]

    assert with_bot(api, poll) == ([1, 2], [3])
    assert api.pending_updates == 1


def test_long_poll_wakes_when_update_pushed(api: FakeBotAPI) -> None:
    async def poll(bot: Bot) -> list[str]:
        timer = threading.Timer(0.2, lambda: api.push_message("late"))
        timer.start()
        updates = await bot.get_updates(timeout=10)
        return [str(u.message.text) for u in updates if u.message]

    began = time.monotonic()
    assert with_bot(api, poll) == ["late"]
    assert time.monotonic() - began < 5


def test_second_poller_gets_conflict(api: FakeBotAPI) -> None:
    async def two() -> Any:
        async with make_bot(api) as first_bot, make_bot(api) as second_bot:
            first = asyncio.create_task(first_bot.get_updates(timeout=5))
            await asyncio.to_thread(api.wait_polling, 5)
            second = await second_bot.get_updates(timeout=0)
            return await asyncio.gather(first, return_exceptions=True), second

    (first,), second = asyncio.run(two())
    assert isinstance(first, Conflict)
    assert second == ()


def test_callback_and_answer(api: FakeBotAPI) -> None:
    async def flow(bot: Bot) -> str:
        sent = await bot.send_message(42, "task", reply_markup=KEYBOARD)
        api.push_callback("cancel:1", message=sent.to_dict())
        (update,) = await bot.get_updates()
        query = update.callback_query
        assert query is not None and query.message is not None
        assert query.message.message_id == sent.message_id
        await bot.answer_callback_query(query.id, text="ok")
        with pytest.raises(BadRequest, match=r"(?i)query is too old"):
            await bot.answer_callback_query(query.id)
        return str(query.data)

    assert with_bot(api, flow) == "cancel:1"
    assert api.unanswered_callbacks() == []


# ---- messages


def test_send_edit_delete_and_chat_messages(api: FakeBotAPI) -> None:
    async def flow(bot: Bot) -> int:
        sent = await bot.send_message(42, "<b>1%</b>", parse_mode="HTML", reply_markup=KEYBOARD)
        await bot.edit_message_text("<b>50%</b>", chat_id=42, message_id=sent.message_id,
                                    parse_mode="HTML", reply_markup=KEYBOARD)
        with pytest.raises(BadRequest, match=r"(?i)not modified"):
            await bot.edit_message_text("<b>50%</b>", chat_id=42, message_id=sent.message_id,
                                        parse_mode="HTML", reply_markup=KEYBOARD)
        with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
            await bot.edit_message_text("x", chat_id=42, message_id=99999)
        other = await bot.send_message(42, "bye")
        assert await bot.delete_message(42, other.message_id)
        with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
            await bot.delete_message(42, other.message_id)
        return int(sent.message_id)

    mid = with_bot(api, flow)
    live = api.chat_messages(42)
    assert list(live) == [mid]
    assert live[mid]["text"] == "<b>50%</b>" and "edit_date" in live[mid]
    edits = api.calls_of("editMessageText")
    assert [c.status for c in edits] == [200, 400, 400]
    assert api.calls_of("sendMessage")[0].result["text"] == "<b>1%</b>"  # snapshot, not live
    assert edits[0].params["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "cancel:1"


def test_edit_without_markup_removes_keyboard(api: FakeBotAPI) -> None:
    async def flow(bot: Bot) -> int:
        sent = await bot.send_message(42, "a", reply_markup=KEYBOARD)
        await bot.edit_message_text("b", chat_id=42, message_id=sent.message_id)
        return int(sent.message_id)

    mid = with_bot(api, flow)
    assert "reply_markup" not in api.chat_messages(42)[mid]


@pytest.mark.parametrize(
    ("text", "parse_mode", "error"),
    [
        ("<movie>.mkv", "HTML", "unsupported start tag"),
        ("<b>open", "HTML", "can't find end tag"),
        ("x" * 4097, None, "message text is too long"),
        ("  ", None, "message text is empty"),
    ],
)
def test_send_message_validation(api: FakeBotAPI, text: str, parse_mode: str | None,
                                 error: str) -> None:
    async def send(bot: Bot) -> None:
        await bot.send_message(42, text, parse_mode=parse_mode)

    with pytest.raises(BadRequest, match=f"(?i){error}"):
        with_bot(api, send)


def test_long_html_counts_visible_characters(api: FakeBotAPI) -> None:
    text = "<b>" + "x" * 4096 + "</b>"
    msg = with_bot(api, lambda bot: bot.send_message(42, text, parse_mode="HTML"))
    assert msg.text == text


def test_callback_data_over_64_bytes_rejected(api: FakeBotAPI) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="y" * 65)]])
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        with_bot(api, lambda bot: bot.send_message(42, "t", reply_markup=markup))


def test_reply_parameters(api: FakeBotAPI) -> None:
    user_msg = api.push_message("/leech", chat_id=42)
    sent = with_bot(api, lambda bot: bot.send_message(
        42, "ok", reply_to_message_id=user_msg["message_id"]))
    assert sent.reply_to_message is not None
    assert sent.reply_to_message.message_id == user_msg["message_id"]
    with pytest.raises(BadRequest, match=r"(?i)replied not found"):
        with_bot(api, lambda bot: bot.send_message(42, "ok", reply_to_message_id=5))


def test_commands_chat_action_get_chat(api: FakeBotAPI) -> None:
    async def flow(bot: Bot) -> Any:
        await bot.set_my_commands([("mirror", "Mirror a link"), ("leech", "Leech a link")])
        await bot.send_chat_action(42, "upload_document")
        chat = await bot.get_chat(-1001234567890123)
        return await bot.get_my_commands(), chat

    commands, chat = with_bot(api, flow)
    assert [c.command for c in commands] == ["mirror", "leech"]
    assert chat.type == "supergroup"


# ---- uploads and files


def test_multipart_upload_streams_to_disk(api: FakeBotAPI) -> None:
    payload = os.urandom(300_000) + b"\r\n--notboundary\r\n" + os.urandom(1000)
    thumb = b"\xff\xd8jpeg"

    async def send(bot: Bot) -> Any:
        return await bot.send_document(
            42, InputFile(io.BytesIO(payload), filename="ü p.bin"), caption="part 1",
            thumbnail=InputFile(io.BytesIO(thumb), filename="t.jpg", attach=True))

    msg = with_bot(api, send)
    assert msg.document.file_size == len(payload)
    assert msg.document.file_name == "ü p.bin"
    call = api.wait_for("sendDocument", timeout=1)
    upload = call.files["document"]
    assert upload.sha256 == hashlib.sha256(payload).hexdigest()
    assert upload.read() == payload
    assert upload.filename == "ü p.bin"
    assert call.params["caption"] == "part 1"
    thumb_part = call.params["thumbnail"].removeprefix("attach://")
    assert call.files[thumb_part].size == len(thumb)
    assert api.chat_messages(42)[msg.message_id]["document"]["file_id"] == msg.document.file_id


def test_upload_limit_in_cloud_mode(api: FakeBotAPI) -> None:
    big = b"\0" * (CLOUD_UPLOAD_LIMIT + 1)

    async def send(bot: Bot) -> None:
        await bot.send_document(42, InputFile(io.BytesIO(big), filename="big.bin"),
                                write_timeout=60)

    with pytest.raises(NetworkError, match="Request Entity Too Large"):
        with_bot(api, send)
    call = api.calls_of("sendDocument")[0]
    assert call.status == 413
    assert call.files["document"].size == len(big) and call.files["document"].path is None


def test_resend_by_file_id_and_media_group(api: FakeBotAPI) -> None:
    doc = api.add_file(b"abc", file_name="a.txt")

    async def flow(bot: Bot) -> Any:
        again = await bot.send_document(42, doc["file_id"])
        group = await bot.send_media_group(42, [
            InputMediaDocument(doc["file_id"]),
            InputMediaDocument(b"xyz", filename="b.bin", caption="b"),
        ])
        return again, group

    again, group = with_bot(api, flow)
    assert again.document.file_id == doc["file_id"]
    assert len(group) == 2 and group[0].media_group_id == group[1].media_group_id
    assert group[1].caption == "b"


def test_video_audio_photo(api: FakeBotAPI) -> None:
    async def flow(bot: Bot) -> Any:
        video = await bot.send_video(42, InputFile(io.BytesIO(b"v" * 10), filename="v.mp4"),
                                     supports_streaming=True)
        audio = await bot.send_audio(42, InputFile(io.BytesIO(b"a" * 10), filename="a.mp3"))
        photo = await bot.send_photo(42, InputFile(io.BytesIO(b"p" * 10), filename="p.jpg"))
        return video, audio, photo

    video, audio, photo = with_bot(api, flow)
    assert video.video.file_size == 10 and audio.audio.file_size == 10 and photo.photo
    assert api.calls_of("sendVideo")[0].params["supports_streaming"] is True


def test_get_file_and_download_cloud(api: FakeBotAPI) -> None:
    small = api.add_file(b"content" * 100, file_name="s.txt")
    large = api.add_file(b"\0" * 20_000_001, file_name="l.bin")

    async def flow(bot: Bot) -> bytes:
        with pytest.raises(BadRequest, match=r"(?i)too big"):
            await bot.get_file(large["file_id"])
        tg_file = await bot.get_file(small["file_id"])
        assert tg_file.file_path is not None
        assert not Path(tg_file.file_path.split("/file/bot", 1)[1]).exists()
        return bytes(await tg_file.download_as_bytearray())

    assert with_bot(api, flow) == b"content" * 100


def test_local_mode_file_uri_upload_and_absolute_get_file(local_api: FakeBotAPI,
                                                          tmp_path: Path) -> None:
    src = tmp_path / "movie.mkv"
    src.write_bytes(b"m" * 5000)
    stored = local_api.add_file(b"remote", file_name="r.bin")

    async def flow(bot: Bot) -> Any:
        sent = await bot.send_document(42, src)
        tg_file = await bot.get_file(stored["file_id"])
        return sent, tg_file

    sent, tg_file = with_bot(local_api, flow, local=True)
    call = local_api.calls_of("sendDocument")[0]
    assert call.params["document"] == src.as_uri()
    assert call.files["document"].path == src
    assert sent.document.file_size == 5000
    assert Path(tg_file.file_path).read_bytes() == b"remote"


def test_file_uri_rejected_in_cloud_mode(api: FakeBotAPI, tmp_path: Path) -> None:
    src = tmp_path / "x.bin"
    src.write_bytes(b"x")
    with pytest.raises(BadRequest, match=r"(?i)wrong file identifier"):
        with_bot(api, lambda bot: bot.send_document(42, src), local=True)


# ---- faults


def test_fail_next_retry_after_and_5xx(api: FakeBotAPI) -> None:
    api.fail_next("sendMessage", status=429, description="Too Many Requests: retry after 3",
                  retry_after=3)
    api.fail_next("sendMessage", status=502, description="Bad Gateway")

    async def flow(bot: Bot) -> None:
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(42, "a")
        assert info.value.retry_after.total_seconds() == 3  # type: ignore[union-attr]
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_message(42, "a")
        await bot.send_message(42, "a")

    with_bot(api, flow)
    assert [c.status for c in api.calls_of("sendMessage")] == [429, 502, 200]
    assert len(api.chat_messages(42)) == 1  # failed calls had no effect


def test_stall_then_respond_gives_timed_out_after_upload_stored(api: FakeBotAPI) -> None:
    api.stall_next("sendDocument", 30)

    async def send(bot: Bot) -> None:
        await bot.send_document(42, InputFile(io.BytesIO(b"abc"), filename="a"),
                                read_timeout=0.3)

    began = time.monotonic()
    with pytest.raises(TimedOut):
        with_bot(api, send)
    assert time.monotonic() - began < 10
    assert api.wait_for("sendDocument", timeout=1).status == 200
    assert len(api.chat_messages(42)) == 1  # stored although the client timed out


def test_stall_without_response_closes_connection(api: FakeBotAPI) -> None:
    api.stall_next("sendMessage", 0.1, then_respond=False)
    with pytest.raises(NetworkError):
        with_bot(api, lambda bot: bot.send_message(42, "lost"))
    assert api.chat_messages(42) == {}


def test_wait_for_since_predicate_and_timeout_message(api: FakeBotAPI) -> None:
    base = f"{api.url}/bot{api.token}/sendMessage"
    requests.post(base, data={"chat_id": "1", "text": "old"}, timeout=5)
    since = api.mark()
    threading.Timer(0.1, lambda: requests.post(
        base, data={"chat_id": "1", "text": "new"}, timeout=5)).start()
    call = api.wait_for("sendMessage", lambda c: c.params["text"] == "new", since=since)
    assert call.index == since
    with pytest.raises(AssertionError, match=r"(?s)no deleteMessage call.*sendMessage -> 200"):
        api.wait_for("deleteMessage", timeout=0.05)


def test_stop_is_prompt_during_long_poll_and_stall() -> None:
    api = FakeBotAPI().start()
    api.stall_next("sendMessage", 60)
    url = f"{api.url}/bot{api.token}"
    threads = [
        threading.Thread(target=_quiet_post, args=(f"{url}/getUpdates", {"timeout": "60"})),
        threading.Thread(target=_quiet_post, args=(f"{url}/sendMessage",
                                                    {"chat_id": "1", "text": "x"})),
    ]
    for thread in threads:
        thread.start()
    api.wait_for("sendMessage", timeout=5)
    began = time.monotonic()
    api.stop()
    assert time.monotonic() - began < 1.0
    for thread in threads:
        thread.join(5)
        assert not thread.is_alive()


def _quiet_post(url: str, data: dict[str, str]) -> None:
    with contextlib.suppress(requests.RequestException):
        requests.post(url, data=data, timeout=30)


def test_start_is_fast_and_json_error_shape(api: FakeBotAPI) -> None:
    timings = []
    for _ in range(3):  # best of three: the machine is shared and busy
        began = time.perf_counter()
        other = FakeBotAPI().start()
        timings.append(time.perf_counter() - began)
        other.stop()
    assert min(timings) < 0.05
    resp = requests.post(f"{api.url}/bot{api.token}/editMessageText",
                         data={"chat_id": "1", "message_id": "1", "text": "x"}, timeout=5)
    assert resp.status_code == 400
    assert json.loads(resp.content) == {"ok": False, "error_code": 400,
                                        "description": "Bad Request: message to edit not found"}


# ---- hardening


def test_application_polling_end_to_end(api: FakeBotAPI) -> None:
    """A real PTB Application (updater + handlers) runs against the fake unchanged."""
    from telegram import Update
    from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"hello {context.args}")

    async def main() -> None:
        app = (ApplicationBuilder().token(api.token).base_url(f"{api.url}/bot")
               .base_file_url(f"{api.url}/file/bot").build())
        app.add_handler(CommandHandler("start", start))
        async with app:
            await app.start()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0, timeout=5)
            api.push_message("/start a b", chat_id=7, user_id=7)
            await asyncio.to_thread(api.wait_for, "sendMessage", timeout=10)
            await app.updater.stop()
            await app.stop()

    asyncio.run(main())
    (reply,) = api.chat_messages(7).values()
    assert reply["text"] == "hello ['a', 'b']"
    assert reply["chat"]["type"] == "private"
    assert api.calls_of("deleteWebhook")


def test_concurrent_senders_get_unique_ids(api: FakeBotAPI) -> None:
    url = f"{api.url}/bot{api.token}/sendMessage"

    def sender(n: int) -> list[int]:
        with requests.Session() as session:
            return [session.post(url, data={"chat_id": str(n), "text": f"{n}:{i}"},
                                 timeout=5).json()["result"]["message_id"] for i in range(20)]

    threads_out: list[list[int]] = []
    workers = [threading.Thread(target=lambda n=n: threads_out.append(sender(n)))
               for n in range(1, 9)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    ids = [mid for chunk in threads_out for mid in chunk]
    assert len(ids) == 160 and len(set(ids)) == 160
    assert [c.index for c in api.calls] == list(range(160))
    assert sum(len(api.chat_messages(n)) for n in range(1, 9)) == 160


def _multipart_file(path: Path, boundary: str, size: int) -> int:
    """Write a multipart body with one ``size``-byte file part to ``path``; return its length."""
    chunk = os.urandom(1 << 20)
    with path.open("wb") as fh:
        fh.write(f'--{boundary}\r\nContent-Disposition: form-data; name="chat_id"\r\n\r\n42\r\n'
                 f'--{boundary}\r\nContent-Disposition: form-data; name="document"; '
                 f'filename="big.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode())
        for pos in range(0, size, len(chunk)):
            fh.write(chunk[: size - pos])
        fh.write(f"\r\n--{boundary}--\r\n".encode())
    return path.stat().st_size


def _upload_peak(api: FakeBotAPI, tmp_path: Path, size: int) -> tuple[int, Call]:
    import http.client
    import tracemalloc

    boundary = "xXbOuNdArYXx"
    body = tmp_path / "body"
    length = _multipart_file(body, boundary, size)
    host, port = api.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    tracemalloc.start()
    try:
        with body.open("rb") as fh:  # http.client streams a file body in 8 KiB blocks
            conn.request("POST", f"/bot{api.token}/sendDocument", body=fh, headers={
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(length)})
            status = conn.getresponse().status
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        conn.close()
    assert status == 200
    return peak, api.calls_of("sendDocument")[-1]


def test_upload_memory_is_bounded(api: FakeBotAPI, tmp_path: Path) -> None:
    peak, call = _upload_peak(api, tmp_path, 24 << 20)
    assert call.files["document"].size == 24 << 20
    assert peak < 4 << 20, f"peak traced memory {peak} B for a 24 MiB upload"


@pytest.mark.slow
def test_upload_120mb_local_mode_memory_is_bounded(local_api: FakeBotAPI,
                                                   tmp_path: Path) -> None:
    size = 120 * 1024 * 1024
    peak, call = _upload_peak(local_api, tmp_path, size)
    upload = call.files["document"]
    assert upload.size == size and upload.path is not None
    assert upload.path.stat().st_size == size
    assert peak < 4 << 20, f"peak traced memory {peak} B for a 120 MiB upload"


def test_chunked_request_body(api: FakeBotAPI) -> None:
    def body() -> Iterator[bytes]:
        yield b"chat_id=42&"
        yield b"text=chunked"

    resp = requests.post(f"{api.url}/bot{api.token}/sendMessage", data=body(), timeout=5,
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.json()["result"]["text"] == "chunked"


def test_pushed_document_can_be_fetched_with_range(api: FakeBotAPI) -> None:
    doc = api.add_file(bytes(range(256)) * 10, file_name="d.bin")
    msg = api.push_message("/leech", document=doc)
    assert msg["caption"] == "/leech" and "text" not in msg

    async def flow(bot: Bot) -> Any:
        (update,) = await bot.get_updates()
        assert update.message is not None and update.message.document is not None
        return await bot.get_file(update.message.document.file_id)

    tg_file = with_bot(api, flow)
    resp = requests.get(str(tg_file.file_path), headers={"Range": "bytes=256-511"}, timeout=5)
    assert resp.status_code == 206 and resp.content == bytes(range(256))
    assert requests.get(str(tg_file.file_path), timeout=5).content == bytes(range(256)) * 10
    missing = requests.get(f"{api.url}/file/bot{api.token}/documents/nope", timeout=5)
    assert missing.status_code == 404


def test_edit_caption(api: FakeBotAPI) -> None:
    async def flow(bot: Bot) -> None:
        sent = await bot.send_document(42, InputFile(io.BytesIO(b"x"), filename="a"),
                                       caption="one")
        await bot.edit_message_caption(chat_id=42, message_id=sent.message_id, caption="two")
        with pytest.raises(BadRequest, match=r"(?i)not modified"):
            await bot.edit_message_caption(chat_id=42, message_id=sent.message_id,
                                           caption="two")

    with_bot(api, flow)
    (msg,) = api.chat_messages(42).values()
    assert msg["caption"] == "two"


def test_bad_media_group_stores_nothing(api: FakeBotAPI) -> None:
    doc = api.add_file(b"abc")

    async def send(bot: Bot) -> None:
        await bot.send_media_group(42, [InputMediaDocument(doc["file_id"]),
                                        InputMediaDocument("BQACnope")])

    with pytest.raises(BadRequest):
        with_bot(api, send)
    assert api.chat_messages(42) == {}


def test_user_messages_cannot_be_edited_and_empty_files_rejected(api: FakeBotAPI) -> None:
    user_msg = api.push_message("hi")

    async def flow(bot: Bot) -> None:
        with pytest.raises(BadRequest, match=r"(?i)can't be edited"):
            await bot.edit_message_text("x", chat_id=42, message_id=user_msg["message_id"])
        with pytest.raises(BadRequest, match=r"(?i)must be non-empty"):
            await bot.send_document(42, InputFile(io.BytesIO(b""), filename="e"))

    with_bot(api, flow)


def test_drop_pending_updates(api: FakeBotAPI) -> None:
    api.push_message("old")
    with_bot(api, lambda bot: bot.delete_webhook(drop_pending_updates=True))
    assert api.pending_updates == 0


class _TrickleReader:
    """Hands the parser ``step`` bytes per read, so delimiters straddle reads."""

    def __init__(self, data: bytes, step: int) -> None:
        self._data, self._pos, self._step = data, 0, step

    def read(self, n: int = 0) -> bytes:
        chunk = self._data[self._pos : self._pos + self._step]
        self._pos += len(chunk)
        return chunk

    def drain(self) -> None:
        self._pos = len(self._data)


@pytest.mark.parametrize("step", [1, 2, 3, 7, 13, 64, 1 << 16])
def test_multipart_parser_with_tricky_content(tmp_path: Path, step: int) -> None:
    from tests.fakes.bot_api import _MultipartParser

    boundary = b"BoUnDaRy"
    tricky = b"\r\n--BoUnDaR\r\r\n-\r\n--BoUnDaRr\n--BoUnDaRy" + b"\r"  # near-misses, CR end
    body = (b"preamble\r\n--BoUnDaRy\r\n"
            b'Content-Disposition: form-data; name="caption"\r\n\r\nna\xc3\xafve\r\n'
            b"--BoUnDaRy  \r\n"  # transport padding after a boundary is allowed
            b'Content-Disposition: form-data; name="document"; filename="q%22.bin"\r\n'
            b"Content-Type: application/octet-stream\r\n\r\n" + tricky + b"\r\n"
            b"--BoUnDaRy--\r\nepilogue")
    parser = _MultipartParser(_TrickleReader(body, step), boundary, tmp_path,  # type: ignore[arg-type]
                              keep=1 << 20)
    fields, files = parser.parse()
    assert fields == {"caption": "naïve"}
    upload = files["document"]
    assert upload.filename == 'q".bin'
    assert upload.read() == tricky
    assert upload.sha256 == hashlib.sha256(tricky).hexdigest()


def test_multipart_without_closing_boundary_is_400(api: FakeBotAPI) -> None:
    resp = requests.post(f"{api.url}/bot{api.token}/sendDocument", timeout=5,
                         data=b'--b\r\nContent-Disposition: form-data; name="document"; '
                              b'filename="a"\r\n\r\nabc',
                         headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert resp.status_code == 400
    assert list((api.workdir / "uploads").iterdir()) == []  # no temp file left behind


def test_copy_and_forward(api: FakeBotAPI) -> None:
    user_msg = api.push_message("a link", chat_id=42)

    async def flow(bot: Bot) -> Any:
        copied = await bot.copy_message(-100, 42, user_msg["message_id"])
        forwarded = await bot.forward_message(-100, 42, user_msg["message_id"])
        with pytest.raises(BadRequest, match=r"(?i)not found"):
            await bot.copy_message(-100, 42, 1)
        return copied, forwarded

    copied, forwarded = with_bot(api, flow)
    group = api.chat_messages(-100)
    assert group[copied.message_id]["text"] == "a link"
    assert forwarded.forward_origin is not None and forwarded.text == "a link"


def test_local_mode_limits(local_api: FakeBotAPI, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    import tests.fakes._methods as methods_module
    import tests.fakes.bot_api as bot_api_module

    # The body reader (413) and the method handlers (400) each check the limit.
    monkeypatch.setattr(bot_api_module, "LOCAL_UPLOAD_LIMIT", 1000)
    monkeypatch.setattr(methods_module, "LOCAL_UPLOAD_LIMIT", 1000)
    src = tmp_path / "big.bin"
    src.write_bytes(b"b" * 1001)

    async def flow(bot: Bot) -> None:
        with pytest.raises(BadRequest, match=r"(?i)too big"):
            await bot.send_document(42, src)
        with pytest.raises(NetworkError, match="Request Entity Too Large"):
            await bot.send_document(42, InputFile(io.BytesIO(b"b" * 1001), filename="b"))
        await bot.send_document(42, InputFile(io.BytesIO(b"b" * 1000), filename="b"))

    with_bot(local_api, flow, local=True)
    assert [c.status for c in local_api.calls_of("sendDocument")] == [400, 413, 200]
