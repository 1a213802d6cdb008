"""The scheduler: fold the log, act on the frontier, record outcomes in group commits.

The one imperative module of the engine. It is given its event log, result store,
executor and clock, and never names a concrete backend; writing what it records is
the ``RunRecorder``'s job.
"""

import logging
from collections.abc import Sequence
from concurrent.futures import Future
from datetime import datetime
from typing import Any

from ..executors.arguments import resolve_arguments
from ..executors.base import Executor
from ..executors.body import qualified_name
from ..executors.invocation import Input, Invocation, Outcome, Value
from ..executors.result_codec import decode_result
from ..executors.text import exception_text
from ..storage.errors import ResultNotFound, ResultNotLoadable, ResultRefused, StorageError
from ..storage.protocols import (
    CacheIndex,
    CancelSource,
    ConcurrencyLimits,
    EventLog,
    ResultStore,
    TaskLogSink,
)
from .arguments import child_arguments, expand_parents, mapped_lengths, upstream_keys
from .caching import decide_cache_key
from .cancel import CancelWatch, cancelled_recording, closing_events, reason_of, stop_work
from .clock import Clock, SystemClock
from .completions import Completions
from .core.events import Event, EventType
from .core.fold import Folder, RunView
from .core.frontier import Frontier, frontier
from .core.restart import reopening
from .core.states import TaskState
from .flow import TracedFlow
from .hooks import HookDelivery
from .lease import LeaseKeeper
from .outcomes import record_outcome
from .recorder import EventListener, RunRecorder
from .result_values import load_result
from .slots import RunSlots
from .tracing import TaskCall

logger = logging.getLogger(__name__)

# At most this many tasks start per step: the first submissions happen early and a
# huge frontier is committed in several transactions rather than one.
MAX_STARTS_PER_STEP = 1000
# At most this many attempts are submitted and not yet complete: a huge map waits for
# completions instead of queueing all of its children (bounded memory, here and in Dask).
MAX_IN_FLIGHT = 5000
# How long a step waits for more outcomes after the first, while other tasks still run.
GROUP_COMMIT_WINDOW = 0.005
# While tasks wait for concurrency slots, look again this often: other processes free them.
SLOT_POLL_SECONDS = 0.5
# A stored result that loading it again would not change: the task needing it fails.
UNUSABLE_RESULT = (ResultRefused, ResultNotLoadable, ResultNotFound)


