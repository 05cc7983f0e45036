"""The media tools' flags through the intake: -cv, -ca, -keep, -ff (known names only), -meta
(with the user's /usetting default) and -t (the replied-to photo, for one leech)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from telebot.config import Config
from telebot.engine.limits import Limits, LimitValues
from telebot.ffpresets import parse_presets
from telebot.intake.auth import Authorizer
from telebot.intake.desk import Intake
from telebot.intake.request import Replied, Request, Requester
from telebot.intake.specs import SpecBuilder
from telebot.store import Store
from tests.intake.fakes import FakeQueue, link_pipeline

OWNER = 1
PRESETS = parse_presets(json.dumps({"x265": ["-i", "{input}", "-c:v", "libx265", "{output}"]}))


def make(tmp_path: Path) -> tuple[Intake, FakeQueue, Store]:
    cfg = Config(bot_token="1:x", owner_id=OWNER, ffmpeg_presets=PRESETS)
    queue = FakeQueue(Limits(LimitValues()))
    store = Store(tmp_path / "db")
    intake = Intake(cfg, store, Authorizer(cfg, store), SpecBuilder(cfg, link_pipeline()), queue,
                    can_post=lambda chat, user, sudo: None)
    return intake, queue, store


def ask(intake: Intake, command: str, text: str, replied: Replied | None = None) -> str | None:
    return intake.submit(Request(Requester(OWNER, OWNER, 7), command, text,
                                 replied=replied)).refusal


def test_the_flags_become_spec_fields(tmp_path: Path) -> None:
    intake, queue, _ = make(tmp_path)
    text = "https://h/a.mkv -cv MP4 -ca m4a:96k -keep -ff x265 -meta 'title=A|lang=eng'"
    assert ask(intake, "mirror", text) is None
    [spec] = queue.queued
    assert (spec.convert_video, spec.convert_audio, spec.keep_original) == ("mp4", "m4a:96k", True)
    assert spec.ffmpeg_presets == ("x265",) and spec.metadata == "title=A|lang=eng"
    assert spec.to_json()["v"] == 6 and type(spec).from_json(spec.to_json()) == spec


@pytest.mark.parametrize(("text", "refusal"), [
    ("https://h/a -cv avi", "-cv takes mp4 or mkv"),
    ("https://h/a -ca wav", "-ca 'wav'"),
    ("https://h/a -ca mp3:2000k", "bitrate"),
    ("https://h/a -keep", "-keep keeps the original of -cv, -ca or -ff"),
    ("https://h/a -ff x264", "no preset named x264. Known presets: x265"),
    ("https://h/a -ff '../x'", "-ff takes preset names"),
    ("https://h/a -meta 'path=/etc'", "-meta 'path=/etc'"),
    ("https://h/a -t", "-t sets the thumbnail of a /leech upload"),
])  # fmt: skip
def test_bad_values_are_refused_with_the_reason(tmp_path: Path, text: str, refusal: str) -> None:
    intake, queue, _ = make(tmp_path)
    said = ask(intake, "mirror", text)
    assert said is not None and refusal in said
    assert queue.queued == []


def test_t_takes_the_replied_photo_and_needs_one(tmp_path: Path) -> None:
    intake, queue, store = make(tmp_path)
    store.set_setting(OWNER, "thumbnail", "USER_THUMB")
    refusal = ask(intake, "leech", "https://h/a.mp4 -t")
    assert refusal is not None and "-t: reply to a photo" in refusal
    photo = Replied(5, text=None, photo="PHOTO_320")
    assert ask(intake, "leech", "https://h/a.mp4 -t", replied=photo) is None
    assert ask(intake, "leech", "https://h/a.mp4", replied=photo) is None
    assert [s.thumbnail for s in queue.queued] == ["PHOTO_320", "USER_THUMB"]
    # A photo whose caption is the link: the link and the thumbnail come from the same reply.
    captioned = Replied(6, text="https://h/b.mp4", photo="PHOTO_B")
    assert ask(intake, "leech", "-t", replied=captioned) is None
    assert (queue.queued[-1].source, queue.queued[-1].thumbnail) == ("https://h/b.mp4", "PHOTO_B")


def test_meta_defaults_to_the_users_setting_and_the_flag_wins(tmp_path: Path) -> None:
    intake, queue, store = make(tmp_path)
    store.set_setting(OWNER, "metadata", "artist=Me")
    assert ask(intake, "mirror", "https://h/a.mp3") is None
    assert ask(intake, "mirror", "https://h/a.mp3 -meta title=Other") is None
    assert [s.metadata for s in queue.queued] == ["artist=Me", "title=Other"]
