"""Issue 11, "Secrets never at rest, and chats only where allowed": the real bot process against
the fake Bot API (with a distinctive token) and a loopback origin that insists on credentials."""

from __future__ import annotations

import base64
import random
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import OWNER, BotProcess, bot_env
from tests.e2e.helpers import files_in, text_of, wait_text
from tests.fakes.bot_api import FakeBotAPI
from tests.fakes.origin import FakeOrigin

# Distinctive strings: any of them found on disk or in a chat is a leak.
TOKEN = "5550001:SECRETbotTOKENzq9Xw7Vv3Uu1Tt5Ss8Rr2"
TOKEN_SECRET_PART = TOKEN.split(":", 1)[1]
PASSWORD = "PASSW0RD-e2e-7qK"
BEARER = "S3CRET-e2e-9hdrVALUE"
BASIC = base64.b64encode(f"someuser:{PASSWORD}".encode()).decode()
NEEDLES = (PASSWORD, BEARER, BASIC, TOKEN_SECRET_PART)
MiB = 1024 * 1024


@pytest.fixture
def api(tmp_path: Path) -> Iterator[FakeBotAPI]:
    with FakeBotAPI(token=TOKEN, workdir=tmp_path / "botapi") as fake:
        yield fake


def start_bot(api: FakeBotAPI, home: Path, **extra: str) -> BotProcess:
    home.mkdir(exist_ok=True)
    return BotProcess(api, home, bot_env(api, **extra)).start()


def leaks_on_disk(home: Path, needles: tuple[str, ...] = NEEDLES) -> list[str]:
    """Every file under the bot's folder (database, -wal, -shm, log, stderr, task folders,
    results) that contains a needle, raw or percent-encoded."""
    found = []
    for path in files_in(home):
        data = path.read_bytes()
        for needle in needles:
            forms = {needle.encode(), needle.replace(":", "%3A").encode()}
            if any(form in data for form in forms):
                found.append(f"{path.relative_to(home)} holds {needle[:12]}…")
    return found


def leaks_in_chat(api: FakeBotAPI) -> list[str]:
    """Every parameter the bot sent to Telegram that contains a needle."""
    return [
        f"{call.method}: {call.params}"
        for call in api.calls
        for needle in NEEDLES
        if needle in repr(call.params)
    ]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_no_secret_at_rest_during_or_after_tasks(
    api: FakeBotAPI, origin: FakeOrigin, tmp_path: Path
) -> None:
    home = tmp_path / "bot"
    basic = origin.add(
        "/basic.bin", size=4 * MiB, seed=31, require={"Authorization": f"Basic {BASIC}"}
    )
    bearer = origin.add(
        "/bearer.bin", size=4 * MiB, seed=32, require={"Authorization": f"Bearer {BEARER}"}
    )
    for path in ("/basic.bin", "/bearer.bin"):
        origin.fault(path, throttle=100_000)  # per connection: each task takes ~10 s
    api.file_throttle = 150_000
    document = api.add_file(random.Random(3).randbytes(3 * MiB), file_name="doc.bin")
    bot = start_bot(api, home)
    try:
        _run_secret_tasks(api, origin, bot, home, basic.size, bearer.size, document)
    finally:
        bot.stop_quietly()


