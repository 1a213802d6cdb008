"""How the Dask executor batches the independent invocations of one function: by how long their
bodies take, so that a batch (one Dask task, whose outcomes come back together) stays short.

A function whose bodies have not been measured yet goes singly, as many at a time as the
cluster has threads (probes); its further invocations wait here until a probe ends. Once a
body's duration is known, bodies of ``CHUNK_SECONDS / 2`` or more go singly (an ML step is never
batched), tinier ones in chunks that run for about ``CHUNK_SECONDS`` at most, so each outcome is
reported within tens of milliseconds of its body's end; a fan-out of no-ops still goes in few,
large chunks (at most ``CHUNK_CAP`` bodies, and enough chunks to keep every thread busy).
"""

import math
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from .dask_tasks import Group, Member, run_of
from .invocation import Outcome

CHUNK_SECONDS = 0.02  # what one chunk's bodies may take together, about
CHUNK_CAP = 200  # bodies per Dask task, at most
CHUNKS_PER_THREAD = 4  # enough chunks to keep every worker thread busy


def function_of(member: Member) -> Callable[..., Any]:
    """The task function a member runs."""
    fn: Callable[..., Any] = member.payload[0][3]
    return fn


class ChunkPlan:
    """The measured body durations per function, the probes in flight and the invocations that
    wait for them. Thread-safe: the driver submits, the collector thread reports endings."""

    def __init__(self, threads: Callable[[], int]) -> None:
        self._threads = threads  # the cluster's thread count (asked only for more than one member)
        self._lock = threading.Lock()
        self._seconds: dict[Callable[..., Any], float] = {}  # a body's duration, estimated
        self._probes: Counter[Group] = Counter()  # probes in flight
        self._held: dict[Group, list[Member]] = {}  # waiting for a probe of their group to end

    def plan(self, group: Group, members: list[Member]) -> list[tuple[list[Member], bool]]:
        """The Dask tasks to send now for ``members``, each with whether it is a probe; the
        members not among them wait for ``ended``."""
        with self._lock:
            if group[1] in self._seconds:
                return [(chunk, False) for chunk in self._chunks(group, members)]
            in_flight = self._probes[group]
            free = (
                1
                if len(members) == 1 and not in_flight
                else max(self._threads() - in_flight, 0 if in_flight else 1)
            )
            probes, rest = members[:free], members[free:]
            if rest:
                self._held.setdefault(group, []).extend(rest)
            if probes:
                self._probes[group] += len(probes)
            return [([member], True) for member in probes]

    def ended(self, group: Group, outcomes: Iterable[Outcome], *, is_probe: bool) -> list[list[Member]]:
        """Learn from the outcomes of a Dask task of ``group``; if it was a probe, the members
        that waited for it, in chunks to send now (sized blindly if no body of it ran)."""
        with self._lock:
            fn = group[1]
            for outcome in outcomes:
                if outcome.has_run:
                    known = self._seconds.get(fn)
                    seconds = outcome.duration
                    # Quick to rise, slow to fall: a slow body soon stops being batched.
                    self._seconds[fn] = (
                        seconds if known is None else max(seconds, 0.7 * known + 0.3 * seconds)
                    )
            if not is_probe:
                return []
            self._probes[group] -= 1
            if self._probes[group] <= 0:
                del self._probes[group]
            held = self._held.pop(group, [])
            return self._chunks(group, held) if held else []

    def take(self, run_id: str | None = None) -> list[Member]:
        """Remove and return the waiting members (of one run, or all)."""
        with self._lock:
            taken: list[Member] = []
            for group, held in list(self._held.items()):
                kept = [member for member in held if run_id is not None and run_of(member) != run_id]
                taken += [member for member in held if run_id is None or run_of(member) == run_id]
                if kept:
                    self._held[group] = kept
                else:
                    del self._held[group]
            return taken

    def _chunks(self, group: Group, members: list[Member]) -> list[list[Member]]:
        seconds = self._seconds.get(group[1])
        if len(members) <= 1 or (seconds is not None and seconds >= CHUNK_SECONDS / 2):
            return [[member] for member in members]
        size = min(CHUNK_CAP, math.ceil(len(members) / (CHUNKS_PER_THREAD * max(self._threads(), 1))))
        if seconds is not None:
            size = min(size, max(1, int(CHUNK_SECONDS / max(seconds, 1e-6))))
        return [members[start : start + size] for start in range(0, len(members), size)]
