"""YouTube's formats need a JavaScript runtime: the bot's own yt-dlp instance finds deno (the
PyPI wheel in requirements.txt) and yt-dlp's solver scripts (yt-dlp-ejs). No network."""

from __future__ import annotations

import subprocess

from telebot.sources.ytdl.net import NetGuard, make_youtubedl


def test_the_bots_youtubedl_finds_a_supported_deno_and_the_solver_scripts() -> None:
    from yt_dlp.dependencies import yt_dlp_ejs

    ydl = make_youtubedl({"quiet": True, "cachedir": False}, NetGuard(allow_private=False))
    with ydl:
        runtimes = {name: rt.info for name, rt in ydl._js_runtimes.items()}
    deno = runtimes.get("deno")
    assert deno is not None, "yt-dlp finds no deno: 'No supported JavaScript runtime' for YouTube"
    assert deno.supported, f"deno {deno.version} is older than yt-dlp supports"
    # The path yt-dlp runs really is deno, and it runs here (no network needed for --version).
    out = subprocess.run([deno.path, "--version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and out.stdout.startswith(f"deno {deno.version}")
    assert yt_dlp_ejs is not None, "yt-dlp-ejs (the solver scripts) is not installed"
