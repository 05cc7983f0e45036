"""Video pages through yt-dlp: the source, its ffmpeg and network guards, the allowed options."""
