"""User settings: stored rows, the override order flag > user > config as resolved into the
TaskSpec, the prompt's time limit, and the done-message line."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from telebot.bot.menus.usettings import INPUT_TIMEOUT, Input, SettingsMenu
from telebot.config import Config, load_config
from telebot.engine.task import TaskSpec
from telebot.errors import BadInputError
from telebot.intake.args import parse_task_args
from telebot.intake.request import Requester
from telebot.intake.specs import COMMANDS, SpecBuilder
from telebot.settings.user import UserSettings, caption_for, describe
from telebot.store import Store
from tests.intake.fakes import link_pipeline


def config(tmp_path: Path, **env: str) -> Config:
    return load_config({"BOT_TOKEN": "1:x", "OWNER_ID": "42", **env}, cwd=tmp_path)


def spec_for(
    cfg: Config, text: str, kind: str, user: UserSettings, tool: str | None = None
) -> TaskSpec:
    builder = SpecBuilder(cfg, link_pipeline())
    args = parse_task_args(text, kind)
    command = COMMANDS[kind if tool is None else {"mirror": "ytdl", "leech": "ytdlleech"}[kind]]
    return builder.spec_from(args, command, Requester(7, 5, 9), user=user)


def test_flags_beat_user_settings_which_beat_the_config(tmp_path: Path) -> None:
    rclone = tmp_path / "rclone.conf"
    rclone.write_text("[cfg]\ntype = local\n[mine]\ntype = local\n")
    cfg = config(tmp_path, RCLONE_CONFIG=str(rclone), DEFAULT_UPLOAD="cfg:x")
    none = UserSettings()
    user = UserSettings(
        mirror_dest="mine:y",
        ytdl_options='{"playlist_items": "1"}',
        name_subst="a/b",
        split_size=1_000_000,
        leech_type="media",
    )
    link = "http://h/f.mkv"
    assert spec_for(cfg, link, "mirror", none).upload == "cfg:x"
    assert spec_for(cfg, link, "mirror", user).upload == "mine:y"
    assert spec_for(cfg, f"{link} -up local", "mirror", user).upload == "local"
    assert spec_for(cfg, link, "mirror", UserSettings(mirror_dest="local")).upload == "local"
    assert spec_for(cfg, link, "mirror", user).name_subst == "a/b"
    assert spec_for(cfg, f"{link} -ns c/d", "mirror", user).name_subst == "c/d"
    ytdl = spec_for(cfg, link, "mirror", user, tool="ytdl")
    assert ytdl.ytdl_options == '{"playlist_items": "1"}'
    flagged = spec_for(cfg, link + ' -opt \'{"playlist_items": "2"}\'', "mirror", user, "ytdl")
    assert flagged.ytdl_options == '{"playlist_items": "2"}'
    leech = spec_for(cfg, link, "leech", user)
    assert (leech.split_size, leech.as_media, leech.as_document) == (1_000_000, True, False)
    leech = spec_for(cfg, f"{link} -sp 2mb -doc", "leech", user)
    assert (leech.split_size, leech.as_media, leech.as_document) == (2_000_000, False, True)
    as_doc = spec_for(cfg, link, "leech", UserSettings(leech_type="document"), tool="ytdl")
    assert as_doc.as_document and not as_doc.as_media  # a video goes as media unless asked
    assert spec_for(cfg, link, "leech", none, tool="ytdl").as_media
    assert spec_for(cfg, link, "leech", none).split_size is None  # the sink uses the config


def test_leech_only_settings_stay_off_mirrors(tmp_path: Path) -> None:
    user = UserSettings(caption="{name}", thumbnail="AgAD", prefix="p-", exclude_ext=(".nfo",))
    cfg = config(tmp_path)
    mirror = spec_for(cfg, "http://h/f", "mirror", user)
    assert (mirror.caption, mirror.thumbnail) == ("", None)
    assert (mirror.name_prefix, mirror.exclude_ext) == ("p-", (".nfo",))
    leech = spec_for(cfg, "http://h/f", "leech", user)
    assert (leech.caption, leech.thumbnail) == ("{name}", "AgAD")
    again = TaskSpec.from_json(leech.to_json())  # the journal keeps them across a restart
    assert again == leech


def test_store_rows_round_trip_and_damaged_rows_are_ignored(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    store.set_setting(1, "prefix", "p-")
    store.set_setting(1, "exclude_ext", [".nfo"])
    store.set_setting(1, "split_size", "big")  # damaged: not a number
    store.set_setting(1, "leech_type", "hologram")  # damaged: no such type
    store.set_setting(2, "prefix", "other")
    got = UserSettings.load(store, 1)
    assert got == UserSettings(prefix="p-", exclude_ext=(".nfo",))
    assert store.delete_setting(1, "prefix") == 1
    assert UserSettings.load(store, 1).prefix == ""
    assert store.delete_setting(1) == 3  # reset all: that user's rows only
    assert UserSettings.load(store, 1) == UserSettings()
    assert UserSettings.load(store, 2).prefix == "other"


def test_caption_template_is_replaced_not_formatted() -> None:
    text = caption_for(
        "{name} {index}/{total} {size} {name.__class__} {0}",
        name="a.mkv",
        size=2048,
        index=2,
        total=3,
    )
    assert text == "a.mkv 2/3 2.0 KiB {name.__class__} {0}"


def test_done_line_names_what_shaped_the_delivery() -> None:
    leech = TaskSpec(
        kind="leech",
        source="x",
        chat_id=1,
        user_id=1,
        as_media=True,
        split_size=1_048_576,
        thumbnail="t",
        name_prefix="<b>",
    )
    assert describe(leech) == "as media · parts 1.0 MiB · custom thumbnail · prefix “&lt;b&gt;”"
    assert describe(TaskSpec(kind="mirror", source="x", chat_id=1, user_id=1)) == ""


@dataclass
class Sent:
    chat_id: int
    message_id: int


@dataclass
class RecordingMessenger:
    texts: list[tuple[int, str]] = field(default_factory=list)
    edits: list[tuple[int, int, str]] = field(default_factory=list)

    def send_text(self, chat_id: int, text: str, **_: Any) -> Sent:
        self.texts.append((chat_id, text))
        return Sent(chat_id, 100 + len(self.texts))

    def edit_text(self, chat_id: int, message_id: int, text: str, **_: Any) -> bool:
        self.edits.append((chat_id, message_id, text))
        return True


def test_a_prompt_takes_the_next_message_until_its_deadline(tmp_path: Path) -> None:
    now = [0.0]
    store = Store(tmp_path / "db.sqlite")
    bridge = RecordingMessenger()
    menu = SettingsMenu(
        config(tmp_path),
        store,
        lambda: bridge,
        lambda _u: False,  # type: ignore[arg-type,return-value]
        clock=lambda: now[0],
    )
    assert menu.take(Input(5, 7, 1, "early")) is False  # no prompt: not ours
    menu.press(7, "i", "prefix", (5, 50))
    assert menu.take(Input(5, 8, 2, "someone else")) is False  # another user in the chat
    assert menu.take(Input(5, 7, 3, "a/b")) is True  # refused, asked again
    assert "may not contain /" in bridge.texts[-1][1]
    assert menu.take(Input(5, 7, 4, "p-")) is True
    assert UserSettings.load(store, 7).prefix == "p-"
    menu.press(7, "i", "suffix", (5, 50))
    now[0] = INPUT_TIMEOUT + 1
    assert menu.take(Input(5, 7, 5, "-late")) is False  # expired: the message is left alone
    assert UserSettings.load(store, 7).suffix == ""


@pytest.mark.parametrize(
    ("key", "value", "error"),
    [
        ("split_size", "51mb", "upload limit"),
        ("mirror_dest", "/etc", "remote:path"),
        ("ytdl_options", '{"exec": "rm"}', "exec"),
        ("name_subst", "/(/x/r", "regular expression"),
        ("exclude_ext", "a/b", "extension"),
        ("leech_dest", "here", "chat id"),
        ("thumbnail", "text", "photo"),
    ],
)
def test_bad_values_are_refused(tmp_path: Path, key: str, value: str, error: str) -> None:
    menu = SettingsMenu(config(tmp_path), Store(":memory:"), RecordingMessenger, lambda _u: False)  # type: ignore[arg-type]
    with pytest.raises(BadInputError, match=error):
        menu.check(key, Input(1, 1, 1, value))


def test_clear_cancel_and_close_buttons(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    bridge = RecordingMessenger()
    menu = SettingsMenu(config(tmp_path), store, lambda: bridge, lambda _u: False)  # type: ignore[arg-type,return-value]
    store.set_setting(7, "caption", "{name}")
    menu.press(7, "i", "caption", (5, 50))
    assert menu.press(7, "clr", "caption", (5, 101)) == "Caption cleared."
    assert UserSettings.load(store, 7).caption == ""
    assert bridge.edits[-1] == (5, 101, "Caption cleared.")  # the prompt says so
    assert menu.take(Input(5, 7, 3, "late")) is False  # the prompt is closed
    menu.press(7, "i", "prefix", (5, 50))
    assert menu.press(7, "x", "", (5, 102)) == "Cancelled."
    assert menu.take(Input(5, 7, 4, "p-")) is False
    assert UserSettings.load(store, 7).prefix == ""
    assert menu.press(7, "c", "", (5, 50)) == "Closed."
    assert bridge.edits[-1] == (5, 50, "⚙️ Settings closed.")
    assert menu.press(7, "zz", "", (5, 50)) == "Unknown button."
