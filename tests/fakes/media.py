"""Small media made with the real ffmpeg, served by :class:`~tests.fakes.origin.FakeOrigin`.

:func:`make_media` writes, in a few hundred milliseconds:

- ``clip.mp4``: 3 s of ``testsrc`` 320x240 + a 440 Hz sine (x264/AAC, faststart);
- an HLS set: ``master.m3u8`` with two video variants (240p and 120p) that share a separate
  audio rendition (``v2.m3u8``), 1 s segments.

:func:`serve_media` adds them to an origin, plus ``page.html`` (a ``<video>`` tag) and a
playlist page ``list.html`` of three ``<video>`` tags, the last one broken (404).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.fakes import made
from tests.fakes.origin import FakeOrigin

CLIP_SECONDS = 3
_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t", ".mp4": "video/mp4"}


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120)


def ffprobe(path: Path) -> dict[str, Any]:
    """ffprobe's JSON of ``path``: its streams and format."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_streams", "-show_format",
         str(path)],
        check=True, capture_output=True, timeout=60,
    ).stdout  # fmt: skip
    data: dict[str, Any] = json.loads(out)
    return data


def _sources(width: int, height: int, seconds: int) -> list[str]:
    return [
        "-f", "lavfi", "-i", f"testsrc=size={width}x{height}:rate=15:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}",
    ]  # fmt: skip


def make_media(folder: Path, seconds: int = CLIP_SECONDS) -> Path:
    """Write the clip and the HLS set into ``folder`` (made once a run); returns it."""
    return made.once(folder, f"make_media seconds={seconds}", lambda out: _media(out, seconds))


def _media(folder: Path, seconds: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    ffmpeg(
        *_sources(320, 240, seconds),
        "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "32k",
        "-shortest", "-movflags", "+faststart", str(folder / "clip.mp4"),
    )  # fmt: skip
    ffmpeg(
        *_sources(320, 240, seconds),
        "-filter_complex", "[0:v]split=2[a][b];[b]scale=160:120[small]",
        "-map", "[a]", "-map", "[small]", "-map", "1:a",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", "15", "-c:a", "aac", "-b:a", "32k",
        "-f", "hls", "-hls_time", "1", "-hls_playlist_type", "vod",
        "-master_pl_name", "master.m3u8",
        "-var_stream_map", "v:0,agroup:aud v:1,agroup:aud a:0,agroup:aud,default:yes",
        "-hls_segment_filename", str(folder / "s%v_%03d.ts"), str(folder / "v%v.m3u8"),
    )  # fmt: skip


def make_film(path: Path, *, faststart: bool = True) -> Path:
    """10 s of noisy 640x360 at ~7 Mb/s (about 9 MB), 25 fps, a keyframe every second, AAC
    (made once a run)."""
    key = f"make_film {path.suffix} faststart={faststart}"
    return made.once(path, key, lambda out: _film(out, faststart=faststart))


def _film(path: Path, *, faststart: bool) -> None:
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=10,noise=alls=40:allf=t",
        "-f", "lavfi", "-i", "sine=frequency=440:duration=10",
        "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "7M", "-maxrate", "8M",
        "-bufsize", "8M", "-g", "25", "-c:a", "aac", "-b:a", "64k", "-shortest",
        *(["-movflags", "+faststart"] if faststart else []), str(path),
    )  # fmt: skip


def make_song(path: Path) -> Path:
    """3 s of MP3 tagged "Test Song" by "The Testers", with a cover picture (made once a
    run)."""
    return made.once(path, f"make_song {path.suffix}", _song)


def _song(path: Path) -> None:
    ffmpeg(
        "-f", "lavfi", "-i", "sine=frequency=440:duration=3",
        "-f", "lavfi", "-i", "testsrc=size=200x200:duration=1",
        "-map", "0", "-map", "1", "-frames:v", "1", "-c:v", "mjpeg",
        "-disposition:v", "attached_pic", "-metadata", "title=Test Song",
        "-metadata", "artist=The Testers", "-c:a", "libmp3lame", str(path),
    )  # fmt: skip


def serve_media(origin: FakeOrigin, folder: Path) -> None:
    """Serve every file of ``folder`` at ``/<name>``, plus the two HTML pages."""
    for path in sorted(folder.iterdir()):
        if path.suffix in _TYPES:
            origin.add(f"/{path.name}", data=path.read_bytes(), content_type=_TYPES[path.suffix])
    clip = (folder / "clip.mp4").read_bytes()
    for name in ("a.mp4", "b.mp4"):
        origin.add(f"/{name}", data=clip, content_type="video/mp4")
    origin.add("/page.html", data=_html('<video src="clip.mp4"></video>'), content_type="text/html")
    videos = "".join(f'<video src="{n}"></video>' for n in ("a.mp4", "b.mp4", "gone.mp4"))
    origin.add("/list.html", data=_html(videos), content_type="text/html")


def _html(body: str) -> bytes:
    return f"<html><head><title>Test page</title></head><body>{body}</body></html>".encode()
