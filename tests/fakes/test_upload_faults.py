"""The fake Bot API's upload faults: a body that stops being read mid-way, ``skip=``, and the
small receive buffer that bounds how far a client can write ahead of a stalled handler."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.fakes.bot_api import FakeBotAPI

BODY = 8 << 20


@pytest.fixture
def api(tmp_path: Path) -> Iterator[FakeBotAPI]:
    with FakeBotAPI(workdir=tmp_path / "api", recv_buffer=64 * 1024) as server:
        yield server


def send(api: FakeBotAPI, outcome: list[object]) -> None:
    files = {"document": ("a.bin", b"x" * BODY, "application/octet-stream")}
    try:
        reply = requests.post(
            f"{api.url}/bot{api.token}/sendDocument", data={"chat_id": "42"}, files=files,
            timeout=30,
        )
        outcome.append(reply.status_code)
    except requests.RequestException as exc:
        outcome.append(exc)


def test_stall_body_after_n_bytes_skips_the_first_call(api: FakeBotAPI) -> None:
    api.stall_body_next("sendDocument", 100_000, skip=1, seconds=30)
    first: list[object] = []
    send(api, first)
    assert first == [200]
    second: list[object] = []
    client = threading.Thread(target=send, args=(api, second), daemon=True)
    client.start()
    assert api.wait_body_stalled(timeout=30) == ("sendDocument", 100_000)
    assert client.is_alive()  # still writing: the stalled body is not all out
    api.stop()  # ends the stall: the client sees the connection close, with no answer
    client.join(30)
    assert len(second) == 1 and isinstance(second[0], requests.RequestException)
    assert len(api.calls_of("sendDocument")) == 1  # the stalled call was never recorded
