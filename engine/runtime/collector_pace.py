"""The pace of Python's cyclic garbage collector while this process drives runs.

A drive makes and drops many small objects per task (invocations, outcomes, events) and
keeps the state of every task. At Python's default pace (a young collection every 700 net
allocations, an older one every 10 of those) a run of 10,000 tasks meets hundreds of young
collections and several full ones, each walking the whole heap of the process (imported
libraries included): tens to hundreds of milliseconds each, about 40% of the driver's CPU.
While at least one runtime loop is open, young collections come ``YOUNG_THRESHOLD``
allocations apart (the older generations keep their ratios), so full ones come about 14
times less often; reference cycles are still collected, a little later. The objects that
exist when the first loop opens (imported modules, the process's own data) are frozen
(``gc.freeze``) until the last loop closes: a full collection during the drive walks only
what was made since (a cycle among those older objects that becomes garbage meanwhile is
collected after). When the last loop closes the process's own thresholds come back, unless
someone changed them meanwhile. A process whose young threshold is already higher (or whose
collector is off) is left as it is; one that froze objects itself keeps them frozen.
"""

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 10_000
"""Net allocations between two young collections while runs are driven."""

_lock = threading.Lock()
_loops = 0  # runtime loops open in this process
_saved: tuple[int, ...] | None = None  # the thresholds to give back; None: left as they were
_paced: tuple[int, ...] | None = None  # the thresholds set
_has_frozen = False  # whether the objects of before the first loop were frozen here


def pace() -> None:
    """A runtime loop opens: collect young objects less often (see the module's docstring)."""
    global _loops, _saved, _paced, _has_frozen
    with _lock:
        _loops += 1
        if _loops > 1:
            return
        young, *older = current = gc.get_threshold()
        if young == 0 or young >= YOUNG_THRESHOLD:
            _saved = _paced = None
            return
        _saved, _paced = current, (YOUNG_THRESHOLD, *older)
        gc.set_threshold(*_paced)
        _has_frozen = gc.get_freeze_count() == 0
        if _has_frozen:
            gc.freeze()


def unpace() -> None:
    """A runtime loop closed: the last one gives the process its own thresholds back."""
    global _loops, _saved, _paced, _has_frozen
    with _lock:
        _loops -= 1
        if _loops > 0 or _saved is None:
            return
        if _has_frozen:
            gc.unfreeze()
            _has_frozen = False
        if gc.get_threshold() == _paced:  # not changed by anyone else meanwhile
            gc.set_threshold(*_saved)
        _saved = _paced = None


@contextmanager
def paced() -> Iterator[None]:
    """``pace`` for the ``with`` block (e.g. the tracing of a run about to be driven)."""
    pace()
    try:
        yield
    finally:
        unpace()
