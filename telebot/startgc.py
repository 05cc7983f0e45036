"""The cyclic garbage collector, paused while the bot starts.

Start-up allocates ~70,000 objects that live as long as the process (modules, classes, PTB's
handlers, the features) and next to no garbage. Collections are triggered by the allocation
count, so the collector scans those same objects over and over while they are made: ~35 ms of
CPU before the first getUpdates (bench/startup.py), against ~13 ms for a bare PTB import.
``python -m telebot`` pauses it first and the bot resumes it once the first getUpdates goes
out, or as soon as reaching the Bot API fails (a retry may wait for minutes: garbage from the
attempts must not pile up meanwhile).
"""

from __future__ import annotations

import gc


def pause() -> None:
    gc.disable()


def resume() -> None:
    """Collect again; a no-op unless :func:`pause` was called (or the collector is off).

    ``freeze`` moves every tracked object to the permanent generation and zeroes the counts;
    ``unfreeze`` moves them all back into the oldest generation. Net effect: what start-up made
    is promoted unscanned, so turning the collector on does not begin with a scan of all of it
    on the event loop. Nothing stays frozen: the next full collection sees every object.
    """
    if gc.isenabled():
        return
    gc.freeze()
    gc.unfreeze()
    gc.enable()
