"""One run's machine and the ports its commands are carried out against.

The host feeds stimuli to the machine and carries out what it asks, in order: events are
buffered until the round ends; the loop then writes the rounds of all its runs in one
transaction (a group commit) and hands each host its outcome (``written``), and only then
are the round's attempts submitted, so the log always knows an attempt before it runs.
Questions are answered at once; slots are given back once the events that end their
tasks are written.
"""

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from typing import Any

from ...executors.base import Executor
from ...executors.body import qualified_name
from ...executors.invocation import Outcome
from ...executors.text import exception_text
from ...results.codec import EncodedResult
from ...storage.errors import StorageError
from ...storage.protocols import (
    CacheIndex,
    CancelSource,
    ConcurrencyLimits,
    EventLog,
    ResultStore,
    StoredResult,
    TaskLogSink,
)
from ..cancel import CANCEL_GRACE_SECONDS, discard_request
from ..clock import Clock
from ..core.commands import (
    AcquireSlots,
    Append,
    Command,
    DeliverHooks,
    Finished,
    IgnoreOutcome,
    LookUpCache,
    MeasureMaps,
    ReleaseSlots,
    StopWork,
    Submit,
    WakeAt,
)
from ..core.errors import LedgerflowError
from ..core.events import EventType, NewEvent
from ..core.hook_outbox import Owed
from ..core.machine import RunMachine
from ..core.states import RunState
from ..core.stimuli import (
    CancelRequested,
    HandBack,
    HookDelivered,
    NotSubmitted,
    SlotsAnswered,
    Started,
    Stimulus,
    TimePassed,
    WorkStopped,
    Written,
)
from ..flow import TracedFlow
from ..hooks import HookRegistry, deliver, hook_context
from ..lease import RunLease
from ..recorder import EventListener, Flushed, RunRecorder
from ..result_storage import IN_DATABASE, ResultPlacement
from ..spans import DriveSpans
from .answers import UNFED, cache_answers, measure_map
from .completions import Completions
from .inputs import RunInputs
from .outcomes import attempt_ended

logger = logging.getLogger(__name__)

HOOK_WORKERS = 4  # threads delivering the hooks of a loop's runs
Delivered = tuple[EventType, dict[str, Any]]  # what a hook delivery ended as (``hooks.deliver``)
_SUCCEEDED = EventType.TASK_SUCCEEDED.value
_RUNNING = EventType.TASK_RUNNING.value


