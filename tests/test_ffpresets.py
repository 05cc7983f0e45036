"""FFMPEG_PRESETS: the start-up check of the owner's ffmpeg recipes (telebot/ffpresets.py), by
itself, through load_config, and as a real ``python -m telebot`` that refuses to start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from telebot.config import load_config
from telebot.errors import BadInputError, ConfigError
from telebot.ffpresets import check_preset, parse_presets
from tests.test_main import one_line, run_bot

GOOD = ["-i", "{input}", "-c:v", "libx265", "-crf", "28", "-c:a", "copy", "{output}"]


def refusal(args: Any) -> str:
    with pytest.raises(BadInputError) as caught:
        check_preset("p", args)
    return str(caught.value)


def test_usual_presets_pass() -> None:
    presets = parse_presets(json.dumps({
        "x265": GOOD,
        "small": {"args": ["-i", "{input}", "-vf", "scale=640:-2", "-an", "{output}"],
                  "ext": "mp4"},
        "cut": ["-ss", "10", "-i", "{input}", "-t", "30", "-c", "copy", "-f", "matroska",
                "{output}"],
        "tuned": ["-i", "{input}", "-c:v", "libx265", "-x265-params", "crf=24:psy-rd=1.5",
                  "{output}"],
    }))  # fmt: skip
    assert presets["x265"].args == tuple(GOOD) and presets["x265"].ext is None
    assert presets["small"].ext == "mp4"
    argv = presets["x265"].argv(["-protocol_whitelist", "file,pipe"], "file:/in.mkv", "file:/o")
    assert argv[:4] == ["-protocol_whitelist", "file,pipe", "-i", "file:/in.mkv"]
    assert argv[-1] == "file:/o"


@pytest.mark.parametrize(("args", "reason"), [
    (["-i", "http://evil.example/x.mp4", "{output}"], "names a URL"),
    (["-i", "{input}", "-i", "tcp:127.0.0.1:9", "{output}"], "starts with the protocol tcp"),
    (["-i", "{input}", "-i", "{output}", "{output}"], "exactly one {output}"),
    (["-i", "{input}", "-i", "-c", "{output}"], "-i must be followed by {input}"),
    (["-i", "{input}", "-map", "0", "tcp:10.0.0.1:9", "{output}"], "protocol tcp"),
    (["-i", "{input}", "-c", "copy", "/etc/cron.d/x", "{output}"], "would be a file name"),
    (["-i", "{input}", "other.mkv", "{output}"], "would be a file name"),
    (["-i", "{input}", "-f", "tee", "{output}"], "-f tee is not allowed"),
    (["-i", "{input}", "-f", "segment", "{output}"], "-f segment is not allowed"),
    (["-f", "lavfi", "-i", "{input}", "{output}"], "-f before an input"),
    (["-i", "{input}", "-vf", "movie=/etc/passwd[w];[in][w]overlay", "{output}"], "movie="),
    (["-i", "{input}", "-af", "amovie=x.wav", "{output}"], "amovie="),
    (["-i", "{input}", "-vf", "drawtext=textfile=/etc/shadow", "{output}"], "textfile="),
    (["-i", "{input}", "-filter_complex_script", "g.txt", "{output}"], "-filter_complex_script"),
    (["-i", "{input}", "-dump_attachment:t", "x", "{output}"], "-dump_attachment:t is not"),
    (["-i", "{input}", "-attach", "font.ttf", "{output}"], "-attach is not allowed"),
    (["-i", "{input}", "-/vf", "graph.txt", "{output}"], "-/vf is not allowed"),
    (["-i", "{input}", "-protocol_whitelist", "http", "{output}"], "-protocol_whitelist"),
    (["-i", "{input}", "{output}", "-y"], "as the last argument"),
    (["-i", "{input}", "{output}", "{output}"], "exactly one {output}"),
    (["-i", "{input}", "-metadata", "title={input}.mp4", "{output}"], "whole arguments"),
    (["-c", "copy", "{output}"], "needs -i {input}"),
    (["-i", "{input}", "-x265-params", "crf=28:csv=log.csv", "{output}"], "csv= is not allowed"),
    (["-i", "{input}", "-x264-params", "pass=1:stats=x.log", "{output}"], "stats= is not"),
])  # fmt: skip
def test_each_way_out_is_refused_with_its_reason(args: list[str], reason: str) -> None:
    message = refusal(args)
    assert message.startswith("preset 'p': ")
    assert reason in message


def test_shapes_that_are_not_presets() -> None:
    assert "list of strings" in refusal("-i {input} {output}")
    assert "ext must be one of" in refusal({"args": GOOD, "ext": "sh"})
    assert "unknown key 'shell'" in refusal({"args": GOOD, "shell": True})
    with pytest.raises(BadInputError, match="a name is"):
        check_preset("../x", GOOD)
    with pytest.raises(BadInputError, match="JSON object"):
        parse_presets("[1]")


def test_load_config_names_the_preset_and_the_reason() -> None:
    presets = {"ok": GOOD, "leaky": ["-i", "{input}", "-f", "hls", "{output}"]}
    with pytest.raises(ConfigError) as caught:
        load_config({"BOT_TOKEN": "1:abc", "OWNER_ID": "1", "FFMPEG_PRESETS": json.dumps(presets)},
                    cwd=Path("/nonexistent"))
    assert "FFMPEG_PRESETS" in str(caught.value)
    assert "preset 'leaky': -f hls is not allowed" in str(caught.value)


def test_the_bot_does_not_start_with_a_refused_preset(tmp_path: Path) -> None:
    bad = {"fetch": ["-i", "{input}", "-vf", "movie=http\\://x/y.png", "{output}"]}
    line = one_line(run_bot(tmp_path, FFMPEG_PRESETS=json.dumps(bad)))
    assert line.startswith("telebot: config error: FFMPEG_PRESETS")
    assert "preset 'fetch'" in line and "names a URL" in line
