"""The ticket a /clone task's source stage leaves for the rclone sink (sinks/rclone/clone.py)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class Ticket:
    """What the source stage found: the checked source, whether it is a folder, its size."""

    source: str
    folder: bool
    size: int
    files: int


def write_ticket(path: Path, ticket: Ticket) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(ticket)))


def read_ticket(path: Path) -> Ticket:
    return Ticket(**json.loads(path.read_text()))
