"""Building many objects at once with the cyclic garbage collector paused.

Reading, folding and tracing a large run create hundreds of thousands of small acyclic
objects (events, payloads, task views, graph nodes). Each batch of new objects triggers
a collection, and the occasional full one walks the whole heap: tens of milliseconds,
at random, several times per resume. Those objects hold no reference cycles; any cycle
made meanwhile (by a flow body being traced, say) is only collected after the build.
"""

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the ``with`` block (if it was enabled)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
