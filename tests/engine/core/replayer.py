"""Replay a recorded run through today's machine, as Temporal's replayer does.

Each drive of the run (from one ``run.running`` to the next) gets a machine built from the
log before it. What the drive was told is rebuilt from what it recorded: ``Started`` from
``run.running`` and the ``task.pending`` it re-opened; cache answers from ``task.cached``
and the cache notes of ``task.running``; map lengths from ``task.mapped``; an
``AttemptEnded`` from each recorded end of an attempt in flight; a cancel request, hook
deliveries, the stop of the work and a hand-back from their records; time from the recorded times and
due times. The events the machine hands out are returned, to be compared with the log.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ledgerflow.engine.core.commands import (
    AcquireSlots,
    Append,
    Command,
    Finished,
    LookUpCache,
    MeasureMaps,
    StopWork,
    Submit,
)
from ledgerflow.engine.core.events import HOOK_RECORDS, Event, NewEvent
from ledgerflow.engine.core.machine import RunMachine
from ledgerflow.engine.core.machine_state import SLOT_POLL_SECONDS
from ledgerflow.engine.core.policy import TaskPolicy
from ledgerflow.engine.core.stimuli import (
    AttemptEnded,
    CacheAnswer,
    CacheAnswered,
    CacheHit,
    CacheMiss,
    CancelRequested,
    HandBack,
    HookDelivered,
    MapMeasured,
    NotCached,
    NotSubmitted,
    SlotsAnswered,
    Started,
    Stimulus,
    TimePassed,
    WorkStopped,
)

from .machines import machine_from

Recorded = tuple[str | None, str, dict[str, Any]]
"""What a replay compares of an event: task key, type and payload (not seq, time or hash)."""
_ATTEMPT_ENDS = {"task.succeeded", "task.failed", "task.retrying", "task.skipped", "task.cancelled"}
_CLOSING = {"task.cancelled", "run.cancelled"}
GROUP_COMMIT_WINDOW = 0.005
"""Attempt ends this close in time were told to the machine at once (drives used to wait up
to 5 ms after an outcome for more, as the golden logs show; today they take what is done)."""


def recorded(events: Sequence[Event | NewEvent]) -> list[Recorded]:
    """The parts of events a replay compares."""
    return [(event.task_key, event.type, dict(event.payload)) for event in events]


def replay(
    events: Sequence[Event],
    policies: Mapping[str, TaskPolicy],
    **options: Any,
) -> list[NewEvent]:
    """The events today's machine hands out when told what the log's drives were told
    (``options``: the machine's, as ``RunMachine`` takes them)."""
    starts = [index for index, event in enumerate(events) if event.type == "run.running"]
    handed_out: list[NewEvent] = []
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(events)
        machine = machine_from(events[:start], policies, **options)
        handed_out += _Drive(machine, events[start:end]).run()
    return handed_out


@dataclass
class _Drive:
    """One drive of the run: feeds the machine what its recorded events tell."""

    machine: RunMachine
    log: Sequence[Event]
    out: list[NewEvent] = field(default_factory=list)
    in_flight: set[str] = field(default_factory=set)
    is_stopping: bool = False
    is_cut_short: bool = False  # the drive died before it recorded the answer to a question

    def run(self) -> list[NewEvent]:
        first = self.log[0]
        reason = first.payload.get("reason")  # the machine decides other re-openings itself
        reopen = tuple(
            e.task_key
            for e in self.log[1:]
            if e.type == "task.pending" and e.task_key is not None and e.payload.get("reason") == reason
        )
        start = Started(str(first.payload.get("owner", "")), str(first.payload.get("reason", "")), reopen)
        stimuli: list[Stimulus] = [start]
        now, idle = first.ts, 0
        while stimuli and idle < 3 and not self.is_cut_short:  # idle: the machine no longer follows the log
            before = len(self.out)
            for _ in range(100):  # answers are fed back at once, as the runtime does
                answers = self._carry_out(self.machine.handle(stimuli, now), now)
                if not answers or self.is_cut_short:
                    break
                stimuli = answers
            else:
                raise AssertionError(f"the machine keeps asking at event {len(self.out)} of the drive")
            idle = 0 if len(self.out) > before else idle + 1
            stimuli, now = self._next(now)
        return self.out

    def _carry_out(self, commands: list[Command], now: datetime) -> list[Stimulus]:
        answers: list[Stimulus] = []
        for command in commands:
            match command:
                case Append():
                    self.out += command.events
                case LookUpCache():
                    answers.append(CacheAnswered({key: self._cache_answer(key) for key in command.task_keys}))
                case AcquireSlots():
                    answers.append(SlotsAnswered(self._granted([key for key, _ in command.tasks], now)))
                case MeasureMaps():
                    answers += [measured for key in command.task_keys if (measured := self._measured(key))]
                case Submit():
                    self.in_flight.update(command.task_keys)
                case StopWork():
                    self.is_stopping = True
                case Finished():
                    self.in_flight.clear()
        return answers

    def _ahead(self) -> Sequence[Event]:
        return self.log[len(self.out) :]

    def _next_of(self, key: str) -> Event | None:
        """The next recorded event of the task in this drive, if any."""
        return next((event for event in self._ahead() if event.task_key == key), None)

    def _cache_answer(self, key: str) -> CacheAnswer:
        """What the drive recorded of the task's cache answer (none: it did not start it)."""
        event = self._next_of(key)
        if event is None:
            return NotCached()
        payload = event.payload
        if event.type == "task.cached":
            return CacheHit(
                payload["cache_key"], payload["result"], payload["source_run"], payload["source_task"]
            )
        if "cache_key" in payload:
            return CacheMiss(payload["cache_key"])
        return NotCached(payload.get("cache"))

    def _granted(self, asked: Sequence[str], now: datetime) -> frozenset[str]:
        """The asked tasks that start in this round. The machine starts the granted ones in
        the order it asked for them, before the next end of an attempt and before it asks
        again for a refused slot: a start out of that order belongs to a later round."""
        granted: list[str] = []
        for event in self._ahead():
            if _is_another_round(event) or event.ts >= now + timedelta(seconds=SLOT_POLL_SECONDS):
                break
            key = event.task_key
            if event.type != "task.running" or key not in asked or key in granted:
                continue
            if granted and asked.index(key) < asked.index(granted[-1]):
                break
            granted.append(key)
        return frozenset(granted)

    def _measured(self, key: str) -> MapMeasured | None:
        """What the drive recorded of the map's length (none: it died before it wrote it)."""
        event = self._next_of(key)
        if event is None:
            self.is_cut_short = True
            return None
        if event.type == "task.mapped":
            return MapMeasured(key, count=event.payload["count"])
        return MapMeasured(key, error=event.payload["error"])

    def _is_attempt_end(self, event: Event) -> bool:
        key = event.task_key
        return (
            key in self.in_flight
            and event.type in _ATTEMPT_ENDS
            and key is not None
            and event.payload.get("attempt") == self.machine.task(key).attempts
        )

    def _next(self, now: datetime) -> tuple[list[Stimulus], datetime]:
        """What the drive was told next, and when: nothing once its log is replayed."""
        ahead = self._ahead()
        if not ahead:
            return [], now
        event = ahead[0]
        if self._is_attempt_end(event):
            ends = []  # the outcomes taken together: consecutive, within the group-commit window
            for later in ahead:
                if not self._is_attempt_end(later) or later.task_key in {e.task_key for e in ends}:
                    break
                if later.ts - event.ts > timedelta(seconds=GROUP_COMMIT_WINDOW):
                    break
                ends.append(later)
            stimuli: list[Stimulus] = [self._ended(end) for end in ends]
            return [*stimuli, TimePassed()], _decided_at(ends)
        if event.type == "run.cancel_requested" and event.payload.get("reason") != "timeout":
            return [CancelRequested(event.payload)], event.ts
        if event.type in HOOK_RECORDS:
            return [HookDelivered(event.type, event.payload)], event.ts
        if event.type == "run.handed_back":
            return [HandBack(str(event.payload["reason"]))], event.ts
        if self.is_stopping and event.type in _CLOSING:
            return [WorkStopped()], event.ts
        return [TimePassed()], max(now, event.ts)

    def _ended(self, event: Event) -> Stimulus:
        key = event.task_key
        assert key is not None
        payload = dict(event.payload)
        if event.type == "task.failed" and "duration" not in payload:
            self.in_flight.discard(key)
            return NotSubmitted(key, payload["error"])
        attempt = payload["attempt"]
        if event.type == "task.succeeded":
            for recorded_only in ("cache_key", "cache_expires_at"):
                payload.pop(recorded_only, None)
            return AttemptEnded(key, attempt, "SUCCEEDED", payload)
        if event.type == "task.skipped":
            return AttemptEnded(key, attempt, "SKIPPED", payload)
        if event.type == "task.retrying":
            infrastructure = bool(payload.pop("infrastructure", False))
            for decided in ("delay", "retry_at"):
                payload.pop(decided)
            return AttemptEnded(key, attempt, "FAILED", payload, not infrastructure, infrastructure)
        if event.type == "task.cancelled":
            payload.pop("reason")
            return AttemptEnded(key, attempt, "FAILED", payload, was_cancelled="error" not in payload)
        return AttemptEnded(key, attempt, "FAILED", payload)


def _is_another_round(event: Event) -> bool:
    """Whether the event records an attempt's end (or a submission that failed): the machine
    hands it out only when told, so in a later round than the question asked before it."""
    payload = event.payload
    return event.type in _ATTEMPT_ENDS and ("duration" in payload or payload.get("attempt", 0) > 0)


def _decided_at(ends: list[Event]) -> datetime:
    """When the machine took these ends in: a retry records it (its due time less its delay)."""
    for end in ends:
        if end.type == "task.retrying":
            due = datetime.fromisoformat(end.payload["retry_at"])
            return due - timedelta(seconds=end.payload["delay"])
    return ends[0].ts
