"""Concurrency limits in memory: slots taken all or none per task, held while their driver
holds its run's lease (the semantics of ``storage.limits``)."""

import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import datetime

from ..lease_terms import utc_now
from ..names import check_limit
from ..records import FlowUsage, TagUsage, WaitingTask
from ..run_slots import HOLDING_STATES, holds_a_slot, limited_flow, slots_held
from .tables import MemoryTables, Slot

logger = logging.getLogger(__name__)


class MemoryLimits:
    """``ConcurrencyLimits`` in memory; times are the caller's clock, as for leases."""

    def __init__(self, tables: MemoryTables) -> None:
        self._tables = tables

    def set_limit(self, tag: str, limit: int, now: datetime | None = None) -> None:
        """Cap the tasks tagged ``tag`` running at once at ``limit`` (0 pauses the tag)."""
        check_limit(tag, limit)
        utc_now(now)  # refuses a naive time, as every store does
        with self._tables.lock:
            self._tables.limits[tag] = limit
        logger.info("limit of tag %s set to %d", tag, limit)

    def limits(self, now: datetime | None = None) -> list[TagUsage]:
        """Every tag with a limit, by name: its limit, slots in use and tasks waiting (not the
        limits of flows: see ``flow_limits``)."""
        now = utc_now(now)
        tables = self._tables
        with tables.lock:
            held = [s for s in tables.slots if tables.is_held(s.run_id, s.owner, now)]
            waits = [w for w in tables.waiting if tables.is_held(w.run_id, w.owner, now)]
            limits = sorted((tag, limit) for tag, limit in tables.limits.items() if limited_flow(tag) is None)
        waits.sort(key=lambda w: (w.at, w.run_id, w.task_key))
        usages = []
        for tag, limit in limits:
            in_use = sum(1 for slot in held if slot.tag == tag)
            waiting = tuple(WaitingTask(w.run_id, w.task_key, w.at) for w in waits if w.tag == tag)
            usages.append(TagUsage(tag, limit, in_use, waiting))
        return usages

    def flow_limits(
        self, now: datetime | None = None, flows: Collection[str] | None = None
    ) -> list[FlowUsage]:
        """Every flow (of ``flows``, if given) with a stored limit or unfinished runs that
        recorded one, by name: both limits, the runs holding a slot and those waiting."""
        now = utc_now(now)
        tables = self._tables
        with tables.lock:
            active = [r for r in tables.runs.values() if r.state in HOLDING_STATES]
            settings = {flow: limit for tag, limit in tables.limits.items() if (flow := limited_flow(tag))}
        if flows is not None:
            active = [run for run in active if run.flow in flows]
            settings = {flow: limit for flow, limit in settings.items() if flow in flows}
        held = slots_held(active, now)
        usages = []
        for flow in sorted({*settings, *(run.flow for run in active)}):
            runs = [run for run in active if run.flow == flow]
            recorded = min(
                (r.max_concurrent_runs for r in runs if r.max_concurrent_runs is not None), default=None
            )
            if flow in settings or recorded is not None:
                waiting = sum(1 for run in runs if not holds_a_slot(run, now))
                usages.append(FlowUsage(flow, settings.get(flow), recorded, held.get(flow, 0), waiting))
        return usages

    def try_acquire_many(
        self, run_id: str, tasks: Sequence[tuple[str, Iterable[str]]], owner: str,
        now: datetime | None = None,
    ) -> set[str]:  # fmt: skip
        """Take one slot of every limited tag of each task, or none, in the tasks' order;
        returns the keys of the tasks that may start, and records the others as waiting on
        the tags that were full when their turn came."""
        wanted = {key: sorted(set(tags)) for key, tags in tasks}
        now = utc_now(now)
        tables = self._tables
        with tables.lock:
            limited = {key: [tag for tag in tags if tag in tables.limits] for key, tags in wanted.items()}
            keys = [key for key, tags in limited.items() if tags]
            if not keys:
                return set(wanted)
            free = self._free_slots(run_id, keys, now)
            granted = set(wanted)
            tables.waiting = [w for w in tables.waiting if not (w.run_id == run_id and w.task_key in keys)]
            for key in keys:
                full = [tag for tag in limited[key] if free[tag] <= 0]
                if full:
                    granted.discard(key)
                    tables.waiting += [Slot(tag, run_id, key, owner, now) for tag in full]
                    continue
                for tag in limited[key]:
                    free[tag] -= 1
                    tables.slots.append(Slot(tag, run_id, key, owner, now))
        if len(granted) < len(wanted):
            logger.debug("run %s: %d task(s) wait for slots", run_id, len(wanted) - len(granted))
        return granted

    def _free_slots(self, run_id: str, task_keys: list[str], now: datetime) -> dict[str, int]:
        """Slots left per limited tag, after dropping lapsed slots and waits and the tasks' own
        slots (a new attempt, or a new driver, takes them again)."""
        tables = self._tables
        keys = set(task_keys)
        tables.slots = [
            s for s in tables.slots
            if tables.is_held(s.run_id, s.owner, now) and not (s.run_id == run_id and s.task_key in keys)
        ]  # fmt: skip
        tables.waiting = [w for w in tables.waiting if tables.is_held(w.run_id, w.owner, now)]
        free = dict(tables.limits)
        for slot in tables.slots:
            free[slot.tag] -= 1
        return free

    def release(self, run_id: str, *task_keys: str) -> None:
        """Give back the slots of these tasks of the run, and forget that they wait."""
        keys = set(task_keys)
        self._drop(lambda s: s.run_id == run_id and s.task_key in keys)

    def release_run(self, run_id: str, owner: str | None = None) -> None:
        """Give back every slot of the run (only those ``owner`` holds, if given)."""
        self._drop(lambda s: s.run_id == run_id and (owner is None or s.owner == owner))

    def _drop(self, is_dropped: Callable[[Slot], bool]) -> None:
        tables = self._tables
        with tables.lock:
            tables.slots = [s for s in tables.slots if not is_dropped(s)]
            tables.waiting = [w for w in tables.waiting if not is_dropped(w)]