class Scheduler:
    """Drives one run from its log to a terminal state."""

    def __init__(
        self,
        *,
        run_id: str,
        traced: TracedFlow,
        events: Sequence[Event],
        log: EventLog,
        results: ResultStore,
        executor: Executor,
        owner: str,
        clock: Clock | None = None,
        on_events: EventListener | None = None,
        lease: LeaseKeeper | None = None,
        reason: str = "start",
        reopen: Sequence[str] = (),
        cache: CacheIndex | None = None,
        state: RunView | None = None,
        limits: ConcurrencyLimits | None = None,
        task_logs: TaskLogSink | None = None,
        cancels: CancelSource | None = None,
    ) -> None:
        self.run_id = run_id
        self._traced = traced
        self._results = results
        self._executor = executor
        self._owner = owner
        self._clock = clock or SystemClock()
        self._reason = reason
        self._reopen = tuple(reopen)
        self._cache = cache
        self._cache_notes: dict[str, dict[str, str]] = {}  # per task: key or why not cached
        self._slots = RunSlots(run_id, owner, limits)
        self._folder = Folder(state) if state is not None else Folder().apply_all(events)
        self._recorder = RunRecorder(
            run_id=run_id, folder=self._folder, seq=events[-1].seq if events else 0, log=log,
            results=results, owner=owner, lease=lease, task_logs=task_logs, on_events=on_events,
            redact=traced.secrets.redact_payload if traced.secrets else None,
        )
        self._hooks = HookDelivery(traced, events, self._folder, self._record, self._recorder.flush)
        self._handles: dict[str, Future[Outcome]] = {}
        self._completions = Completions(GROUP_COMMIT_WINDOW, MAX_STARTS_PER_STEP)
        self._watch = CancelWatch(run_id, owner, cancels)
        self._cancel_reason: str | None = None  # set once the run is being cancelled
        self._has_more_ready = False
        self._orphans_adopted = False
        self._waiting_orphans = False
        self._has_dynamic_maps = any(n.map_over is not None for n in traced.graph.nodes.values())
        # Nodes whose results other tasks take as inputs: only their futures are kept.
        self._has_consumers = {key for key, down in traced.graph.downstream().items() if down}

    def drive(self) -> RunView:
        """Run until every task has settled or the run is cancelled; return the final state."""
        if self._folder.live_view().state.is_terminal:
            self._watch.discard()  # a restart: a request that came after the run ended is stale
        self._record(None, EventType.RUN_RUNNING, {"owner": self._owner, "reason": self._reason})
        for key in self._reopen:
            self._record(key, EventType.TASK_PENDING, reopening(self._folder.task(key), self._reason))
        try:
            while True:
                if (request := self._watch.due(self._folder.live_view(), self._clock.now())) is not None:
                    return self._cancel(request)
                step, to_submit = self._decide()
                self._flush()
                self._submit(to_submit)
                if step.is_finished:
                    self._finish()
                    return self._folder.view()
                self._collect(step, block=not self._has_more_ready)
        finally:
            try:
                self._executor.release(self.run_id)
            finally:
                self._hooks.close()
                self._slots.give_back_all()

    # -- deciding -----------------------------------------------------------------

    def _decide(self) -> tuple[Frontier, list[str]]:
        """Apply the frontier until it is stable; returns it and the tasks to submit."""
        self._slots.waiting = set()
        self._has_more_ready = False
        to_submit = self._orphans()
        while True:
            step = frontier(self._traced.graph, self._folder.live_view())
            for key, failed in step.upstream_failed.items():
                self._record(key, EventType.TASK_UPSTREAM_FAILED, {"upstream": list(failed)})
            for key, reason in step.skipped.items():
                self._record(key, EventType.TASK_SKIPPED, {"reason": reason})
            for key in step.expand:
                self._expand(key)
            now = self._clock.now()
            due = [key for key, when in step.retry_due.items() if when <= now]
            room = min(MAX_STARTS_PER_STEP, MAX_IN_FLIGHT - self._completions.in_flight)
            candidates, capped = self._candidates(step, due, room - len(to_submit), now)
            if capped:  # the rest start next step: at once, or after completions
                self._has_more_ready = room == MAX_STARTS_PER_STEP
            for key in self._slots.acquire(candidates, self._tags_of):
                attempt = self._folder.task(key).attempts + 1
                notes = self._cache_notes.get(key, {})
                self._record(key, EventType.TASK_RUNNING, {"attempt": attempt, **notes})
                to_submit.append(key)
            if capped:
                return step, to_submit
            if step.is_idle or self._is_only_waiting(step):
                return step, to_submit

    def _candidates(
        self, step: Frontier, due: list[str], room: int, now: datetime
    ) -> tuple[list[str], bool]:
        """Up to ``room`` tasks to start, in order: the ready ones the cache does not answer
        (looked up a batch at a time, one query per batch) and the retries that are due.
        True with them if some were left for the next step."""
        ready, keys, candidates = set(step.ready), [*step.ready, *due], list[str]()
        start = 0
        while start < len(keys):
            if len(candidates) >= room:
                return candidates, True
            batch = keys[start : start + room - len(candidates)]
            start += len(batch)
            hits = self._cache_hits([k for k in batch if k in ready and k not in self._slots.waiting], now)
            candidates.extend(k for k in batch if k not in self._slots.waiting and k not in hits)
        return candidates, False

    def _cache_hits(self, keys: list[str], now: datetime) -> set[str]:
        """Look the tasks up in the cache in one query; record ``task.cached`` for each hit
        and return the hits (a miss notes its cache key for its ``task.running``)."""
        if self._cache is None:
            return set()
        cache_keys: dict[str, str] = {}
        for key in keys:
            task = self._call_of(key).task
            if task.cache_key is None:
                continue
            args, kwargs = self._arguments(key)
            try:
                values = {k: self._load_if_succeeded(k) for k in upstream_keys((args, kwargs))}
            except UNUSABLE_RESULT:
                continue  # not looked up: submitting it fails it, saying why
            try:  # rebuilding an argument runs user code (a dataclass's __init__, ...)
                args, kwargs = resolve_arguments(args, kwargs, values)
            except Exception as exc:  # the attempt meets it again and fails with it recorded
                self._cache_notes[key] = {"cache": f"not cached: arguments not resolved ({exc!r})"}
                continue
            decision = decide_cache_key(task, args, kwargs)
            if decision.key is None:
                self._cache_notes[key] = {"cache": f"not cached: {decision.reason}"}
            else:
                cache_keys[key] = decision.key
        entries = self._cache.cache_lookup_many(set(cache_keys.values()), now) if cache_keys else {}
        hits = set()
        for key, cache_key in cache_keys.items():
            entry = entries.get(cache_key)
            if entry is None:
                self._cache_notes[key] = {"cache_key": cache_key}
                continue
            payload = {
                "cache_key": cache_key,
                "result": dict(entry.result),
                "source_run": entry.run_id,
                "source_task": entry.task_key,
            }
            self._record(key, EventType.TASK_CACHED, payload)
            hits.add(key)
        return hits

    def _orphans(self) -> list[str]:
        """Tasks the log shows RUNNING that this driver is not running: start a new attempt.

        Only a log written by another driver has them: after the first step, every
        RUNNING task is this driver's own (or one waiting for a slot, retried here).
        """
        if self._orphans_adopted and not self._waiting_orphans:
            return []
        self._orphans_adopted = True
        candidates = [
            task.key
            for task in self._folder.live_view().tasks.values()
            if task.state is TaskState.RUNNING and task.key not in self._handles
        ]
        orphans = self._slots.acquire(candidates, self._tags_of)
        self._waiting_orphans = len(orphans) < len(candidates)  # some wait for a slot
        for key in orphans:
            attempt = self._folder.task(key).attempts + 1
            self._record(key, EventType.TASK_RUNNING, {"attempt": attempt, "reason": "orphaned"})
        return orphans

    def _tags_of(self, key: str) -> tuple[str, ...]:
        return self._call_of(key).task.tags

    def _is_only_waiting(self, step: Frontier) -> bool:
        """Nothing to decide now but tasks that did not get their slots."""
        if step.expand or step.upstream_failed or step.skipped:
            return False
        return all(key in self._slots.waiting for key in step.ready)

    def _expand(self, key: str) -> None:
        state = self._folder.live_view()
        try:
            lengths = mapped_lengths(self._traced.calls[key], state, self._load)
            if len(set(lengths.values())) > 1:
                raise ValueError(f"cannot map over inputs of different lengths: {lengths}")
        except Exception as exc:  # a bad map input fails the task, not the engine
            error = {"type": type(exc).__qualname__, "message": exception_text(exc), "traceback": ""}
            self._record(key, EventType.TASK_FAILED, {"attempt": 0, "error": error})
            return
        count = next(iter(lengths.values()), 0)
        self._record(key, EventType.TASK_MAPPED, {"count": count})

    # -- acting -------------------------------------------------------------------

    def _submit(self, keys: list[str]) -> None:
        invocations = []
        for key in keys:
            try:
                invocations.append(self._invocation(key))
            except UNUSABLE_RESULT as exc:  # an upstream result this process cannot use
                self._fail_unfed(key, exc)
        if not invocations:
            return
        futures = self._executor.submit_many(invocations)
        for invocation, future in zip(invocations, futures, strict=True):
            self._handles[invocation.task_key] = future
            self._completions.watch(future)

    def _fail_unfed(self, key: str, exc: StorageError) -> None:
        """Fail a task whose inputs cannot be loaded (e.g. a result signed with another key):
        retrying cannot help it, and the rest of the run goes on."""
        message = f"task {key!r} could not receive its inputs: {exception_text(exc)}"
        error = {"type": qualified_name(type(exc)), "message": message, "traceback": ""}
        self._record(key, EventType.TASK_FAILED, {"attempt": self._folder.task(key).attempts, "error": error})
        self._has_more_ready = True  # decide again at once: nothing may be left to wait for

    def _arguments(self, key: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The task's arguments with ``Upstream`` placeholders for upstream results."""
        task_view = self._folder.task(key)
        call = self._call_of(key)
        if task_view.parent is not None:
            args, kwargs = child_arguments(call, int(key[len(task_view.parent) + 1 : -1]))
        else:
            args, kwargs = call.args, dict(call.kwargs)
        if self._has_dynamic_maps:
            args, kwargs = expand_parents((args, kwargs), self._folder.live_view())
        return tuple(args), kwargs

    def _invocation(self, key: str) -> Invocation:
        task_view = self._folder.task(key)
        call = self._call_of(key)
        args, kwargs = self._arguments(key)
        inputs = {upstream: self._input(upstream) for upstream in upstream_keys((args, kwargs))}
        task = call.task
        return Invocation(
            run_id=self.run_id,
            task_key=key,
            attempt=task_view.attempts,
            fn=task.fn,
            args=tuple(args),
            kwargs=kwargs,
            inputs=inputs,
            timeout=task.timeout,
            retry_on=task.retry_on,
            resources=task.resources,
            masked=self._traced.secrets.texts,
        )

    def _is_consumed(self, key: str) -> bool:
        """Whether a downstream task takes this task's result (a child: its parent's)."""
        parent = self._folder.task(key).parent
        return (parent if parent is not None else key) in self._has_consumers

    def _call_of(self, key: str) -> TaskCall:
        parent = self._folder.task(key).parent
        return self._traced.calls[parent if parent is not None else key]

    def _input(self, key: str) -> Input:
        task = self._folder.task(key)
        if not task.state.is_success:
            return Value(None)  # a failed or skipped upstream of an all_finished/any_failed task
        handle = self._handles.get(key)
        return handle if handle is not None else Value(self._load(key))

    def _load_if_succeeded(self, key: str) -> Any:
        return self._load(key) if self._folder.task(key).state.is_success else None

    def _load(self, key: str) -> Any:
        payload = self._folder.task(key).result
        pending = self._recorder.pending_result(payload["ref"]) if payload and "ref" in payload else None
        if pending is not None:  # recorded in this step, not yet flushed to the store
            return decode_result(pending.format, pending.data)
        return load_result(payload, self._results)

    # -- recording ----------------------------------------------------------------

    def _collect(self, step: Frontier, block: bool = True) -> None:
        """Wait for at least one outcome (or the next retry), then take all that are done."""
        timeout = None if block else 0.0
        retry_due = [when for key, when in step.retry_due.items() if key not in self._slots.waiting]
        if block and retry_due:
            timeout = max(0.0, (min(retry_due) - self._clock.now()).total_seconds())
        if block and self._slots.waiting:
            timeout = SLOT_POLL_SECONDS if timeout is None else min(timeout, SLOT_POLL_SECONDS)
        if block and self._completions.in_flight == 0 and timeout is None:
            raise AssertionError(f"run {self.run_id}: nothing running and nothing to wait for")
        if block:
            timeout = self._watch.wait_cap(timeout, self._folder.live_view(), self._clock.now())
        for outcome in self._completions.take(timeout):
            self._complete(outcome)

    def _complete(self, outcome: Outcome) -> None:
        self._recorder.keep_logs(outcome)  # a stale attempt's output is still what it printed
        current = self._folder.task(outcome.task_key)
        if current.state is not TaskState.RUNNING or current.attempts != outcome.attempt:
            logger.warning(
                "run %s task %s: ignoring a stale outcome of attempt %s",
                self.run_id, outcome.task_key, outcome.attempt,
            )
            return
        task = self._call_of(outcome.task_key).task
        now = self._clock.now()
        recording = record_outcome(self.run_id, task, outcome, now)
        recording = cancelled_recording(recording, outcome, self._cancel_reason)
        notes = self._cache_notes.get(outcome.task_key, {})
        if recording.type is not EventType.TASK_RETRYING:
            self._cache_notes.pop(outcome.task_key, None)
        cache_key = notes.get("cache_key")
        if cache_key is not None and recording.type is EventType.TASK_SUCCEEDED:
            recording.payload["cache_key"] = cache_key
            if task.cache_expiration is not None:
                expires = now + task.cache_expiration
                recording.payload["cache_expires_at"] = expires.isoformat(timespec="microseconds")
        if recording.stored is not None:
            self._recorder.keep_result(recording.stored)
        if recording.type is not EventType.TASK_SUCCEEDED or not self._is_consumed(outcome.task_key):
            self._handles.pop(outcome.task_key, None)  # a downstream task loads it if it must
        self._record(outcome.task_key, recording.type, recording.payload)

    def _finish(self) -> None:
        tasks = self._folder.live_view().tasks.values()
        failed = [t.key for t in tasks if t.state in (TaskState.FAILED, TaskState.UPSTREAM_FAILED)]
        cancelled = [t.key for t in tasks if t.state is TaskState.CANCELLED]
        if failed:
            reason = f"{len(failed)} task(s) did not succeed, first {failed[0]!r}"
            self._record(None, EventType.RUN_FAILED, {"reason": reason, "failed": failed[:100]})
        elif cancelled:
            self._record(None, EventType.RUN_CANCELLED, {"reason": "tasks were cancelled"})
        else:
            self._record(None, EventType.RUN_SUCCEEDED, {})
        self._flush()

    def _cancel(self, request: dict[str, Any]) -> RunView:
        """Record the request, stop the run's work, and end the run CANCELLED."""
        self._cancel_reason = reason_of(request)
        if self._folder.live_view().cancel_request is None:
            self._record(None, EventType.RUN_CANCEL_REQUESTED, request)
        self._flush()
        for outcome in stop_work(self._executor, self.run_id, self._completions):
            self._complete(outcome)  # what does not stop within the grace is abandoned
        for key, type_, payload in closing_events(self._folder.live_view(), self._cancel_reason):
            self._record(key, type_, payload)
        self._flush()
        self._watch.discard()
        return self._folder.view()

    def _record(self, task_key: str | None, type_: EventType, payload: dict[str, Any]) -> None:
        """Record an event (folded at once, written at the next flush)."""
        if task_key is not None and type_ is not EventType.TASK_RUNNING:
            self._slots.ended(task_key)  # terminal or retrying: no slot once recorded
        self._recorder.record(task_key, type_, payload, self._clock.now())

    def _flush(self) -> None:
        """Write what was recorded (one transaction); then give back the slots it freed and
        deliver the hooks it triggered."""
        if appended := self._recorder.flush():
            self._slots.give_back_written()
            self._hooks.after_flush(appended)