def _run_secret_tasks(
    api: FakeBotAPI,
    origin: FakeOrigin,
    bot: BotProcess,
    home: Path,
    basic_size: int,
    bearer_size: int,
    document: dict[str, Any],
) -> None:
    since = api.mark()
    basic_cmd = api.push_message(
        f"/mirror {origin.url}/basic.bin -au someuser -ap {PASSWORD}", chat_id=OWNER, user_id=OWNER
    )
    bearer_cmd = api.push_message(
        f'/mirror {origin.url}/bearer.bin -h "Authorization: Bearer {BEARER}"',
        chat_id=OWNER,
        user_id=OWNER,
    )
    holder = api.push_message(
        "doc", chat_id=OWNER, user_id=OWNER, document=document, entities=False
    )
    api.push_message("/mirror", chat_id=OWNER, user_id=OWNER, reply_to=holder)

    # Both commands with credentials leave the chat, and the bot says why.
    notes = wait_text(api, r"I deleted your message because it contained a password", since=since)
    wait_text(api, r"I deleted your message", since=notes.index + 1)
    # During: three downloads in flight, each with a resume sidecar on disk.
    downloads = home / "downloads"
    wait_for_sidecars(downloads, 3)
    assert leaks_on_disk(home) == []
    for folder in downloads.iterdir():
        assert mode(folder) == 0o700, folder
    for name in ("telebot.db", "telebot.db-wal", "telebot.log"):
        assert mode(home / name) == 0o600, name

    # At rest: stopped mid-download, the journal and sidecars wait for the next start.
    assert bot.terminate() == 0
    assert len(list(downloads.glob("*/*.part.state"))) == 3
    assert leaks_on_disk(home) == []

    # The next start opens the sealed credentials: the origin answers 401 without them.
    for path in ("/basic.bin", "/bearer.bin"):
        origin.clear_fault(path)
    api.file_throttle = None
    bot.start()
    for name in ("basic.bin", "bearer.bin", "doc.bin"):
        wait_text(api, rf"✅ <b>{name}", since=since, timeout=60)
    assert (home / "mirror" / "basic.bin").stat().st_size == basic_size
    assert (home / "mirror" / "bearer.bin").stat().st_size == bearer_size
    assert all(r.status != 401 for r in origin.requests)
    # After: nothing on disk, nothing in any chat; the command messages are gone.
    assert leaks_on_disk(home) == []
    assert leaks_in_chat(api) == []
    chat = api.chat_messages(OWNER)
    assert basic_cmd["message_id"] not in chat and bearer_cmd["message_id"] not in chat
    assert mode(home / "telebot.db") == 0o600 and mode(home / "telebot.log") == 0o600


def wait_for_sidecars(downloads: Path, count: int, timeout: float = 30.0) -> None:
    import threading
    import time

    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while len(list(downloads.glob("*/*.part.state"))) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"fewer than {count} sidecars in {list(downloads.rglob('*'))}")
        pause.wait(0.1)


LINK_PASSWORD = "LINKPASS-e2e-3vB"
API_KEY = "APIKEY-e2e-6nW"


def test_a_resume_sidecar_keeps_no_link_credential(
    api: FakeBotAPI, origin: FakeOrigin, tmp_path: Path
) -> None:
    """Issue 21: ``<name>.part.state`` stored the link whole, with its key. It names the
    link without it now; the journal keeps the sealed link, and the resume after kill -9
    fetches with that one (the origin answers 401 without the key). A password in the link
    itself ("user:pass@") is refused before any download (netguard): it says so, masked."""
    home = tmp_path / "bot"
    origin.add("/keyed.bin", size=4 * MiB, seed=35, require={"X-Key": API_KEY})
    origin.fault("/keyed.bin", throttle=100_000)
    link = f"{origin.url}/keyed.bin?id=7&api_key={API_KEY}"
    needles = (LINK_PASSWORD, API_KEY)
    bot = start_bot(api, home)
    try:
        since = api.mark()
        api.push_message(f'/mirror {link} -h "X-Key: {API_KEY}"', chat_id=OWNER, user_id=OWNER)
        wait_for_sidecars(home / "downloads", 1)
        wait_text(api, r"Downloading", method="editMessageText", since=since)
        assert leaks_on_disk(home, needles) == []
        bot.kill9()
        assert len(list((home / "downloads").glob("*/*.part.state"))) == 1
        assert leaks_on_disk(home, needles) == []
        fetched = origin.bytes_sent("/keyed.bin")
        assert 0 < fetched < 4 * MiB

        origin.clear_fault("/keyed.bin")
        mark = len(origin.requests)
        bot.start()
        wait_text(api, r"✅ <b>keyed\.bin", since=since, timeout=60)
        assert (home / "mirror" / "keyed.bin").stat().st_size == 4 * MiB
        resumed = [r for r in origin.requests[mark:] if r.method == "GET"]
        assert resumed and all(r.status in (200, 206) for r in resumed)
        assert all(f"api_key={API_KEY}" in r.query for r in resumed)  # the sealed link
        # it went on from the sidecar: less than the whole file was fetched again
        assert origin.bytes_sent("/keyed.bin") < fetched + 4 * MiB
        userinfo = origin.url.replace("://", f"://linkuser:{LINK_PASSWORD}@") + "/keyed.bin"
        api.push_message(f"/mirror {userinfo}", chat_id=OWNER, user_id=OWNER)
        wait_text(api, r"not accepted; use -au &lt;user&gt; -ap &lt;password&gt;", since=since)
        assert leaks_on_disk(home, needles) == []
        assert leaks_in_chat_of(api, needles) == []
    finally:
        bot.stop_quietly()


