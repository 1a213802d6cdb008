"""What a runtime loop drives: the ports its runs share, each run to drive, and the host
that serves a run's machine."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ...executors.base import Executor
from ...results.codec import EncodedResult
from ...storage.protocols import (
    CacheIndex,
    CancelSource,
    ConcurrencyLimits,
    EventLog,
    ResultStore,
    TaskLogSink,
)
from ..clock import Clock, SystemClock
from ..core.cache_notes import recorded_cache_notes
from ..core.events import Event, NewEvent
from ..core.fold import RunView, fold
from ..core.machine import RunMachine
from ..core.policy import TaskPolicy
from ..flow import TracedFlow
from ..hooks import HookRegistry
from ..lease import RunLease
from ..recorder import EventListener
from ..result_storage import ResultPlacement
from ..spans import drive_spans, task_names
from .completions import Completions
from .host import HookPool, RunHost


def task_policies(traced: TracedFlow) -> Mapping[str, TaskPolicy]:
    """What the machine needs to know of each task of the traced flow (one policy per task
    definition, shared by all of its calls)."""
    by_task: dict[int, TaskPolicy] = {}
    policies = {}
    for key, call in traced.calls.items():
        task = call.task
        policy = by_task.get(id(task))
        if policy is None:
            expiration = task.cache_expiration
            policy = by_task[id(task)] = TaskPolicy(
                retry=task.retry,
                tags=task.tags,
                is_cacheable=task.cache_key is not None,
                cache_expiration=None if expiration is None else expiration.total_seconds(),
            )
        policies[key] = policy
    return policies


@dataclass(frozen=True, slots=True)
class RunPorts:
    """What the runs of one loop share: the stores, the executor, the driver's name."""

    log: EventLog
    results: ResultStore
    executor: Executor
    owner: str
    cache: CacheIndex | None = None
    limits: ConcurrencyLimits | None = None
    cancels: CancelSource | None = None
    clock: Clock = field(default_factory=SystemClock)
    placement: ResultPlacement = field(default_factory=ResultPlacement)  # where results are stored


@dataclass(frozen=True, slots=True)
class RunToDrive:
    """One run to drive: its traced flow and its log (``state``: the log folded, if known),
    why it is driven, the tasks a restart re-opens, its lease, and where its events and
    task output go. ``held`` is filled by the drive: the encoded values of the unpersisted
    results the flow returns, by task key (they exist nowhere else once the drive ends).

    A new run not yet in the log is driven from its ``created`` event (``events`` is that
    event as the log will fold it): the drive's first append creates it, with its lease."""

    traced: TracedFlow
    events: Sequence[Event]
    created: NewEvent | None = None
    state: RunView | None = None
    reason: str = "start"
    reopen: Sequence[str] = ()
    lease: RunLease | None = None
    on_events: EventListener | None = None
    task_logs: TaskLogSink | None = None
    held: dict[str, EncodedResult] = field(default_factory=dict)


def host_for(
    run: RunToDrive, ports: RunPorts, completions: "Completions[RunHost]", hook_pool: HookPool
) -> RunHost:
    """The host of one run: its machine built from the run's log and flow."""
    traced = run.traced
    run_id = run.events[0].run_id
    spans = drive_spans(run_id, run.events, ports.owner, run.reason, task_names(traced.calls))
    created, on_events = run.created, run.on_events
    if spans is not None:
        created = None if created is None else spans.created(created)
        on_events = spans.listening(on_events)
    machine = RunMachine(
        run.state if run.state is not None else fold(run.events),
        task_policies(traced),
        graph=traced.graph,
        has_cache=ports.cache is not None,
        has_limits=ports.limits is not None,
        redact=traced.secrets.redact_payload if traced.secrets else None,
        outbox=outbox if (outbox := HookRegistry(traced).outbox(run.events)).has_hooks else None,
        cache_notes=recorded_cache_notes(run.events) if ports.cache is not None else None,
    )
    return RunHost(
        machine=machine, traced=traced, log=ports.log, results=ports.results,
        executor=ports.executor, owner=ports.owner, clock=ports.clock, completions=completions,
        on_events=on_events, lease=run.lease, cache=ports.cache, limits=ports.limits,
        task_logs=run.task_logs, cancels=ports.cancels, placement=ports.placement, hook_pool=hook_pool,
        held=run.held, created=created, spans=spans,
    )  # fmt: skip
