"""What a front and its workers exchange through Redis, in one place: key names, the sealed task
message, progress snapshots and finish reports.

Keys (all under ``telebot:``; ``<gid>`` is the task id):

* ``sent:<gid>``      set by the front when it hands the task to Celery, removed when it has
                      read the task's finish report. A restarted front that finds it does not
                      send the task again: it is queued in the broker or held by a worker.
* ``attempt:<gid>``   the number of the task's current message, set by the front when it sends
                      one. A worker runs only a message of the current attempt; a message
                      whose gid has no attempt (a replay after the markers expired, or never
                      sent by a front) is refused.
* ``lock:<gid>``      the lease of the worker running the task (``SET NX`` with a TTL the
                      worker renews while it runs): a redelivered copy never runs beside it.
* ``taken:<gid>``     the attempt a worker took. Taken, unlocked and not done means its worker
                      died: the front sends the task again as the next attempt.
* ``cancel:<gid>``    the reason, set by the front's /cancel; the worker watches it.
* ``progress:<gid>``  a hash: the task's latest snapshot, with a short TTL so a dead worker's
                      task stops looking alive.
* ``done:<gid>``      set when a run has ended, so a redelivered copy ends at once.
* ``settings``        the front's /bsetting overrides, sealed; workers read them as each task
                      starts, so a change reaches every worker's limits.
* stream ``events``   finish reports (consumer group ``front``): the front writes the journal
                      and announces, then acknowledges; one written while no front ran waits.

Nothing in a task message is trusted unless it opens: the whole message (gid, attempt, issue
and expiry times, the spec with its credentials) is one AEAD envelope (:mod:`telebot.secretbox`,
key from the bot token both sides share), and each finish report is sealed bound to its gid
(its error line may quote a link).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from telebot.config import WORKER_QUEUE_NAMES
from telebot.engine.pipeline import Delivery
from telebot.engine.task import Snapshot, State, Task, TaskSpec
from telebot.engine.taskstate import GID_RE
from telebot.secretbox import SecretBox, Unsealable
from telebot.sources.torrent.links import is_torrent_spec

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
    """The Redis key of ``kind`` for task ``gid``; ``ValueError`` for a gid the bot never makes
    (no key is built from an unchecked one)."""
    if not valid_gid(gid):
        raise ValueError("not a task id")
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

# The Celery message's one argument is this envelope: every field (gid, attempt, issue and
# expiry times, the whole spec) is inside the AEAD, so nothing a Redis writer changes or
# invents is run. The context names the format, so an envelope sealed for another purpose
# with the same key (a journal credential, a finish report) never opens as a task.
TASK_CONTEXT = "telebot/task-message/v2"
TASK_VERSION = 2
# A message is refused after this long: the attempt and done markers live as long from a
# later moment, so a replay finds either a marker that refuses it or an expired message.
MESSAGE_TTL = MARKER_TTL
# Clock difference between hosts tolerated on the issue time.
CLOCK_SKEW = 300.0


class BadMessage(ValueError):
    """A task message this worker must not run: forged, damaged, replayed or expired. The text
    is safe to log (it quotes nothing from the message)."""


@dataclass(frozen=True)
class TaskMessage:
    """An opened task message: run attempt ``attempt`` of task ``gid`` with ``spec``."""

    gid: str
    attempt: int
    issued: float
    expires: float
    spec: TaskSpec
    exempt: bool = False  # the front's word: the user is exempt from per-user/kind limits


def seal_task(
    box: SecretBox, gid: str, attempt: int, spec: TaskSpec, *, now: float,
    ttl: float = MESSAGE_TTL, exempt: bool = False,
) -> str:
    """The Celery argument for attempt ``attempt`` of ``gid``, sealed whole. ``exempt``: the
    front's auth says the user (sudo, owner) is exempt from the per-kind size limits, which
    the worker checks when the size becomes known and cannot look up itself."""
    if not valid_gid(gid):
        raise ValueError(f"not a task id: {gid!r}")
    body = {
        "v": TASK_VERSION, "gid": gid, "attempt": attempt,
        "issued": now, "expires": now + ttl, "spec": spec.to_json(), "exempt": exempt,
    }
    return box.seal(json.dumps(body), context=TASK_CONTEXT)


def open_task(box: SecretBox, envelope: object, *, now: float) -> TaskMessage:
    """Undo :func:`seal_task`, checking every field before anything is built from it; raises
    :class:`BadMessage`. ``Unsealable`` (another bot's token, or any change to the envelope)
    is reported as a :class:`BadMessage` too: a worker cannot tell a forgery from damage."""
    if not isinstance(envelope, str):
        raise BadMessage("not a sealed task message")
    try:
        body = json.loads(box.open(envelope, context=TASK_CONTEXT))
    except (Unsealable, ValueError) as exc:
        raise BadMessage("the message does not open with this bot's key (forged, damaged, "
                         "or another BOT_TOKEN)") from exc
    if not isinstance(body, dict) or body.get("v") != TASK_VERSION:
        raise BadMessage("unknown task message format")
    gid, attempt = body.get("gid"), body.get("attempt")
    issued, expires = body.get("issued"), body.get("expires")
    if not isinstance(gid, str) or not valid_gid(gid):
        raise BadMessage("the message names no valid task id")
    if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
        raise BadMessage(f"task {gid}: no valid attempt number")
    if not all(isinstance(t, (int, float)) for t in (issued, expires)):
        raise BadMessage(f"task {gid}: no valid issue time")
    assert isinstance(issued, (int, float)) and isinstance(expires, (int, float))
    if issued > now + CLOCK_SKEW:
        raise BadMessage(f"task {gid}: issued in the future")
    if now > expires:
        raise BadMessage(f"task {gid}: the message expired")
    spec, exempt = body.get("spec"), body.get("exempt", False)
    if not isinstance(spec, dict):
        raise BadMessage(f"task {gid}: no task description")
    if not isinstance(exempt, bool):
        raise BadMessage(f"task {gid}: no valid exemption flag")
    try:
        task_spec = TaskSpec.from_json(spec)
    except (ValueError, TypeError, KeyError) as exc:
        raise BadMessage(f"task {gid}: unreadable task description ({type(exc).__name__})") from exc
    return TaskMessage(gid, attempt, float(issued), float(expires), task_spec, exempt)


def valid_gid(gid: str) -> bool:
    """True for an id the bot makes (:func:`~telebot.engine.task.new_gid`): only such a gid
    may become a key or a folder name."""
    return bool(GID_RE.fullmatch(gid))


# -- live settings (/bsetting) ------------------------------------------------------------

# The front's /bsetting overrides (name -> value as typed, telebot/settings/overrides.py), sealed so
# that only the front can change what limits its workers enforce. A setting absent from it is
# the worker's own config.env value, as on the front.
SETTINGS = PREFIX + "settings"
SETTINGS_CONTEXT = "telebot/bot-settings/v1"


def seal_settings(box: SecretBox, stored: dict[str, str]) -> str:
    return box.seal(json.dumps(stored, sort_keys=True), context=SETTINGS_CONTEXT)


def open_settings(box: SecretBox, sealed: str) -> dict[str, str]:
    """Undo :func:`seal_settings`; ``Unsealable`` or ``ValueError`` when it is not the front's."""
    stored = json.loads(box.open(sealed, context=SETTINGS_CONTEXT))
    if not isinstance(stored, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in stored.items()
    ):
        raise ValueError("damaged settings")
    return stored


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
    if not valid_gid(gid):
        raise ValueError("a finish report for no valid task id")
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
