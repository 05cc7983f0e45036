"""Files that are media by name only: playlists and lists that make ffmpeg open another file.

The "private" video they point to has a size no other test media has (176x144, 4 s at 7 fps),
so a description or a thumbnail of it is easy to recognise.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.fakes import made

PRIVATE_SIZE = (176, 144)
PRIVATE_SECONDS = 4


def make_private_video(path: Path) -> Path:
    """4 s of 176x144 at 7 fps, a keyframe every second (so it could be cut), with audio (made
    once a run)."""
    return made.once(path, f"make_private_video {path.suffix}", _private_video)


def _private_video(path: Path) -> None:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc=size=176x144:rate=7:duration={PRIVATE_SECONDS}",
         "-f", "lavfi", "-i", f"sine=frequency=330:duration={PRIVATE_SECONDS}",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", "7", "-c:a", "aac", "-shortest",
         str(path)],
        check=True, timeout=120,
    )  # fmt: skip


def hls_playlist(target: Path) -> bytes:
    """A VOD HLS playlist whose one segment is ``target``, an absolute path on this disk."""
    return (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n"
        f"#EXTINF:{PRIVATE_SECONDS}.0,\n{target}\n#EXT-X-ENDLIST\n"
    ).encode()


def ffconcat_list(relative: str) -> bytes:
    """An ffconcat script naming ``relative`` (the concat demuxer's safe mode allows a path
    beneath the list's folder)."""
    return f"ffconcat version 1.0\nfile '{relative}'\n".encode()