def leaks_in_chat_of(api: FakeBotAPI, needles: tuple[str, ...]) -> list[str]:
    return [f"{c.method}: {c.params}" for c in api.calls for n in needles if n in repr(c.params)]


def test_a_changed_token_reports_the_task_instead_of_crashing(
    origin: FakeOrigin, tmp_path: Path
) -> None:
    home = tmp_path / "bot"
    origin.add("/slow.bin", size=4 * MiB, seed=33, require={"Authorization": f"Basic {BASIC}"})
    origin.fault("/slow.bin", throttle=50_000)
    with FakeBotAPI(token=TOKEN, workdir=tmp_path / "api1") as first:
        bot = start_bot(first, home)
        first.push_message(
            f"/mirror {origin.url}/slow.bin -au someuser -ap {PASSWORD}",
            chat_id=OWNER,
            user_id=OWNER,
        )
        wait_text(first, r"Downloading", method="editMessageText", timeout=30)
        assert bot.terminate() == 0
    other = "5550002:ANOTHERtokenAAAAAAAAAAAAAAAAAAAAAAAAAA"
    with FakeBotAPI(token=other, workdir=tmp_path / "api2") as second:
        bot = start_bot(second, home)
        refused = wait_text(second, r"could not be resumed", timeout=30)
        assert "its credentials cannot be decrypted" in text_of(refused)
        # The bot lives on: it still answers a command after the refusal.
        mark = second.mark()
        second.push_message("/ping", chat_id=OWNER, user_id=OWNER)
        wait_text(second, r"Pong", chat_id=OWNER, since=mark)
        assert bot.proc is not None and bot.proc.poll() is None
        bot.stop_quietly()
    assert "Traceback" not in (home / "telebot.log").read_text()


def test_up_needs_membership_unless_sudo(
    bot_api: FakeBotAPI, origin: FakeOrigin, make_bot: Any
) -> None:
    make_bot(AUTHORIZED_CHATS="42")
    origin.add("/up.bin", size=200_000, seed=34)
    since = bot_api.mark()
    bot_api.push_message(f"/leech {origin.url}/up.bin -up -100777", chat_id=42, user_id=42)
    wait_text(bot_api, r"not a member of chat -100777", chat_id=42, since=since)
    # Refused before anything was fetched, not after a download that could not be sent.
    assert origin.requests_for("/up.bin") == []
    assert not [c for c in bot_api.calls_of("sendDocument") if c.index >= since]
    bot_api.set_member(-100777, 42, "restricted-left")  # restricted, but no longer in the chat
    mark = bot_api.mark()
    bot_api.push_message(f"/leech {origin.url}/up.bin -up -100777", chat_id=42, user_id=42)
    wait_text(bot_api, r"not a member of chat -100777", chat_id=42, since=mark)
    bot_api.set_member(-100777, 42, "member")
    mark = bot_api.mark()
    bot_api.push_message(f"/leech {origin.url}/up.bin -up -100777", chat_id=42, user_id=42)
    wait_text(bot_api, r"✅", chat_id=42, since=mark, timeout=60)
    [sent] = [c for c in bot_api.calls_of("sendDocument") if c.index >= mark]
    assert sent.params["chat_id"] == -100777


