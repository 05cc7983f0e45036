# syntax=docker/dockerfile:1
# Build:  docker build -t telebot .
# Run:    docker run -d --name telebot --env-file config.env -v telebot-data:/data telebot
# A host folder instead of the volume (-v /srv/telebot:/data) must be writable by the bot's uid
# 10001, or start-up stops with one line saying so: chown -R 10001:10001 /srv/telebot once.
# `docker run --env-file` keeps quotes and trailing "# comments" in values; the bot removes them
# itself, so config.env reads the same here, under Compose and without Docker.

# Multi-arch (amd64 and arm64; every locked package ships wheels for both), with the source
# and revision labels filled in (README "Run the bot"):
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     --build-arg SOURCE=<repository URL> --build-arg REVISION="$(git rev-parse HEAD)" \
#     -t <registry>/telebot:0.1.0 --push .

# ---- builder: fetches the runtime wheels (requirements.lock: no test tools) and compiles the
# C IO core, so the runtime needs no compiler ----
# Python 3.13, latest patch: 3.11.7 lacked the tarfile data-filter fixes (CVE-2025-4517 family),
# and libtorrent 2.1 ships wheels for cp311-cp313 only (none for 3.14 yet). Bump both FROM lines.
FROM python:3.13.16-slim-bookworm AS builder
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first: this layer is reused until the lock changes. requirements.lock pins every
# package, the dependencies' too, to the files whose hashes it lists: --require-hashes refuses
# anything else, so each build installs the same bytes (.ci/check_lock.py keeps the lock in step
# with requirements.txt). --only-binary: the published wheels as they are, whose hashes the lock
# holds (a wheel built here would have another hash, and the runtime's check below would refuse
# it); a dependency without a wheel for this platform stops the build naming it.
COPY requirements.lock setup.py pyproject.toml ./
RUN pip wheel --no-cache-dir --only-binary=:all: --wheel-dir /wheels \
      --require-hashes -r requirements.lock \
 && cp requirements.lock /wheels/
COPY native ./native
COPY telebot ./telebot
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# ---- runtime: only what runs ----
FROM python:3.13.16-slim-bookworm AS runtime
# Where the image came from: pass them at build time (the command above); empty otherwise.
ARG SOURCE=""
ARG REVISION=""
LABEL org.opencontainers.image.title="telebot" \
      org.opencontainers.image.description="Self-hosted Telegram mirror/leech bot" \
      org.opencontainers.image.version="0.1.0" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/library/python:3.13.16-slim-bookworm"
# The external tools telebot drives, and nothing else: 7-Zip (7zz) archives, unar RAR, zstd
# .tar.zst, ffmpeg/ffprobe media, rclone remotes. Torrents are libtorrent and videos yt-dlp,
# both Python packages; yt-dlp's JavaScript runtime (deno) comes as a wheel too.
# RAR works, through unar/lsar (RAR4 and RAR5, solid, volume sets, RAR5 passwords; not RAR4
# encryption): Debian's 7zip package is built without the non-free RAR codec, so 7-Zip here
# cannot open RAR at all (telebot/processing/unar.py).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends 7zip unar zstd ffmpeg rclone ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# The wheels are bind-mounted from the builder for this one step: no layer of the image keeps them.
# The lock is installed hash-checked again (the wheels crossed from another stage), then the
# bot's own wheel, whose dependencies are all in place by then.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-cache-dir --no-index --find-links=/wheels \
      --require-hashes -r /wheels/requirements.lock \
 && pip install --no-cache-dir --no-index --find-links=/wheels --no-deps telebot==0.1.0
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
