"""startgc: the collector paused for start-up comes back whole, nothing left frozen."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from telebot import startgc


@pytest.fixture(autouse=True)
def collector_on_afterwards() -> Iterator[None]:
    yield
    gc.unfreeze()
    gc.enable()


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the cyclic collector frees it


def in_generation(obj: object, generation: int) -> bool:
    return any(o is obj for o in gc.get_objects(generation=generation))


def test_garbage_made_while_paused_is_collected_after_resume() -> None:
    startgc.pause()
    assert not gc.isenabled()
    node = Node()
    gone = weakref.ref(node)
    del node
    startgc.resume()
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0  # nothing stays in the permanent generation
    # Promoted unscanned to the oldest generation, where the next full collection finds it.
    assert in_generation(gone(), 2)
    gc.collect()
    assert gone() is None


def test_resume_leaves_a_running_collector_as_it_is() -> None:
    gc.enable()
    gc.collect()
    node = Node()
    startgc.resume()
    assert gc.isenabled() and gc.get_freeze_count() == 0
    assert in_generation(node, 0)  # not promoted: resume did nothing
