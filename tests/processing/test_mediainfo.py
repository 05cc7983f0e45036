"""/mediainfo's sampling and summary (telebot/processing/media/mediainfo.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from telebot.errors import ProcessingError
from telebot.processing.media.mediainfo import (
    HEAD_BYTES,
    TAIL_BYTES,
    RangeReader,
    fetch_sample,
    probe,
    summary,
)

DATA = bytes(range(256)) * 40_000  # 10.24 MB


def ranged(data: bytes, reads: list[tuple[int, int]]) -> RangeReader:
    def read(start: int, length: int) -> tuple[bytes, int | None]:
        reads.append((start, length))
        return data[start : start + length], len(data)

    return read


def test_head_and_tail_land_where_they_belong_in_a_sparse_file(tmp_path: Path) -> None:
    reads: list[tuple[int, int]] = []
    sample = fetch_sample(ranged(DATA, reads), tmp_path / "s")
    assert reads == [(0, HEAD_BYTES), (len(DATA) - TAIL_BYTES, TAIL_BYTES)]
    assert (sample.fetched, sample.size) == (HEAD_BYTES + TAIL_BYTES, len(DATA))
    body = sample.path.read_bytes()
    assert len(body) == len(DATA)
    assert body[:HEAD_BYTES] == DATA[:HEAD_BYTES] and body[-TAIL_BYTES:] == DATA[-TAIL_BYTES:]
    assert body[HEAD_BYTES:-TAIL_BYTES].count(0) == len(DATA) - HEAD_BYTES - TAIL_BYTES
    assert sample.path.stat().st_blocks * 512 < len(DATA)  # the hole takes no disk


def test_a_server_that_ignores_range_gives_only_the_head(tmp_path: Path) -> None:
    def read(start: int, length: int) -> tuple[bytes, int | None]:
        return (DATA[:length] if start == 0 else b""), len(DATA)

    sample = fetch_sample(read, tmp_path / "s")
    assert sample.fetched == HEAD_BYTES
    assert sample.path.read_bytes()[:HEAD_BYTES] == DATA[:HEAD_BYTES]


def test_a_small_file_is_read_once_and_whole(tmp_path: Path) -> None:
    reads: list[tuple[int, int]] = []
    sample = fetch_sample(ranged(DATA[:1000], reads), tmp_path / "s")
    assert reads == [(0, HEAD_BYTES)] and sample.path.read_bytes() == DATA[:1000]


def test_not_media_is_one_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00" * 1000)
    with pytest.raises(ProcessingError, match="no audio or video"):
        probe(junk)


def test_summary_lines_and_escaping() -> None:
    data = {
        "format": {"format_name": "matroska,webm", "duration": "3725.5", "size": "1000000000",
                   "bit_rate": "2147483"},
        "streams": [
            {"index": 0, "codec_type": "video", "codec_name": "hevc", "profile": "Main 10",
             "width": 1920, "height": 1080, "avg_frame_rate": "24000/1001"},
            {"index": 1, "codec_type": "audio", "codec_name": "opus", "sample_rate": "48000",
             "channel_layout": "5.1", "tags": {"language": "jpn"}},
            {"index": 2, "codec_type": "subtitle", "codec_name": "ass",
             "tags": {"language": "eng"}},
        ],
    }
    text = summary(data, "<b>film</b>.mkv")
    assert text.splitlines() == [
        "🎬 <b>&lt;b&gt;film&lt;/b&gt;.mkv</b>",
        "matroska,webm · 1:02:05 (3725.5 s) · 953.7 MiB · 2.1 Mb/s",
        "🎞 Video #0: hevc (Main 10), 1920x1080, 23.976 fps",
        "🔊 Audio #1: opus, 48000 Hz, 5.1, jpn",
        "💬 Subtitle #2: ass, eng",
    ]
