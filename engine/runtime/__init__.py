"""The runtime: carries out the run machines' commands against the ports (log, results,
cache, limits, leases, executor, hooks) and feeds the answers back as stimuli.

``RunHost`` serves one machine; ``loop.drive`` drives any number of hosts on one executor.
``drive_run`` drives one run from its log to its end.
"""

from collections.abc import Mapping, Sequence

from ...executors.base import Executor
from ...storage.protocols import (
    CacheIndex,
    CancelSource,
    ConcurrencyLimits,
    EventLog,
    ResultStore,
    TaskLogSink,
)
from ..clock import Clock, SystemClock
from ..core.events import Event
from ..core.fold import RunView, fold
from ..core.machine import RunMachine
from ..core.policy import TaskPolicy
from ..flow import TracedFlow
from ..lease import LeaseKeeper
from ..recorder import EventListener
from .host import RunHost
from .loop import drive, new_completions


def task_policies(traced: TracedFlow) -> Mapping[str, TaskPolicy]:
    """What the machine needs to know of each task of the traced flow."""
    policies = {}
    for key, call in traced.calls.items():
        task = call.task
        expiration = task.cache_expiration
        policies[key] = TaskPolicy(
            retry=task.retry,
            tags=task.tags,
            is_cacheable=task.cache_key is not None,
            cache_expiration=None if expiration is None else expiration.total_seconds(),
        )
    return policies


def drive_run(
    *,
    traced: TracedFlow,
    events: Sequence[Event],
    log: EventLog,
    results: ResultStore,
    executor: Executor,
    owner: str,
    reason: str = "start",
    reopen: Sequence[str] = (),
    state: RunView | None = None,
    clock: Clock | None = None,
    on_events: EventListener | None = None,
    lease: LeaseKeeper | None = None,
    cache: CacheIndex | None = None,
    limits: ConcurrencyLimits | None = None,
    task_logs: TaskLogSink | None = None,
    cancels: CancelSource | None = None,
) -> RunView:
    """Drive one run until every task has settled or the run is cancelled; its final state."""
    clock = clock or SystemClock()
    machine = RunMachine(
        state if state is not None else fold(events),
        task_policies(traced),
        graph=traced.graph,
        has_cache=cache is not None,
        has_limits=limits is not None,
        redact=traced.secrets.redact_payload if traced.secrets else None,
    )
    completions = new_completions()
    host = RunHost(
        machine=machine, traced=traced, events=events, log=log, results=results, executor=executor,
        owner=owner, clock=clock, completions=completions, on_events=on_events, lease=lease,
        cache=cache, limits=limits, task_logs=task_logs, cancels=cancels,
    )  # fmt: skip
    try:
        host.start(reason, reopen)
        drive([host], completions, clock)
    finally:
        host.close()
    return machine.view()
