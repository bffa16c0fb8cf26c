"""Pause Python's cyclic garbage collector while building large structures.

Loading a spec and analysing it allocate many objects and free almost none; each automatic
collection of the oldest generation then rescans the whole growing heap, which made a
30,000-layer spec 3x slower to load. Nothing built here forms cycles that need collecting
while it is being built, so collection is paused for the call and resumed afterwards.

The pause is scoped to the calls that asked for it, never the process's: a count of the calls
inside a pause (nested, or in other threads) under a lock; the first one in records whether
the collector was enabled and disables it, the last one out restores it as it was.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_inside = 0  # calls inside a pause, in every thread
_was_enabled = False  # whether the collector ran before the first of them


@contextmanager
def paused_gc() -> Iterator[None]:
    global _inside, _was_enabled
    with _lock:
        if _inside == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _inside += 1
    try:
        yield
    finally:
        with _lock:
            _inside -= 1
            if _inside == 0 and _was_enabled:
                gc.enable()