def test_unauth_and_rmsudo_of_config_entries_say_where_to_remove_them(
    bot_api: FakeBotAPI, make_bot: Any
) -> None:
    make_bot(AUTHORIZED_CHATS="-100555", SUDO_USERS="77")
    since = bot_api.mark()
    bot_api.push_message("/unauth -100555", chat_id=OWNER, user_id=OWNER)
    said = wait_text(bot_api, r"-100555", chat_id=OWNER, since=since)
    assert "is authorized by AUTHORIZED_CHATS in the config; remove it there" in text_of(said)
    bot_api.push_message("/rmsudo 77", chat_id=OWNER, user_id=OWNER)
    said = wait_text(bot_api, r"<code>77</code>", chat_id=OWNER, since=since)
    assert "is sudo by SUDO_USERS in the config; remove it there" in text_of(said)
    bot_api.push_message("/unauth -100666", chat_id=OWNER, user_id=OWNER)  # not anywhere
    said = wait_text(bot_api, r"-100666", chat_id=OWNER, since=since)
    assert "(no change)" in text_of(said)


def test_password_in_a_group_is_deleted_only_with_admin_rights(
    bot_api: FakeBotAPI, make_bot: Any
) -> None:
    group = -100444
    make_bot(AUTHORIZED_CHATS=str(group))
    since = bot_api.mark()
    # ftp:// is refused before any download starts; the message still carried a password.
    bot_api.push_message("/mirror ftp://h.example/f -au u -ap pw1", chat_id=group, user_id=OWNER)
    kept = wait_text(bot_api, r"please delete it yourself", chat_id=group, since=since)
    assert kept
    bot_api.make_admin(group)
    mark = bot_api.mark()
    cmd = bot_api.push_message(
        "/mirror ftp://h.example/f -au u -ap pw2", chat_id=group, user_id=OWNER
    )
    wait_text(bot_api, r"I deleted your message", chat_id=group, since=mark)
    assert cmd["message_id"] not in bot_api.chat_messages(group)


MALFORMED = (
    "/mirror http://a.example/f -x",
    "/mirror http://a.example/f -n",
    "/mirror http://a.example/f -n a -n b",
    "/mirror http://a.example/f -doc -doc",
    "/mirror http://a.example/f -ap lonely",
    "/mirror http://a.example/f -au",
    "/mirror http://a.example/f " + " ".join(f"-h 'X-{i}: v'" for i in range(12)),
    "/mirror http://a.example/f -h 'no colon here'",
    "/mirror http://a.example/f -h 'Host: evil'",
    '/mirror "http://a.example/f',
    "/mirror ftp://a.example/f",
    "/mirror",
    "/mirror http://a.example/f -e -e",
    "/mirror http://a.example/f -sp lots",
    "/mirror http://a.example/f -up -100123",
    "/leech http://a.example/f -up notachat",
    "/leech http://a.example/f -i 0",
    "/mirror http://a.example/f http://b.example/g",
    "/mirror http://a.example/" + "x" * 5000,
    "/mirror http://a.example/f -doc -med",
)


def test_malformed_commands_are_answered_without_tracebacks(
    bot_api: FakeBotAPI, make_bot: Any
) -> None:
    users = list(range(5000, 5100))  # 3 commands each: within a private chat's burst of 3
    bot = make_bot(AUTHORIZED_CHATS=",".join(map(str, users)))
    pick = random.Random(11)
    since = bot_api.mark()
    sent = []
    for i in range(300):
        user = users[i % len(users)]
        text = MALFORMED[i % len(MALFORMED)] if i < 2 * len(MALFORMED) else pick.choice(MALFORMED)
        sent.append(bot_api.push_message(text, chat_id=user, user_id=user))
    wanted = {(m["chat"]["id"], m["message_id"]) for m in sent}

    def answered() -> set[tuple[int, int]]:
        return {
            (c.params.get("chat_id"), replied_to(c.params))
            for c in bot_api.calls_of("sendMessage")
            if c.index >= since and "❌" in text_of(c)
        }

    import threading
    import time

    deadline = time.monotonic() + 120
    while not wanted <= answered():
        assert time.monotonic() < deadline, f"{len(wanted - answered())} commands unanswered"
        threading.Event().wait(0.2)
    log = bot.log_text()
    assert "Traceback" not in log and "Traceback" not in bot.stderr()
    assert not re.search(r" (ERROR|CRITICAL) ", log), [
        line for line in log.splitlines() if " ERROR " in line
    ][:5]
    assert len(re.findall(r" INFO .* refused: ", log)) == 300  # one line per mistake


