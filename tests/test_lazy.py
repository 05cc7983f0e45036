"""telebot.lazy.Lazy: made once for racing callers, made again after a failure."""

from __future__ import annotations

import threading

import pytest

from telebot.lazy import Lazy


def test_racing_callers_share_one_make() -> None:
    calls: list[int] = []
    release = threading.Event()

    def make() -> object:
        calls.append(1)
        release.wait(5)
        return object()

    lazy: Lazy[object] = Lazy(make)
    got: list[object] = []
    threads = [threading.Thread(target=lambda: got.append(lazy.get())) for _ in range(4)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(5)
    assert len(calls) == 1 and len(got) == 4 and all(g is got[0] for g in got)
    assert lazy.made is got[0]


def test_a_make_that_raised_runs_again() -> None:
    attempts = iter([RuntimeError("first"), "value"])

    def make() -> str:
        item = next(attempts)
        if isinstance(item, Exception):
            raise item
        return item

    lazy = Lazy(make)
    assert lazy.made is None
    with pytest.raises(RuntimeError):
        lazy.get()
    assert lazy.get() == "value" and lazy.made == "value"
