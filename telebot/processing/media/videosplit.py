"""Playable parts of a video too big for one upload: cut at keyframes with ffmpeg stream copy.

A byte split (``split.py``) gives parts that only play once joined again; a leeched film should
play part by part in the chat. So a video larger than the part size is cut at keyframes, each
part a complete file of the same container, named ``name.part1.mp4``, ``name.part2.mp4``, … (the
extension stays, so Telegram treats each as a video).

How the cuts are chosen (docs/ENGINES.md, ffmpeg: ffmpeg's ``-fs`` overshoots the limit,
and ``-ss`` with stream copy starts at the keyframe before, so naive loops overlap):

1. :func:`probe_gops`: ffprobe lists every packet (stream, times, size, keyframe flag); the
   packets are summed per GOP - from one video keyframe to the next.
2. :func:`plan_cuts`: greedy, each part takes whole GOPs while their bytes stay within the
   budget, :data:`SAFETY` of the part size (container overhead: the 95% from the notes' probe).
   A single GOP over the budget cannot be cut without re-encoding: the video then gets the byte
   split instead (:class:`Unsplittable`).
3. :meth:`VideoSplit.produce` cuts one part: ``ffmpeg -ss <keyframe pts - ε> -to <next
   keyframe dts - ε> -i SRC -c copy -copypriorss 0``. Input ``-to`` stops by *decode* time
   (checked with B-frames: cutting at the next keyframe's pts kept that keyframe and a frame
   after it). Input ``-ss`` with copy only gets *near*: it lands on a keyframe at or before
   the time (Matroska landed a whole GOP early even at the exact keyframe time), so it aims
   just before the keyframe and ``-copypriorss 0`` drops what comes before that time (for
   video everything up to the first keyframe after it: the wanted one). Parts then neither
   overlap nor leave gaps (checked by packet counts for MP4 and Matroska).
4. A part that still comes out over the part size (overhead beyond the margin) is thrown away
   and the rest is planned again from that part with a smaller budget (:func:`shrink_budget`).

Parts are made one at a time, just before they are sent, so a leech needs free space for one
part. Each is written to a temporary name and renamed when complete and checked. The plan is
kept in the parts folder (:data:`PLAN_PREFIX`): after a restart the parts already sent keep
their boundaries even when a re-plan moved the later ones. ffmpeg and ffprobe run as managed
children (:mod:`telebot.childproc`): they die with the bot and stop within a second on cancel.
They run through :mod:`telebot.fftools`: boxed (read the source, write the parts
folder) and with protocol and format whitelists, so a "video" that is really a playlist naming
other files is refused by the probe and gets the byte split, like any unsplittable input.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import json
import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from telebot import fftools
from telebot.childproc import ToolTimeout
from telebot.errors import BadInputError, ProcessingError
from telebot.fftools import RefusedInput
from telebot.processing.media.split import MAX_PARTS

log = logging.getLogger(__name__)

# Containers ffmpeg can write back with stream copy, by extension (the muxer follows it).
SPLITTABLE = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"})
# mp4/mov: moov atom first, so Telegram can play a part while it downloads.
_FASTSTART = frozenset({".mp4", ".m4v", ".mov"})
# docs/ENGINES.md, ffmpeg: cuts planned at ≤95% of the target gave parts under it (mp4 overhead).
SAFETY = 0.95
# After an overshoot the new budget is scaled by limit/actual and then by this, so the retry
# is strictly smaller and the part does not land right on the limit again.
SHRINK = 0.97
# Re-plans of one part before giving up (each shrinks the budget by at least 3%).
MAX_RETRIES = 5
# Seconds inside a GOP boundary: far below one frame (4 ms at 240 fps), above the microsecond
# rounding of ffprobe's *_time values.
EPSILON = 0.0005
PROBE_TIMEOUT = 600.0  # ffprobe reads every packet header: a minute or two for hours of video
PLAN_PREFIX = ".cuts-"


class Unsplittable(ProcessingError):
    """No keyframe plan fits the part size (a GOP bigger than a part, or no keyframes)."""


@dataclass(frozen=True)
class Gop:
    """A run of packets (all streams) from one video keyframe to the next.

    ``pts`` is where a part starting here seeks to; ``dts`` is where the part before it stops
    (input ``-to`` cuts by decode time).
    """

    pts: float
    dts: float
    size: int


# ------------------------------------------------------------------------------- planning


def plan_cuts(sizes: Sequence[int], budget: int, start: int = 0) -> list[int]:
    """The GOP indices (from ``start`` on) where each part begins: every part takes whole GOPs
    while their sum stays within ``budget``. Raises :class:`Unsplittable` for a GOP over it."""
    cuts: list[int] = []
    total = 0
    for index in range(start, len(sizes)):
        size = sizes[index]
        if size > budget:
            raise Unsplittable(
                f"one keyframe interval is {size:,} bytes, over the {budget:,} byte budget"
            )
        if not cuts or total + size > budget:
            cuts.append(index)
            total = 0
        total += size
    return cuts


def plan_equal(sizes: Sequence[int], budget: int, count: int) -> list[int]:
    """``-es``: the GOP indices where each of ``count`` parts of about equal bytes begins (each
    cut at the GOP boundary nearest to its share), with one part more each time a part would
    pass ``budget``; the greedy plan (:func:`plan_cuts`) when no such plan exists."""
    total = sum(sizes)
    for parts in range(max(1, count), max(1, count) + MAX_RETRIES + 1):
        share = total / parts
        cuts = [0]
        before = 0  # bytes of the GOPs before the one looked at
        for index, size in enumerate(sizes):
            # Cut before this GOP when that boundary is nearer the next share than the one after.
            if index > 0 and len(cuts) < parts and before + size / 2 >= share * len(cuts):
                cuts.append(index)
            before += size
        ends = [*cuts[1:], len(sizes)]
        if all(sum(sizes[a:b]) <= budget for a, b in zip(cuts, ends, strict=True)):
            return cuts
    return plan_cuts(sizes, budget)


def shrink_budget(budget: int, limit: int, produced: int) -> int:
    """The budget for planning again after a part of ``produced`` bytes came out over
    ``limit``: scaled by how far it overshot, with a margin, and always smaller than before."""
    scaled = int(budget * (limit / produced) * SHRINK)
    return max(1, min(scaled, budget - 1))


def part_name(name: str, index: int) -> str:
    """``movie.mp4`` → ``movie.part3.mp4``; the stem is cut (on a UTF-8 boundary) so the
    temporary name still fits the 255-byte limit of file names."""
    stem, suffix = os.path.splitext(name)
    tag = f".part{index}"
    room = 255 - len(_TMP) - len(tag.encode()) - len(suffix.encode())
    stem = stem.encode()[: max(1, room)].decode("utf-8", "ignore")
    return f"{stem}{tag}{suffix}"


_TMP = ".tmp-"


# -------------------------------------------------------------------------------- probing


def probe_gops(src: Path, *, cancel: threading.Event | None = None) -> list[Gop] | None:
    """The GOPs of ``src``'s first video stream, or None when it has no real video stream
    (audio with a cover picture included) or ffprobe cannot read it."""
    found = _video_stream(src, cancel)
    if found is None:
        return None
    stream, start = found
    out = _ffprobe(
        src, ["-show_entries", "packet=stream_index,pts_time,dts_time,size,flags",
              "-of", "compact=p=0"], cancel,
    )  # fmt: skip
    if out is None:
        return None
    return gops_from_packets(out, stream, start)


def gops_from_packets(text: str, video_stream: int, start: float = 0.0) -> list[Gop] | None:
    """Sum ffprobe's packet lines (``compact`` format) per GOP of ``video_stream``.

    Times are made relative to ``start``, the file's start time: ffmpeg's input ``-ss`` and
    ``-to`` count from there, while ffprobe prints absolute times (a file whose timestamps
    begin at 5 s had every cut a GOP early before this)."""
    packets: list[tuple[int, float, float, int, bool]] = []
    for line in text.splitlines():
        fields = dict(part.split("=", 1) for part in line.split("|") if "=" in part)
        try:
            pts = _time(fields.get("pts_time"))
            dts = _time(fields.get("dts_time"))
            when_pts = pts if pts is not None else dts
            when_dts = dts if dts is not None else pts
            if when_pts is None or when_dts is None:
                continue
            packets.append((int(fields["stream_index"]), when_pts, when_dts,
                            int(fields["size"]), "K" in fields.get("flags", "")))
        except (KeyError, ValueError):
            continue
    keys = sorted((dts, pts) for stream, pts, dts, _size, key in packets
                  if stream == video_stream and key)
    if not keys:
        return None
    starts = [dts for dts, _pts in keys]
    sizes = [0] * len(keys)
    for _stream, _pts, dts, size, _key in packets:
        sizes[max(0, bisect.bisect_right(starts, dts) - 1)] += size
    return [Gop(pts=pts - start, dts=dts - start, size=size)
            for (dts, pts), size in zip(keys, sizes, strict=True)]


def _time(value: str | None) -> float | None:
    if value is None or value in ("", "N/A"):
        return None
    return float(value)


def _video_stream(src: Path, cancel: threading.Event | None) -> tuple[int, float] | None:
    """(index of the first real video stream, the file's start time in seconds)."""
    out = _ffprobe(
        src, ["-show_entries",
              "format=start_time:stream=index,codec_type:stream_disposition=attached_pic",
              "-of", "json"], cancel,
    )  # fmt: skip
    try:
        data = json.loads(out or "{}")
        start = _time((data.get("format") or {}).get("start_time")) or 0.0
        for stream in data.get("streams", []):
            cover = (stream.get("disposition") or {}).get("attached_pic")
            if stream.get("codec_type") == "video" and not cover:
                return int(stream["index"]), start
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    return None


def _ffprobe(src: Path, args: list[str], cancel: threading.Event | None) -> str | None:
    """ffprobe's stdout for ``src``, or None (logged) when it failed or refused the file."""
    argv = ["ffprobe", "-v", "error", *args, *fftools.input_options(src), fftools.input_url(src)]
    try:
        done = fftools.run(argv, reads=src, cancel=cancel, timeout=PROBE_TIMEOUT)
    except RefusedInput as exc:
        log.warning("%s: %s; splitting by bytes", src.name, exc)
        return None
    except (OSError, ToolTimeout) as exc:
        log.info("ffprobe failed: %s", exc)
        return None
    if done.returncode != 0:
        log.info("ffprobe exited %d: %s", done.returncode, done.error_line())
        return None
    return done.stdout.decode("utf-8", "replace")


# ------------------------------------------------------------------------------ the split


class VideoSplit:
    """The keyframe parts of one video; :attr:`cuts` may change as parts are made (a part
    that overshot makes the rest be planned again), so iterate with :meth:`count` each time.
    """

    def __init__(
        self, src: Path, out_dir: Path, limit: int, gops: list[Gop], *,
        cancel: threading.Event | None = None, safety: float = SAFETY, equal: bool = False,
    ) -> None:
        self.src = src
        self.out_dir = out_dir
        self.limit = limit
        self.gops = gops
        self._cancel = cancel
        self._plan = out_dir / f"{PLAN_PREFIX}{hashlib.sha1(src.name.encode()).hexdigest()[:16]}"
        self._source_size = src.stat().st_size
        self.budget = int(limit * safety)
        sizes = [g.size for g in gops]
        # -es: as many parts as the size needs, of about equal bytes (so equal durations at a
        # steady bitrate) instead of full parts and a short last one.
        fresh = (plan_equal(sizes, self.budget, -(-self._source_size // limit)) if equal
                 else plan_cuts(sizes, self.budget))
        self.cuts = self._load() or fresh
        self._check_count()

    # -- plan, kept on disk so a restart keeps the boundaries of parts already sent

    def _load(self) -> list[int] | None:
        try:
            state = json.loads(self._plan.read_text(encoding="utf-8"))
            if (state["size"], state["limit"], state["gops"]) != (
                self._source_size, self.limit, len(self.gops)
            ):
                return None
            self.budget = int(state["budget"])
            cuts = [int(c) for c in state["cuts"]]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        ok = cuts and cuts[0] == 0 and all(a < b for a, b in itertools.pairwise(cuts))
        return cuts if ok and cuts[-1] < len(self.gops) else None

    def _save(self) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)
        state = {"size": self._source_size, "limit": self.limit, "gops": len(self.gops),
                 "budget": self.budget, "cuts": self.cuts}
        tmp = self._plan.with_name(self._plan.name + ".tmp")
        tmp.write_text(json.dumps(state), encoding="utf-8")
        os.replace(tmp, self._plan)  # a reader sees the old plan or the new one, never half

    def _check_count(self) -> None:
        if len(self.cuts) > MAX_PARTS:
            raise BadInputError(
                f"that would make {len(self.cuts)} parts; the most is {MAX_PARTS} (raise -sp)"
            )

    # -- parts

    def count(self) -> int:
        return len(self.cuts)

    def name(self, index: int) -> str:
        """The file name of part ``index`` (from 1)."""
        return part_name(self.src.name, index)

    def estimate(self, index: int) -> int:
        """Planned bytes of part ``index`` (from 1): its packets, without container overhead."""
        first, end = self._span(index)
        return sum(g.size for g in self.gops[first:end])

    def _span(self, index: int) -> tuple[int, int]:
        first = self.cuts[index - 1]
        end = self.cuts[index] if index < len(self.cuts) else len(self.gops)
        return first, end

    def produce(self, index: int) -> Path:
        """Write part ``index`` (from 1) and return its path; re-plans the rest when it comes
        out over the limit. Raises ProcessingError, or TaskCancelled on cancel."""
        if not self._plan.exists():
            self._save()
        for _attempt in range(MAX_RETRIES + 1):
            path = self._cut(index)
            size = path.stat().st_size
            if size <= self.limit:
                return path
            path.unlink(missing_ok=True)
            self._replan(index, size)
        raise ProcessingError(f"could not cut {self.name(index)} under {self.limit:,} bytes")

    def _replan(self, index: int, produced: int) -> None:
        budget = shrink_budget(self.budget, self.limit, produced)
        log.info("%s came out at %d bytes (limit %d): planning the rest with %d",
                 self.name(index), produced, self.limit, budget)
        try:
            rest = plan_cuts([g.size for g in self.gops], budget, start=self.cuts[index - 1])
        except Unsplittable as exc:
            raise ProcessingError(
                f"cannot cut {self.src.name} at keyframes under {self.limit:,} bytes ({exc})"
            ) from None
        self.budget = budget
        self.cuts = self.cuts[: index - 1] + rest
        self._check_count()
        self._save()

    def _cut(self, index: int) -> Path:
        first, end = self._span(index)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        target = self.out_dir / self.name(index)
        tmp = self.out_dir / f"{_TMP}{target.name}"
        argv = ["ffmpeg", "-v", "error", "-nostdin", "-y"]
        if first > 0:
            argv += ["-ss", f"{self.gops[first].pts - EPSILON:.6f}"]
        if end < len(self.gops):
            argv += ["-to", f"{self.gops[end].dts - EPSILON:.6f}"]
        argv += [*fftools.input_options(self.src), "-i", fftools.input_url(self.src),
                 "-map", "0:v?", "-map", "0:a?", "-map", "0:s?",
                 "-c", "copy", "-copypriorss", "0", "-avoid_negative_ts", "make_zero",
                 ]  # fmt: skip
        if target.suffix.lower() in _FASTSTART:
            argv += ["-movflags", "+faststart"]
        argv.append(fftools.output_url(tmp))
        try:
            # RefusedInput (a ProcessingError) passes through: the probe accepted this file,
            # so a refusal here means it changed under us, and the part must not be sent.
            done = fftools.run(argv, reads=self.src, writes=self.out_dir, cancel=self._cancel,
                               timeout=_cut_timeout(self.estimate(index)))
            if done.returncode != 0 or not tmp.is_file():
                raise ProcessingError(f"ffmpeg could not cut {target.name}: {done.error_line()}")
            os.replace(tmp, target)
        except (OSError, ToolTimeout) as exc:
            raise ProcessingError(f"ffmpeg could not cut {target.name}: {exc}") from None
        finally:
            tmp.unlink(missing_ok=True)
        return target


def _cut_timeout(size: int) -> float:
    # Stream copy runs at disk speed; 5 MB/s is a very slow disk, plus a minute to start.
    return 60.0 + size / 5_000_000


def open_split(
    src: Path, out_dir: Path, limit: int, *, cancel: threading.Event | None = None,
    equal: bool = False,
) -> VideoSplit | None:
    """A :class:`VideoSplit` for ``src``, or None when it should get the byte split instead:
    not a container we can cut, no video stream, or a keyframe interval bigger than a part."""
    if src.suffix.lower() not in SPLITTABLE:
        return None
    gops = probe_gops(src, cancel=cancel)
    if not gops:
        return None
    try:
        return VideoSplit(src, out_dir, limit, gops, cancel=cancel, equal=equal)
    except Unsplittable as exc:
        log.info("%s: no keyframe split under %d bytes (%s); splitting by bytes", src.name,
                 limit, exc)
        return None
