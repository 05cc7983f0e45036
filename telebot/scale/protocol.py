"""What a front and its workers exchange through Redis, in one place: key names, the sealed task
message, progress snapshots and finish reports.

Keys (all under ``telebot:``; ``<gid>`` is the task id):

* ``sent:<gid>``      set by the front when it hands the task to Celery, removed when it has
                      read the task's finish report. A restarted front that finds it does not
                      send the task again: it is queued in the broker or held by a worker.
* ``lock:<gid>``      held by the worker running the task (``SET NX`` with a TTL the worker
                      renews while it runs): a redelivered copy never runs beside the first.
* ``cancel:<gid>``    the reason, set by the front's /cancel; the worker watches it.
* ``progress:<gid>``  a hash: the task's latest snapshot, with a short TTL so a dead worker's
                      task stops looking alive.
* ``done:<gid>``      set when a run has ended, so a redelivered copy ends at once.
* stream ``events``   finish reports (consumer group ``front``): the front writes the journal
                      and announces, then acknowledges; one written while no front ran waits.

Credentials never sit in Redis in the clear: the spec's :data:`~telebot.store.SEALED_FIELDS`
travel sealed (:mod:`telebot.secretbox`, key from the bot token both sides share, bound to the
gid), and so does each finish report (its error line may quote a link).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from telebot.config import WORKER_QUEUE_NAMES
from telebot.engine.pipeline import Delivery
from telebot.engine.task import Snapshot, State, Task, TaskSpec
from telebot.secretbox import SecretBox
from telebot.sources.torrent.links import is_torrent_spec
from telebot.store import SEALED_FIELDS, SEALED_KEY

PREFIX = "telebot:"
EVENTS = PREFIX + "events"
FRONT_GROUP = "front"
TASK_NAME = "telebot.run"

# Capability queues (README "Scale-out"): a worker subscribes to those it can serve.
DEFAULT_QUEUE = "default"
TORRENT_QUEUE = "torrent"
LEECH_LOCAL_QUEUE = "leech-local"
QUEUES = WORKER_QUEUE_NAMES
assert QUEUES == (DEFAULT_QUEUE, TORRENT_QUEUE, LEECH_LOCAL_QUEUE)

# Progress hashes live this long without a refresh (workers write every PROGRESS_EVERY s): a
# dead worker's task shows "waiting for a worker" after it; a finished one's simply expires.
PROGRESS_TTL = 15
PROGRESS_EVERY = 0.5
# How often a worker looks for cancel flags: well inside the 2 s a cancel may take.
CANCEL_POLL = 0.25
# Markers that outlive a task (sent/done/cancel): long enough for any restart, then gone.
MARKER_TTL = 7 * 24 * 3600


def key(kind: str, gid: str) -> str:
    return f"{PREFIX}{kind}:{gid}"


def queue_for(spec: TaskSpec, *, bot_api_local: bool) -> str:
    """The capability queue a task needs: torrents need libtorrent and open ports; a leech
    beside a local Bot API server needs that server's disk."""
    if is_torrent_spec(spec):
        return TORRENT_QUEUE
    if spec.kind == "leech" and bot_api_local:
        return LEECH_LOCAL_QUEUE
    return DEFAULT_QUEUE


# -- the task message ---------------------------------------------------------------------


def seal_spec(box: SecretBox, gid: str, spec: TaskSpec) -> dict[str, Any]:
    """``spec.to_json()`` with the credential fields sealed, bound to ``gid``."""
    data = spec.to_json()
    secret = {k: data.pop(k) for k in SEALED_FIELDS if k in data}
    data[SEALED_KEY] = box.seal(json.dumps(secret), context=gid)
    return data


def open_spec(box: SecretBox, gid: str, data: dict[str, Any]) -> TaskSpec:
    """Undo :func:`seal_spec`; ``Unsealable`` when the token differs, ``ValueError`` if damaged."""
    plain = dict(data)
    secret = json.loads(box.open(str(plain.pop(SEALED_KEY, "")), context=gid))
    if not isinstance(secret, dict):
        raise ValueError("damaged task message")
    return TaskSpec.from_json({**plain, **secret})


# -- progress ------------------------------------------------------------------------------


def progress_fields(snap: Snapshot, worker: str) -> dict[str, str]:
    """A snapshot as the flat string hash Redis keeps."""
    return {
        "state": snap.state.value,
        "name": snap.name,
        "engine": snap.engine,
        "done": str(snap.done),
        "total": "" if snap.total is None else str(snap.total),
        "note": snap.note or "",
        "detail": snap.detail or "",
        "worker": worker,
    }


def apply_progress(task: Task, fields: dict[str, str]) -> None:
    """Mirror a worker's snapshot onto the front's copy of the task, so the status board reads
    it as it reads a local task (speed and elapsed are measured on the front's clock)."""
    try:
        state = State(fields.get("state", ""))
        done = int(fields.get("done") or 0)
        total = int(fields["total"]) if fields.get("total") else None
    except (ValueError, KeyError):
        return
    if state.finished:
        return  # the finish report decides
    engine = fields.get("engine", "")
    if state is not task.state or engine != task.engine:
        task.begin(state, engine)
    task.progress(done, total)
    task.name = fields.get("name") or task.name
    task.note = fields.get("note") or None
    task.detail = fields.get("detail") or None


# -- finish reports ------------------------------------------------------------------------


def finish_report(task: Task, worker: str, elapsed: float) -> dict[str, Any]:
    """What the front needs to finish ``task`` as if it had run locally."""
    result = asdict(task.result) if isinstance(task.result, Delivery) else None
    return {
        "state": task.state.value,
        "name": task.name,
        "error": task.error,
        "cancel_reason": task.cancel_reason,
        "warnings": list(task.warnings),
        "result": result,
        "elapsed": elapsed,
        "worker": worker,
    }


def seal_report(box: SecretBox, gid: str, report: dict[str, Any]) -> dict[str, str]:
    return {"gid": gid, "body": box.seal(json.dumps(report), context=f"report:{gid}")}


def open_report(box: SecretBox, fields: dict[str, str]) -> tuple[str, dict[str, Any]]:
    gid = fields["gid"]
    body = json.loads(box.open(fields["body"], context=f"report:{gid}"))
    if not isinstance(body, dict):
        raise ValueError("damaged finish report")
    return gid, body


def apply_report(task: Task, report: dict[str, Any], now: float) -> State:
    """Copy a finish report onto the front's task; returns the state it ended in."""
    state = State(report["state"])
    task.name = report.get("name") or task.name
    task.error = report.get("error")
    if report.get("cancel_reason"):
        task.cancel_reason = report["cancel_reason"]
    task.warnings = [str(w) for w in report.get("warnings") or ()]
    result = report.get("result")
    if isinstance(result, dict):
        result["links"] = tuple(result.get("links") or ())
        result["notes"] = tuple(result.get("notes") or ())
        task.result = Delivery(**result)
    task.started_at = now - float(report.get("elapsed") or 0.0)
    return state
