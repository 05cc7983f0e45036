"""Video pages through yt-dlp: the source, its ffmpeg and network guards.

The allow-list of options users may pass (``-opt``) is ``telebot/ytdl_options.py``: config.env,
/usetting and intake check it too, and config sits below every plug-in."""
