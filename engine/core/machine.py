"""The run state machine: ``machine.handle(stimuli, now) -> commands``, with no I/O.

Every decision the driver of a run takes is made here: which tasks start, which the cache
answers, which wait for a concurrency slot, when a retry is due, which tasks fail or skip
because of their upstreams, how a dynamic map expands, what becomes of an attempt's
outcome (retrying, infrastructure retries, failed), which orphaned attempts are run
again, which results lost with an earlier drive are computed again (``recompute.py``), when
the run's timeout cancels it, how a cancel ends it, and how a run is handed back for another
driver to continue. The machine folds
every event it hands out at once, so its state is the fold of the log plus what it has
asked for and not yet been answered (the attempts in flight, the slots it holds).

Within a round (from one ``TimePassed``, ``AttemptEnded``... to the next ``WakeAt``) a
question (``LookUpCache``, ``AcquireSlots``, ``MeasureMaps``) ends ``handle``; the answer,
handled next, resumes the decision where it stopped. The runtime (``engine.runtime``)
carries the commands out. The machine's memory and its recording of events live in
``machine_state.py``.
"""

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from .attempt_endings import ending_event
from .cancelling import closing_events, reason_of, timeout_request
from .commands import (
    AcquireSlots,
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
from .events import EventType
from .fold import RunView
from .frontier import frontier
from .machine_state import SLOT_POLL_SECONDS, MachineState
from .recompute import recomputation
from .restart import reopening
from .states import RunState, TaskState
from .stimuli import (
    AttemptEnded,
    CacheAnswered,
    CacheHit,
    CacheMiss,
    CancelRequested,
    HandBack,
    HookDelivered,
    MapMeasured,
    NotSubmitted,
    SlotsAnswered,
    Started,
    Stimulus,
    TimePassed,
    WorkStopped,
    Written,
)

_ANSWERS = (CacheAnswered, SlotsAnswered, MapMeasured, Written, HookDelivered)
_ENDED_RUNNING = (TaskState.FAILED, TaskState.UPSTREAM_FAILED)


class RunMachine(MachineState):
    """Decides one run's next steps from its log and what it is told."""

    # -- handling -----------------------------------------------------------------

    def handle(self, stimuli: Iterable[Stimulus], now: datetime) -> list[Command]:
        """Take in what happened, decide, and return the commands to carry out, in order."""
        self._now = now
        decide = False
        for stimulus in stimuli:
            if not isinstance(stimulus, _ANSWERS):
                decide = True
                self._refused.clear()
                self._started_in_round = 0
                self._has_more_ready = False
            else:
                decide = decide or not isinstance(stimulus, Written | HookDelivered)
            self._take(stimulus)
        if self._slots_freed:
            self._slots_freed, decide = False, True
        if decide:
            self._decide()
        if self._phase == "ending":
            self._settle()
        return self._flush_out()

    def _take(self, stimulus: Stimulus) -> None:
        match stimulus:
            case Started():
                self._start(stimulus)
            case AttemptEnded():
                self._attempt_ended(stimulus)
            case CacheAnswered():
                self._cache_answered(stimulus)
            case SlotsAnswered():
                self._slots_answered(stimulus)
            case MapMeasured():
                self._map_measured(stimulus)
            case NotSubmitted():
                self._in_flight.discard(stimulus.task_key)
                payload = {"attempt": self.task(stimulus.task_key).attempts, "error": dict(stimulus.error)}
                self._record(stimulus.task_key, EventType.TASK_FAILED, payload)
            case CancelRequested():
                self._cancel_asked = stimulus.request
            case HandBack():
                self._hand_back(stimulus)
            case WorkStopped():
                self._close_cancelled()
            case HookDelivered():
                delivered = stimulus.payload
                self._record(None, EventType(stimulus.type), dict(delivered))
                self._delivering.discard((int(delivered["trigger_seq"]), str(delivered["hook"])))
            case Written():
                self._written(stimulus)
            case TimePassed():
                pass

    def _written(self, written: Written) -> None:
        """The events are in the log: give back the slots they freed, deliver the hooks they
        owe (never before their trigger is written)."""
        self._folder.set_head_hash(written.head_hash)
        if self._due_back:
            due, self._due_back = tuple(self._due_back), []
            self._emit(ReleaseSlots(due))
            if self._refused and self._phase == "running":  # the waiting may get the freed slots now
                self._refused.clear()
                self._slots_freed = True
        if self._outbox:
            owed = tuple(self._outbox.take())
            self._delivering.update((event.seq, hook) for event, hook in owed)
            self._emit(DeliverHooks(owed))

    def _start(self, started: Started) -> None:
        self._owner = started.owner
        self._phase = "running"
        running: dict[str, Any] = {"owner": started.owner, "reason": started.reason}
        if started.trace is not None:
            running["trace"] = dict(started.trace)
        self._record(None, EventType.RUN_RUNNING, running)
        for key in started.reopen:
            self._record(key, EventType.TASK_PENDING, reopening(self.task(key), started.reason))
        view = self._folder.live_view()
        if self._cancel_due(view) is None:  # a run being cancelled runs nothing again
            for key, payload in recomputation(self._graph, view).events():
                self._record(key, EventType.TASK_PENDING, payload)
        # Tasks the log shows RUNNING that no attempt of this driver runs: a new attempt each.
        tasks = self._folder.live_view().tasks.values()
        self._orphans = {task.key: None for task in tasks if task.state is TaskState.RUNNING}

    # -- deciding -----------------------------------------------------------------

    def _decide(self) -> None:
        """Act on the frontier until it is stable, or until a question must be answered."""
        if self._phase != "running":
            return
        view = self._folder.live_view()
        request = self._cancel_due(view)
        if request is not None:
            self._begin_cancel(request, view)
            return
        if self._orphans and not self._start_orphans():
            return
        while True:
            step = frontier(self._graph, self._folder.live_view(), self._unsettled_keys())
            for key, failed in step.upstream_failed.items():
                self._record(key, EventType.TASK_UPSTREAM_FAILED, {"upstream": list(failed)})
            for key, reason in step.skipped.items():
                self._record(key, EventType.TASK_SKIPPED, {"reason": reason})
            if step.expand:
                self._emit(MeasureMaps(step.expand))
                return
            if step.is_finished:
                if self._due_back:  # the slots go back before the run's end is written
                    self._emit(WakeAt(self._now))
                    return
                self._finish()
                return
            due = [key for key, when in step.retry_due.items() if when <= self._now]
            room = min(self._max_starts - self._started_in_round, self._max_in_flight - len(self._in_flight))
            outcome = self._start_ready([*step.ready, *due], set(step.ready), room)
            if outcome == "asked":
                return
            if outcome == "capped":  # the rest start next round: at once, or as attempts end
                self._has_more_ready = self._started_in_round >= self._max_starts
                break
            if not (step.upstream_failed or step.skipped):
                break
        self._emit(WakeAt(self._wake_time(step.retry_due)))

    def _start_ready(self, keys: list[str], ready: set[str], room: int) -> str:
        """Start up to ``room`` of ``keys`` (first asking the cache about ready ones and the
        limits for slots): "asked" if a question went out, "capped" if some were left."""
        candidates: list[str] = []
        unasked: list[str] = []
        capped = False
        for key in keys:
            if key in self._refused:
                continue
            if len(candidates) + len(unasked) >= room:
                capped = True
                break
            if key in ready and self._needs_cache_answer(key):
                unasked.append(key)
            else:
                candidates.append(key)
        if unasked:
            self._emit(LookUpCache(tuple(unasked)))
            return "asked"
        if not self._acquire(candidates):
            return "asked"
        self._start_attempts([key for key in candidates if key not in self._refused], reason=None)
        return "capped" if capped else "started"

    def _start_orphans(self) -> bool:
        """Start a new attempt of each orphan that has its slots; False if slots were asked."""
        orphans = [key for key in self._orphans if key not in self._refused]
        if not self._acquire(orphans):
            return False
        starting = [key for key in orphans if key not in self._refused]
        for key in starting:
            del self._orphans[key]
        self._start_attempts(starting, reason="orphaned")
        return True

    def _needs_cache_answer(self, key: str) -> bool:
        return self._has_cache and key not in self._cache_notes and self._policy(key).is_cacheable

    def _acquire(self, keys: list[str]) -> bool:
        """Ask for the slots of the keys that need them; False if a question went out."""
        if not self._has_limits:
            return True
        asking = tuple(
            (key, tags) for key in keys if (tags := self._policy(key).tags) and key not in self._holding
        )
        if asking:
            self._emit(AcquireSlots(asking))
            return False
        return True

    def _start_attempts(self, keys: list[str], reason: str | None) -> None:
        if not keys:
            return
        for key in keys:
            payload: dict[str, Any] = {"attempt": self.task(key).attempts + 1}
            if reason is not None:
                payload["reason"] = reason
            payload.update(self._cache_notes.get(key, {}))
            self._record(key, EventType.TASK_RUNNING, payload)
        self._in_flight.update(keys)
        self._started_in_round += len(keys)
        self._emit(Submit(tuple(keys)))

    def _wake_time(self, retry_due: Mapping[str, datetime]) -> datetime | None:
        """When to decide again if no attempt ends before."""
        if self._has_more_ready:
            return self._now
        view = self._folder.live_view()
        times = [
            when
            for key, when in retry_due.items()
            if key not in self._refused and self.task(key).state is TaskState.RETRYING
        ]
        if self._refused:
            times.append(self._now + timedelta(seconds=SLOT_POLL_SECONDS))
        if view.timeout is not None and view.started_at is not None:
            times.append(view.started_at + timedelta(seconds=view.timeout))
        if not times and not self._in_flight:
            raise AssertionError(f"run {self.run_id}: nothing running and nothing to wait for")
        return min(times) if times else None

    # -- answers ------------------------------------------------------------------

    def _cache_answered(self, answered: CacheAnswered) -> None:
        for key, answer in answered.answers.items():
            if isinstance(answer, CacheHit):
                payload = {
                    "cache_key": answer.cache_key,
                    "result": dict(answer.result),
                    "source_run": answer.source_run,
                    "source_task": answer.source_task,
                }
                self._record(key, EventType.TASK_CACHED, payload)
            elif isinstance(answer, CacheMiss):
                self._cache_notes[key] = {"cache_key": answer.cache_key}
            elif answer.reason is not None:
                self._cache_notes[key] = {"cache": answer.reason}
            else:
                self._cache_notes[key] = {}

    def _slots_answered(self, answered: SlotsAnswered) -> None:
        self._holding.update(answered.granted)
        self._refused.update(key for key in self._slots_asked if key not in answered.granted)
        self._slots_asked = ()

    def _map_measured(self, measured: MapMeasured) -> None:
        if measured.error is not None:
            payload = {"attempt": 0, "error": dict(measured.error)}
            self._record(measured.task_key, EventType.TASK_FAILED, payload)
        else:
            self._record(measured.task_key, EventType.TASK_MAPPED, {"count": measured.count or 0})

    def _attempt_ended(self, ended: AttemptEnded) -> None:
        key = ended.task_key
        current = self.task(key)
        if current.state is not TaskState.RUNNING or current.attempts != ended.attempt:
            self._emit(IgnoreOutcome(key, ended.attempt))
            return
        self._in_flight.discard(key)
        policy = self._policy(key)
        type_, payload = ending_event(ended, policy, self._now, self._cancel_reason)
        notes = self._cache_notes.get(key, {})
        if type_ is not EventType.TASK_RETRYING:
            self._cache_notes.pop(key, None)
        cache_key = notes.get("cache_key")
        if cache_key is not None and type_ is EventType.TASK_SUCCEEDED:
            payload["cache_key"] = cache_key
            if policy.cache_expiration is not None:
                expires = self._now + timedelta(seconds=policy.cache_expiration)
                payload["cache_expires_at"] = expires.isoformat(timespec="microseconds")
        self._record(key, type_, payload)

    # -- ending -------------------------------------------------------------------

    def _cancel_due(self, view: RunView) -> Mapping[str, Any] | None:
        if view.cancel_request is not None:
            return view.cancel_request  # a resumed run goes on cancelling
        started, timeout = view.started_at, view.timeout
        if timeout is not None and started is not None and (self._now - started).total_seconds() >= timeout:
            return timeout_request(view, self._owner)
        return self._cancel_asked

    def _begin_cancel(self, request: Mapping[str, Any], view: RunView) -> None:
        self._cancel_reason = reason_of(request)
        if view.cancel_request is None:
            self._record(None, EventType.RUN_CANCEL_REQUESTED, dict(request))
        self._phase = "cancelling"
        self._emit(StopWork())

    def _close_cancelled(self) -> None:
        """The work has stopped: what did not finish is cancelled, and so is the run."""
        reason = self._cancel_reason or "cancelled"
        for key, type_, payload in closing_events(self._folder.live_view(), reason):
            self._record(key, type_, payload)
        self._in_flight.clear()
        self._end(RunState.CANCELLED)

    def _hand_back(self, handing: HandBack) -> None:
        """Let go of a run still RUNNING (also while cancelling: the next driver goes on
        cancelling it); a run whose end is recorded settles its hooks first."""
        if self._phase not in ("running", "cancelling"):
            return
        self._record(None, EventType.RUN_HANDED_BACK, {"reason": handing.reason, "owner": self._owner})
        self._in_flight.clear()
        self._phase = "finished"
        self._emit(Finished(RunState.RUNNING))

    def _finish(self) -> None:
        tasks = self._folder.live_view().tasks.values()
        failed = [t.key for t in tasks if t.state in _ENDED_RUNNING]
        cancelled = [t.key for t in tasks if t.state is TaskState.CANCELLED]
        if failed:
            reason = f"{len(failed)} task(s) did not succeed, first {failed[0]!r}"
            self._record(None, EventType.RUN_FAILED, {"reason": reason, "failed": failed[:100]})
            state = RunState.FAILED
        elif cancelled:
            self._record(None, EventType.RUN_CANCELLED, {"reason": "tasks were cancelled"})
            state = RunState.CANCELLED
        else:
            self._record(None, EventType.RUN_SUCCEEDED, {})
            state = RunState.SUCCEEDED
        self._end(state)

    def _end(self, state: RunState) -> None:
        """The run's end is recorded: settle its hooks, then finish."""
        self._phase = "ending"
        self._end_state = state

    def _settle(self) -> None:
        """Finish once every delivery the log owes is recorded; until then write and wait."""
        if self._delivering or self._outbox:
            self._emit(WakeAt(None))
            return
        self._phase = "finished"
        self._emit(Finished(self._end_state))
