"""Where a flow's runs wait for a worker: the queue, priority and run limit a flow gives its
runs (``@flow(queue=..., priority=..., max_concurrent_runs=...)``), and those a submit names
instead; ``run.created`` records what the run got (see ``engine.core.run_terms``)."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from ..storage import (
    ConcurrencyLimits,
    FlowUsage,
    RunSummary,
    awaits_a_claim,
    check_priority,
    effective_limit,
)
from ..storage.names import InvalidName, check_name
from .core.run_terms import RunTerms
from .errors import FlowDefinitionError


@dataclass(frozen=True, slots=True)
class FlowWait:
    """A run waits for a slot of its flow to be claimed (SCHEDULED, or left by a driver that
    died or handed it back): ``running`` of at most ``limit`` runs."""

    flow: str
    running: int
    limit: int

    def __str__(self) -> str:
        return f"waiting for flow limit ({self.running} of {self.limit} running)"


def flow_terms(flow: str, queue: str, priority: int, max_concurrent_runs: int | None) -> RunTerms:
    """The terms ``@flow`` gives its runs; raises ``FlowDefinitionError`` naming the flow for
    a value that cannot be one."""
    try:
        check_name("queue", queue)
        check_priority(priority)
    except (InvalidName, ValueError) as exc:
        raise FlowDefinitionError(f"flow {flow!r}: {exc}") from None
    limit = max_concurrent_runs
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise FlowDefinitionError(
            f"flow {flow!r}: max_concurrent_runs must be a whole number >= 1, not {limit!r} "
            "(to pause a flow's runs, `ledgerflow limits set flow:NAME 0`)"
        )
    return RunTerms(queue, priority, limit)


def submitted_terms(terms: RunTerms, queue: str | None, priority: int | None) -> RunTerms:
    """``terms`` with the queue and priority a submit names (None keeps the flow's); raises
    ``InvalidName`` for a queue that cannot name one, ``ValueError`` for a priority that is
    not a whole number in range."""
    if queue is not None:
        check_name("queue", queue)
    return terms._replace(
        queue=terms.queue if queue is None else queue,
        priority=terms.priority if priority is None else check_priority(priority),
    )


def flow_waits(limits: ConcurrencyLimits, runs: Sequence[RunSummary], ttl: float) -> dict[str, FlowWait]:
    """The runs among ``runs`` (as listed) that wait for a slot of their flow, by run id: a
    claim would take them (SCHEDULED, or CRASHED, or let go: see ``awaits_a_claim``; ``ttl``
    is the leases'), but their flow has as many runs driven as its limit allows."""
    now = datetime.now(UTC)
    unheld = [run for run in runs if awaits_a_claim(run, now, ttl)]
    if not unheld:
        return {}
    usages: dict[str, FlowUsage] = {
        usage.flow: usage for usage in limits.flow_limits(now, flows={run.flow for run in unheld})
    }
    return dict(_waits(unheld, usages))


def _waits(runs: Iterable[RunSummary], usages: dict[str, FlowUsage]) -> Iterable[tuple[str, FlowWait]]:
    for run in runs:
        usage = usages.get(run.flow)
        cap = effective_limit(usage.setting if usage else None, run.max_concurrent_runs)
        running = usage.in_use if usage else 0
        if cap is not None and running >= cap:
            yield run.run_id, FlowWait(run.flow, running, cap)
