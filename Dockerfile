# syntax=docker/dockerfile:1
# Build:  docker build -t telebot .
# Run:    docker run -d --name telebot --env-file config.env -v telebot-data:/data telebot
# A host folder instead of the volume (-v /srv/telebot:/data) must be writable by the bot's uid
# 10001, or start-up stops with one line saying so: chown -R 10001:10001 /srv/telebot once.
# `docker run --env-file` keeps quotes and trailing "# comments" in values; the bot removes them
# itself, so config.env reads the same here, under Compose and without Docker.

# ---- builder: compiles the C IO core and the runtime wheels (requirements.txt only, no test
# tools), so the runtime needs no compiler ----
# Python 3.13, latest patch: 3.11.7 lacked the tarfile data-filter fixes (CVE-2025-4517 family),
# and libtorrent 2.1 ships wheels for cp311-cp313 only (none for 3.14 yet). Bump both FROM lines.
FROM python:3.13.16-slim-bookworm AS builder
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first: this layer is reused until requirements change.
COPY requirements.txt setup.py pyproject.toml ./
RUN pip wheel --no-cache-dir --wheel-dir /wheels -r requirements.txt
COPY native ./native
COPY telebot ./telebot
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# ---- runtime: only what runs ----
FROM python:3.13.16-slim-bookworm AS runtime
LABEL org.opencontainers.image.title="telebot" \
      org.opencontainers.image.description="Self-hosted Telegram mirror/leech bot" \
      org.opencontainers.image.version="0.1.0"
# The external tools telebot drives: 7-Zip (7zz) archives, unar RAR (Debian's 7-Zip cannot read
# RAR), zstd .tar.zst, ffmpeg/ffprobe media, rclone remotes. Torrents are libtorrent and videos
# yt-dlp, both Python packages; yt-dlp's JavaScript runtime (deno) comes as a wheel too.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends 7zip unar zstd ffmpeg rclone ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# The wheels are bind-mounted from the builder for this one step: no layer of the image keeps them.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels telebot==0.1.0
# /data/downloads exists in the image so a volume mounted there (docker-compose.yml shares it
# with the local Bot API server) starts out owned by the bot's user.
RUN useradd --create-home --uid 10001 telebot \
 && mkdir -p /data/downloads && chown -R telebot:telebot /data
USER 10001:10001
WORKDIR /data
ENV PYTHONUNBUFFERED=1 PTB_TIMEDELTA=1 \
    DOWNLOAD_DIR=/data/downloads MIRROR_DIR=/data/mirror \
    DATABASE_PATH=/data/telebot.db LOG_FILE=/data/telebot.log
VOLUME ["/data"]
HEALTHCHECK --interval=30s --timeout=10s --start-period=30s --retries=3 \
  CMD ["python", "-m", "telebot.health"]
CMD ["python", "-m", "telebot"]
