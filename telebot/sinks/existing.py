"""STOP_DUPLICATE's look-up: is a result with this name and size already at the task's destination?

The limit itself (when to ask, what to refuse) is the engine's (engine/limits.py), which takes
this finder as a plain callable; what is *at* a destination, and under which name a sink would
place a result, is the sinks' knowledge, so the look-up lives here, beside them.

Asked by :meth:`telebot.engine.limits.Limits.on_total` once the source knows the name and size
(before the body is fetched) — or, when the stages reshape the result (``-e``, ``-z``, ``-j``,
renaming), by :meth:`~telebot.engine.limits.Limits.before_delivery` with the processed result,
under the name the sink will give it (:meth:`DuplicateFinder.of_result`). The destination is
the one the sink would use: the local mirror folder (``spec.upload`` None or ``local``) or an
rclone ``remote:path``, looked up with ``rclone lsjson --stat`` (and ``rclone size`` for a
folder) through :func:`run_rclone`. Leech tasks are never asked: their destination is a chat,
where there is nothing to list.

The policy (STOP_DUPLICATE, when to ask) is the engine's (engine/limits.py); this lookup is the
sinks' knowledge of where a result lands, handed to the engine as its ``DuplicateLookup`` by the
wiring, so the engine imports no plug-in.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from telebot.engine.task import TaskSpec
from telebot.errors import TelebotError
from telebot.fileio.walk import tree_size
from telebot.processing.rename import delivered_name
from telebot.sinks.rclone.remotes import Remotes, looks_remote
from telebot.sources.names import sanitize_filename

#: Seconds for one look-up: a slow remote must not hold the download for long.
LOOKUP_TIMEOUT = 60.0


class DuplicateFinder:
    """``finder(spec, name, size)`` → where an equal result already is, or None."""

    def __init__(
        self, mirror_dir: Path, rclone_config: Path | None, allowed_roots: Sequence[str] = ()
    ) -> None:
        self._mirror_dir = mirror_dir
        self._rclone_config = rclone_config
        self._allowed_roots = tuple(allowed_roots)  # RCLONE_ALLOWED_ROOTS, as the sink has them

    def __call__(self, spec: TaskSpec, name: str, size: int) -> str | None:
        # The sink names the result the same way (sinks/local.py, sinks/rclone/sink.py).
        wanted = sanitize_filename(spec.name or name, fallback=name)
        if looks_remote(spec.upload):
            return self._on_remote(spec.upload or "", wanted, size)
        return self._local(wanted, size)

    def of_result(self, spec: TaskSpec, result: Path) -> str | None:
        """Where a result equal to the processed ``result`` already is: same delivered name
        (``-n``, or what renaming made of it), same size."""
        wanted = sanitize_filename(delivered_name(spec, result), fallback=result.name)
        size = tree_size(result) if result.is_dir() else result.stat().st_size
        if looks_remote(spec.upload):
            return self._on_remote(spec.upload or "", wanted, size)
        return self._local(wanted, size)

    def _local(self, name: str, size: int) -> str | None:
        path = self._mirror_dir / name
        if path.is_symlink() or not path.exists():
            return None
        found = tree_size(path) if path.is_dir() else path.stat().st_size
        return str(path) if found == size else None

    def _on_remote(self, upload: str, name: str, size: int) -> str | None:
        remotes = Remotes.load(self._rclone_config, self._allowed_roots)
        target = remotes.check(upload).child(name)
        try:
            found = json.loads(self._rclone(remotes, "lsjson", "--stat", "--", str(target)))
            if found.get("IsDir"):
                totals = json.loads(self._rclone(remotes, "size", "--json", "--", str(target)))
                found_size = int(totals.get("bytes") or 0)
            else:
                found_size = int(found.get("Size") or -1)
        except TelebotError:  # not there (rclone: "directory not found"), or not reachable
            return None
        return str(target) if found_size == size else None

    def _rclone(self, remotes: Remotes, *args: str) -> str:
        # The rclone runner is imported by the first remote lookup (a task's thread), not with
        # this module: the bot builds its finder at start-up.
        from telebot.sinks.rclone.sink import run_rclone

        return run_rclone(list(args), config=remotes.config_path, timeout=LOOKUP_TIMEOUT)
