"""Flows of the scale-out tests, loaded by file path (``flows.py:NAME``) so that the
``ledgerflow worker`` processes load the same file and Dask receives the tasks by value."""

import os
import signal
import time

import distributed

import ledgerflow as lf


def _address() -> str:
    return str(distributed.get_worker().address)


@lf.task
def square(x: int) -> int:
    return x * x


@lf.task(resources={"MEMORY": 10})
def heavy(values: list[int]) -> dict[str, object]:
    """Needs MEMORY: runs only on a Dask worker started with ``--resources MEMORY=...``."""
    return {"total": sum(values), "worker": _address()}


@lf.flow(name="routed")
def routed(n: int = 3) -> dict[str, object]:
    return heavy(square.map(list(range(n))))


@lf.task(resources={"GPU": 1})
def on_gpu() -> str:
    return _address()


@lf.flow(name="gpu")
def gpu() -> str:
    return on_gpu()


@lf.task
def die_once() -> dict[str, object]:
    """Kills its own Dask worker process on its first attempt; the second one returns."""
    if lf.context().attempt == 1:
        os.kill(os.getpid(), signal.SIGKILL)
    return {"attempt": lf.context().attempt, "worker": _address()}


@lf.flow(name="dies_once")
def dies_once() -> dict[str, object]:
    return die_once()


@lf.task
def die_always() -> int:
    """Kills its Dask worker on every attempt."""
    os.kill(os.getpid(), signal.SIGKILL)
    return 0


@lf.flow(name="dies_always")
def dies_always() -> int:
    return die_always()


@lf.task
def nap(step: int, seconds: float) -> int:
    time.sleep(seconds)
    return step


@lf.flow(name="slow")
def slow(steps: int = 6, seconds: float = 0.5) -> list[int]:
    return nap.map(list(range(steps)), seconds=lf.unmapped(seconds))


@lf.task(tags=["db"])
def write_window(step: int, seconds: float) -> list[float]:
    """Holds a slot of the ``db`` tag for ``seconds``; returns when it ran (wall clock)."""
    started = time.time()
    time.sleep(seconds)
    return [started, time.time()]


@lf.flow(name="limited")
def limited(steps: int = 4, seconds: float = 0.4) -> list[list[float]]:
    return write_window.map(list(range(steps)), seconds=lf.unmapped(seconds))