class HookPool:
    """The threads that deliver the hooks of every run of one loop, started on first use."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, fn: Callable[..., Delivered], *args: Any) -> Future[Delivered]:
        """Deliver on a pool thread."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(HOOK_WORKERS, thread_name_prefix="ledgerflow-hook")
        return self._pool.submit(fn, *args)

    def close(self) -> None:
        """Stop the threads; deliveries not started are dropped (owed to the next driver)."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)


class RunHost:
    """Carries out one run machine's commands; the loop (``runtime.loop``) drives hosts."""

    def __init__(
        self,
        *,
        machine: RunMachine,
        traced: TracedFlow,
        log: EventLog,
        results: ResultStore,
        executor: Executor,
        owner: str,
        clock: Clock,
        completions: "Completions[RunHost]",
        on_events: EventListener | None = None,
        lease: RunLease | None = None,
        cache: CacheIndex | None = None,
        limits: ConcurrencyLimits | None = None,
        task_logs: TaskLogSink | None = None,
        cancels: CancelSource | None = None,
        placement: ResultPlacement = IN_DATABASE,
        hook_pool: HookPool | None = None,
        held: dict[str, EncodedResult] | None = None,
        created: NewEvent | None = None,
        spans: DriveSpans | None = None,
    ) -> None:
        """``held`` receives the values of the unpersisted results the flow returns, by task
        key, as the drive records them (``run.result()`` reads them after the drive);
        ``created``: the run.created of a new run, appended with the drive's first events;
        ``spans``: the drive's OpenTelemetry spans (None: tracing is off)."""
        self.machine = machine
        self.run_id = machine.run_id
        self._executor = executor
        self._owner = owner
        self._clock = clock
        self._completions = completions
        self._cache = cache
        self._limits = limits
        self._spans = spans
        head = machine.live_view()  # the log as stored: the machine has decided nothing yet
        self.recorder = RunRecorder(
            run_id=self.run_id, seq=0 if created else head.seq,
            head=None if created else (head.head_hash, head.updated_at), log=log,
            results=results, owner=owner, lease=lease, task_logs=task_logs, on_events=on_events,
        )  # fmt: skip
        if created is not None:
            self.recorder.buffer([created])
        self.inputs = RunInputs(traced, machine, results, self.recorder, placement)
        self._sign_reference = results.sign_reference
        self._inline_limit = placement.inline_limit
        self._hooks = HookRegistry(traced)
        self._redact = traced.secrets.redact
        self._hook_pool = hook_pool if hook_pool is not None else HookPool()
        self._deliveries: list[Future[Delivered]] = []  # this run's, not yet done
        self._cancels = cancels
        self._to_submit: list[str] = []
        self._results: dict[str, StoredResult] = {}  # results of outcomes not yet handed to the recorder
        self._held = held if held is not None else {}
        self._to_hold: dict[tuple[str, int], EncodedResult] = {}  # for ``held``, once recorded
        self.wake: datetime | None = None  # when the machine wants to decide again
        self.stop_deadline: float | None = None  # monotonic end of the grace of a cancel
        self.finished: RunState | None = None
        self.is_round_ended = False  # its events wait for the loop's next group commit
        self._has_asked_slots = False  # this driver holds (or waits for) slots only if it asked

    # -- the loop's side -------------------------------------------------------------

    def start(self, reason: str, reopen: Sequence[str]) -> None:
        """Begin the drive: the run is (re)started."""
        if self.machine.live_view().state.is_terminal:
            # a restart: a request that came after the run ended is stale
            discard_request(self._cancels, self.run_id)
        trace = None if self._spans is None else self._spans.trace
        self.feed([Started(self._owner, reason, tuple(reopen), trace)])

    def feed(self, stimuli: Iterable[Stimulus]) -> None:
        """Hand stimuli to the machine and carry out its commands (answers are fed at once)."""
        pending = list(stimuli)
        while pending:
            pending = self._carry_out(self.machine.handle(pending, self._clock.now()))

    def completed(self, results: Sequence[Outcome | Delivered]) -> None:
        """Attempts or hook deliveries of this run ended (and time passed): tell the machine."""
        stimuli: list[Stimulus] = []
        for result in results:
            if not isinstance(result, Outcome):
                stimuli.append(HookDelivered(result[0].value, result[1]))
                continue
            self.recorder.keep_logs(result)  # a stale attempt's output is still what it printed
            ended, stored = attempt_ended(self.run_id, result, self._inline_limit, self._sign_reference)
            if stored is not None:
                self._results[stored.ref] = stored
            elif result.result is not None and result.reference is not None:  # not persisted
                self._to_hold[(result.task_key, result.attempt)] = result.result
            stimuli.append(ended)
        self.feed([*stimuli, TimePassed()])
        if self.stop_deadline is not None and self.finished is None and self.machine.in_flight == 0:
            self.feed([WorkStopped()])  # every attempt of the cancelled run has ended

    def written(self, flushed: Flushed) -> None:
        """The loop's group commit wrote the round's events (or refused them: raised here):
        submit the attempts they started, and tell the machine."""
        if isinstance(flushed, Exception):
            raise flushed
        self.is_round_ended = False
        keys, self._to_submit = self._to_submit, []
        stimuli: list[Stimulus] = [Written(flushed[-1].hash)] if flushed else []
        stimuli += self._submit(keys)
        if stimuli:
            self.feed(stimuli)

    @property
    def is_cancellable(self) -> bool:
        """Whether a cancel request would still change anything (its cancel has not begun)."""
        return self.finished is None and self.stop_deadline is None

    def poll(self, monotonic: float, request: dict[str, Any] | None) -> None:
        """Take in the run's cancel request, if one stands; end a cancel's grace (what has
        not stopped is abandoned)."""
        if self.finished is not None:
            return
        if self.stop_deadline is not None:
            if monotonic >= self.stop_deadline:
                self.feed([WorkStopped()])
            return
        if request is not None:
            self.feed([CancelRequested(request)])

    def hand_back(self, reason: str) -> None:
        """Stop driving the run for another driver to continue it (``reason``: why)."""
        self.feed([HandBack(reason)])

    def timeout(self, now: datetime, monotonic: float) -> float | None:
        """Seconds the loop may wait for an outcome before this run needs it (None: no limit)."""
        if self.stop_deadline is not None:
            return max(0.0, self.stop_deadline - monotonic)
        return None if self.wake is None else max(0.0, (self.wake - now).total_seconds())

    def is_due(self, now: datetime) -> bool:
        """Whether the machine's wake-up time has come."""
        return self.wake is not None and self.wake <= now

    def close(self, error: Exception | None = None) -> None:
        """The drive ended (or failed: ``error``): release the run's work, hooks and slots."""
        try:
            if self.finished is RunState.RUNNING:  # handed back: what it queued must not start here
                self._executor.cancel(self.run_id)
            self._executor.release(self.run_id)
        finally:
            for delivery in self._deliveries:  # deliveries not recorded are owed to the next driver
                delivery.cancel()
            if self.finished is RunState.CANCELLED:
                discard_request(self._cancels, self.run_id)
            self._give_back_all_slots()
            if self._spans is not None:
                self._spans.end(self.machine.live_view().state.value, error)

    # -- carrying out ----------------------------------------------------------------

    def _carry_out(self, commands: Sequence[Command]) -> list[Stimulus]:
        answers: list[Stimulus] = []
        for command in commands:
            match command:
                case Append():
                    self._append(command.events)
                case Submit():
                    self._to_submit.extend(command.task_keys)
                case LookUpCache():
                    assert self._cache is not None
                    answers.append(
                        cache_answers(command.task_keys, self.inputs, self._cache, self._clock.now())
                    )
                case AcquireSlots():
                    assert self._limits is not None
                    if self.recorder.is_creating:  # slots live with the lease of a run that exists
                        self._flush()
                    self._has_asked_slots = True
                    granted = self._limits.try_acquire_many(self.run_id, command.tasks, self._owner)
                    answers.append(SlotsAnswered(frozenset(granted)))
                case ReleaseSlots():
                    if self._limits is not None:
                        self._limits.release(self.run_id, *command.task_keys)
                case MeasureMaps():
                    answers += [measure_map(key, self.inputs, self.machine) for key in command.task_keys]
                case WakeAt():
                    self.wake = command.when
                    self.is_round_ended = True
                case DeliverHooks():
                    self._deliver(command.deliveries)
                case StopWork():
                    answers += self._stop_work()
                case Finished():
                    self.finished = command.state
                    self.is_round_ended = True
                    if command.state.is_terminal:  # its last events give the lease up with them
                        self.recorder.release_with_next()
                case IgnoreOutcome():
                    self._results.pop(f"{self.run_id}/{command.task_key}/{command.attempt}", None)
                    self._to_hold.pop((command.task_key, command.attempt), None)
                    logger.warning(
                        "run %s task %s: ignoring a stale outcome of attempt %s",
                        self.run_id, command.task_key, command.attempt,
                    )  # fmt: skip
        return answers

    def _append(self, events: Sequence[NewEvent]) -> None:
        """Buffer the events; hand the recorder the results they refer to; drop the futures
        of attempts that ended, unless a downstream task takes their results."""
        handles = self.inputs.handles
        for event in events:
            key = event.task_key
            if event.type == _SUCCEEDED:
                ref = event.payload.get("result", {}).get("ref")
                if ref is not None and (stored := self._results.pop(ref, None)) is not None:
                    self.recorder.keep_result(stored)
                elif self._to_hold and key is not None:
                    self._hold(key, event.payload["attempt"])
                if key in handles and not self.inputs.is_consumed(key):
                    del handles[key]
            elif key in handles and event.type != _RUNNING:
                del handles[key]
        self.recorder.buffer(events)

    def _hold(self, key: str, attempt: int) -> None:
        """The attempt's success is recorded: if the flow returns its unpersisted result,
        keep it for ``run.result()``."""
        kept = self._to_hold.pop((key, attempt), None)
        if kept is not None:
            self._held[key] = kept

    def _submit(self, keys: list[str]) -> list[Stimulus]:
        invocations, refused = [], list[Stimulus]()
        spans = self._spans
        for key in keys:
            try:
                trace = None if spans is None else spans.submitted(key, self.machine.task(key).attempts)
                invocations.append(self.inputs.invocation(key, trace))
            except UNFED as exc:  # an upstream result this process cannot use
                refused.append(NotSubmitted(key, _unfed_error(key, exc)))
        if invocations:
            futures = self._executor.submit_many(invocations)
            for invocation, future in zip(invocations, futures, strict=True):
                self.inputs.handles[invocation.task_key] = future
                self._completions.watch(self, future)
        return refused

    def _stop_work(self) -> list[Stimulus]:
        """Cancel the run's work; the loop reports what still ends within the grace."""
        self._flush()
        self._to_submit = []
        self._executor.cancel(self.run_id)
        self.stop_deadline = time.monotonic() + CANCEL_GRACE_SECONDS
        return [WorkStopped()] if self.machine.in_flight == 0 else []

    def _flush(self) -> None:
        """Write what was buffered at once (one transaction); tell the machine."""
        appended = self.recorder.flush()
        if appended:
            self.feed([Written(appended[-1].hash)])

    def _deliver(self, deliveries: Sequence[Owed]) -> None:
        """Hand owed deliveries to the hook pool; the loop reports each as it ends."""
        view = self.machine.live_view()
        self._deliveries = [delivery for delivery in self._deliveries if not delivery.done()]
        for event, name in deliveries:
            hook, context = self._hooks.resolve(event, name), hook_context(event, name, view, self._redact)
            delivery = self._hook_pool.submit(deliver, hook, context)
            self._deliveries.append(delivery)
            self._completions.watch(self, delivery)

    def _give_back_all_slots(self) -> None:
        if self._limits is None or not self._has_asked_slots:
            return
        try:
            self._limits.release_run(self.run_id, self._owner)
        except StorageError:
            logger.warning("run %s: could not give back its slots; they expire with its lease", self.run_id)


def _unfed_error(key: str, exc: LedgerflowError) -> dict[str, str]:
    """Why a task whose inputs cannot be loaded (e.g. a result signed with another key)
    fails: retrying cannot help it, and the rest of the run goes on."""
    message = f"task {key!r} could not receive its inputs: {exception_text(exc)}"
    return {"type": qualified_name(type(exc)), "message": message, "traceback": ""}