def replied_to(params: dict[str, Any]) -> Any:
    ref = params.get("reply_parameters")
    if isinstance(ref, dict):
        return ref.get("message_id")
    return params.get("reply_to_message_id")


ZIP_PASSWORD = "ZIPPW-e2e-5tR"


def test_a_bulk_list_with_credentials_is_deleted_and_its_values_sealed(
    api: FakeBotAPI, origin: FakeOrigin, tmp_path: Path
) -> None:
    """Issue 21: -b read -au/-ap, -h "Authorization: …" and -z <password> from the lines of
    the message (or .txt) it replies to, and only the command was checked for them. The list
    now leaves the chat like such a command, and the values are sealed like its values."""
    home = tmp_path / "bot"
    needles = (*NEEDLES, ZIP_PASSWORD)
    origin.add("/l1.bin", size=2 * MiB, seed=41, require={"Authorization": f"Basic {BASIC}"})
    origin.add("/l2.bin", size=64 * 1024, seed=42, require={"Authorization": f"Bearer {BEARER}"})
    origin.add("/l3.bin", size=64 * 1024, seed=43)
    origin.fault("/l1.bin", throttle=200_000)  # in flight while the data folder is searched
    lines = "\n".join((
        f"{origin.url}/l1.bin -au someuser -ap {PASSWORD}",
        f'{origin.url}/l2.bin -h "Authorization: Bearer {BEARER}"',
        f"{origin.url}/l3.bin -z {ZIP_PASSWORD}",
    ))  # fmt: skip
    bot = start_bot(api, home)
    try:
        listing = api.push_message(lines, chat_id=OWNER, user_id=OWNER)
        since = api.mark()
        api.push_message("/mirror -b", chat_id=OWNER, user_id=OWNER, reply_to=listing)
        deleted_message(api, listing, since)
        wait_text(api, r"I deleted the list you replied to", since=since)
        wait_for_sidecars(home / "downloads", 1)
        assert leaks_on_disk(home, needles) == []  # the journal holds the three, sealed
        for name in ("l1.bin", "l2.bin", "l3.bin.zip"):
            wait_text(api, rf"✅ <b>{re.escape(name)}", since=since, timeout=60)
        assert all(r.status != 401 for r in origin.requests)

        # The same list as a .txt file: the file's message goes.
        document = api.add_file(lines.encode(), file_name="links.txt", mime_type="text/plain")
        holder = api.push_message("", chat_id=OWNER, user_id=OWNER, document=document)
        mark = api.mark()
        api.push_message("/leech -b", chat_id=OWNER, user_id=OWNER, reply_to=holder)
        deleted_message(api, holder, mark)
        wait_text(api, r"I deleted the list you replied to", since=mark)
        for name in ("l1.bin", "l2.bin", "l3.bin.zip"):
            wait_text(api, rf"✅ <b>{re.escape(name)}", since=mark, timeout=60)

        # In a group where the bot is no admin, it asks instead.
        group = -100321
        api.push_message("/authorize", chat_id=group, user_id=OWNER)  # any message: a known chat
        listing = api.push_message(lines, chat_id=group, user_id=OWNER)
        mark = api.mark()
        api.push_message("/mirror -b 2:3", chat_id=group, user_id=OWNER, reply_to=listing)
        deleted_message(api, listing, mark)  # tried: Telegram says no
        wait_text(api, r"The list you replied to contains a password", chat_id=group, since=mark)
        wait_text(api, r"Started 2 tasks", chat_id=group, since=mark)
        for name in ("l2", "l3"):  # "l2 (1).bin": the mirror folder has an l2.bin already
            wait_text(api, rf"✅ <b>{name}", chat_id=group, since=mark, timeout=60)
        assert leaks_on_disk(home, needles) == []
        assert leaks_in_chat_of(api, needles) == []
    finally:
        bot.stop_quietly()


def deleted_message(api: FakeBotAPI, message: dict[str, Any], since: int) -> None:
    api.wait_for(
        "deleteMessage",
        lambda c: (
            c.params.get("message_id") == message["message_id"]
            and c.params.get("chat_id") == message["chat"]["id"]
        ),
        since=since,
        timeout=30,
    )
