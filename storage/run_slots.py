"""Queues, priorities and flow run limits: the terms every backend's claims share.

A run waits in a queue (``default`` unless its ``run.created`` names one) with a priority
(0 unless recorded; a higher number is claimed first). A worker claims only runs of its
queues: crashed ones first, then SCHEDULED ones by priority, then age.

A flow may cap how many of its runs are driven at once: its runs' ``run.created`` records
``max_concurrent_runs``, and a stored limit named ``flow:NAME`` (``ledgerflow limits set
flow:NAME N``) wins over what the runs recorded (0 pauses the flow). A run holds one of its
flow's slots while it is SCHEDULED (claimed, about to start), PENDING or RUNNING under a
live lease: the slot is the run's lease, so it comes back when the run ends, when its
lease is given up, and when its crashed holder's lease expires. A claim takes a slot or
passes the run over; the run waits SCHEDULED (a crashed one stays CRASHED) until one is free.
"""

from collections.abc import Collection, Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..engine.core.run_terms import MAX_PRIORITY, MIN_PRIORITY, recorded_terms
from .names import check_name

if TYPE_CHECKING:
    from .protocols import RunSummary

FLOW_LIMIT_PREFIX = "flow:"
"""A limit named ``flow:NAME`` caps the runs of flow NAME, not tasks of a tag."""
HOLDING_STATES = ("SCHEDULED", "PENDING", "RUNNING")
"""Stored states in which a run with a live lease holds a slot of its flow."""


def flow_limit_name(flow: str) -> str:
    """The name of the stored limit of ``flow``'s runs."""
    return FLOW_LIMIT_PREFIX + flow


def limited_flow(name: str) -> str | None:
    """The flow a limit's name caps (None for a tag's limit)."""
    return name[len(FLOW_LIMIT_PREFIX) :] if name.startswith(FLOW_LIMIT_PREFIX) else None


def check_queues(queues: Collection[str]) -> list[str]:
    """The queues a claim takes from, checked (``InvalidName``), without repeats; at least one."""
    if isinstance(queues, str) or not queues:
        raise ValueError(f"give a collection of one or more queue names, not {queues!r}")
    for queue in queues:
        check_name("queue", queue)
    return sorted(set(queues))


def check_priority(priority: object) -> int:
    """``priority`` if it is a whole number an integer column holds, else ``ValueError``."""
    if isinstance(priority, bool) or not isinstance(priority, int):
        raise ValueError(f"a priority is a whole number, not {priority!r}")
    if not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise ValueError(f"priority {priority} is out of range ({MIN_PRIORITY} to {MAX_PRIORITY})")
    return priority


def recorded_columns(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The runs read model's columns of the terms a ``run.created`` payload records (see
    ``engine.core.run_terms``: an old log reads as the defaults)."""
    return recorded_terms(payload)._asdict()


def effective_limit(setting: int | None, recorded: int | None) -> int | None:
    """The cap on a run's flow: the stored setting wins over the run's recorded limit."""
    return setting if setting is not None else recorded


def holds_a_slot(run: "RunSummary", now: datetime) -> bool:
    """The run counts against its flow's limit at ``now``."""
    return run.state in HOLDING_STATES and run.lease_expires_at is not None and run.lease_expires_at > now


def claim_order(run: "RunSummary") -> tuple[int, datetime, str]:
    """Sort key of claims: higher priority first, then older, then by id."""
    return (-run.priority, run.created_at, run.run_id)


def slots_held(runs: Iterable["RunSummary"], now: datetime) -> dict[str, int]:
    """Slots held per flow at ``now`` among ``runs``."""
    held: dict[str, int] = {}
    for run in runs:
        if holds_a_slot(run, now):
            held[run.flow] = held.get(run.flow, 0) + 1
    return held
