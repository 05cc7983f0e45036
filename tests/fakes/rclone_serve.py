"""Real ``rclone serve webdav|sftp`` servers on 127.0.0.1 over temporary folders, and an
``rclone.conf`` naming them (passwords obscured with ``rclone obscure``)."""

from __future__ import annotations

import functools
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.fakes import made
from tests.fakes.ports import reserved_port

PASSWORD = "Lo0pback-Pa55word-7f3c"
USER = "tester"


@functools.cache
def obscure(secret: str) -> str:
    """``rclone obscure``'s form of ``secret``, asked once a process (any of its random forms
    reveals the same secret; each asking started rclone, 0.1 CPU-s, twice per remotes set)."""
    return subprocess.run(
        ["rclone", "obscure", "-"], input=secret.encode(), capture_output=True, check=True
    ).stdout.decode().strip()


@dataclass
class RcloneServer:
    """One ``rclone serve KIND ROOT`` on a fixed loopback port; stop() and start() again."""

    kind: str  # "webdav" | "sftp"
    root: Path
    cache: Path
    port: int = field(default_factory=reserved_port)
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)
    #: sftp: start with the run's host keys (made once a run, see _host_keys) rather than
    #: have rclone generate RSA, ECDSA and Ed25519 keys in ``cache`` (0.17 CPU-s a server).
    shared_keys: bool = True

    def start(self, timeout: float = 20.0) -> RcloneServer:
        self.root.mkdir(parents=True, exist_ok=True)
        keys = self.cache / "serve-sftp"
        if self.kind == "sftp" and self.shared_keys and not keys.exists():
            made.once(keys, "rclone serve sftp host keys", _host_keys)
        argv = [
            "rclone", "serve", self.kind, str(self.root), "--addr", f"127.0.0.1:{self.port}",
            "--user", USER, "--pass", PASSWORD, "--cache-dir", str(self.cache),
        ]
        # Its complaints go to a file, so a server that dies says why (the port, its keys).
        self.log = self.cache / f"serve-{self.kind}-{self.port}.log"
        self.cache.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log
            )
        self._wait_listening(timeout)
        return self

    def _wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pause = threading.Event()
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, (
                f"rclone serve {self.kind} died: {self.log.read_text(errors='replace')[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                pause.wait(0.05)
        raise AssertionError(f"rclone serve {self.kind} did not listen within {timeout}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def section(self, name: str) -> str:
        if self.kind == "webdav":
            body = f"type = webdav\nurl = http://127.0.0.1:{self.port}/\nvendor = other\n"
        else:
            body = f"type = sftp\nhost = 127.0.0.1\nport = {self.port}\nshell_type = none\n"
        return f"[{name}]\n{body}user = {USER}\npass = {obscure(PASSWORD)}\n\n"


def _host_keys(folder: Path) -> None:
    """The host keys rclone serve sftp makes in its cache folder on a first start."""
    cache = folder.parent / "cache"
    RcloneServer("sftp", folder.parent / "root", cache, shared_keys=False).start().stop()
    (cache / "serve-sftp").rename(folder)


def write_config(path: Path, servers: dict[str, RcloneServer], extra: str = "") -> Path:
    path.write_text("".join(s.section(n) for n, s in servers.items()) + extra)
    path.chmod(0o600)
    return path


@dataclass
class Remotes:
    webdav: RcloneServer
    sftp: RcloneServer
    config: Path


def start_remotes(tmp: Path, extra: str = "") -> Remotes:
    """A webdav and an sftp server over ``tmp/wd`` and ``tmp/sf``, named ``wd`` and ``sf``."""
    cache = tmp / "rclone-cache"
    webdav = RcloneServer("webdav", tmp / "wd", cache).start()
    sftp = RcloneServer("sftp", tmp / "sf", cache).start()
    config = write_config(tmp / "rclone.conf", {"wd": webdav, "sf": sftp}, extra)
    return Remotes(webdav, sftp, config)
