"""Random runs for properties: a graph and task policies drawn by Hypothesis, and a runtime
without I/O that answers the machine's questions and ends its attempts at random."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from ledgerflow.engine.core.commands import (
    AcquireSlots,
    Append,
    Command,
    Finished,
    LookUpCache,
    MeasureMaps,
    StopWork,
    Submit,
    WakeAt,
)
from ledgerflow.engine.core.events import Event
from ledgerflow.engine.core.fold import fold
from ledgerflow.engine.core.graph import Graph, TaskNode, Trigger
from ledgerflow.engine.core.machine import RunMachine
from ledgerflow.engine.core.policy import TaskPolicy
from ledgerflow.engine.core.restart import has_nothing_to_restart, tasks_to_reopen
from ledgerflow.engine.core.states import RunState
from ledgerflow.engine.core.stimuli import (
    AttemptEnded,
    CacheAnswer,
    CacheAnswered,
    CacheHit,
    CacheMiss,
    CancelRequested,
    MapMeasured,
    NotCached,
    NotSubmitted,
    SlotsAnswered,
    Started,
    Stimulus,
    TimePassed,
    WorkStopped,
    Written,
)
from ledgerflow.engine.retry import RetryPolicy

from ..builders import LogBuilder
from .machines import NOW, OWNER, START, failure, machine_from, skip, success

MAX_ROUNDS = 400
"""A drive that has not finished after this many rounds is stuck."""


@st.composite
def graphs(draw: st.DrawFn) -> Graph:
    """A DAG of up to six tasks: random upstreams and triggers, some of them dynamic maps."""
    nodes: list[TaskNode] = []
    for index in range(draw(st.integers(1, 6))):
        keys = [node.key for node in nodes]
        upstream = tuple(draw(st.lists(st.sampled_from(keys), unique=True, max_size=3))) if keys else ()
        trigger = draw(st.sampled_from(Trigger))
        is_map = bool(upstream) and draw(st.integers(0, 3)) == 0
        nodes.append(TaskNode(f"t{index}", f"t{index}", upstream, trigger, upstream[:1] if is_map else None))
    return Graph(nodes={node.key: node for node in nodes})


@st.composite
def policies(draw: st.DrawFn) -> TaskPolicy:
    """A task's retries, tags and caching."""
    retry = RetryPolicy(retries=draw(st.integers(0, 2)), delay=draw(st.sampled_from([0.0, 1.0, 5.0])))
    return TaskPolicy(
        retry=retry,
        tags=draw(st.sampled_from([(), ("db",), ("db", "gpu")])),
        is_cacheable=draw(st.booleans()),
        cache_expiration=draw(st.sampled_from([None, 60.0])),
    )


@st.composite
def machine_options(draw: st.DrawFn) -> dict[str, Any]:
    """Whether there is a cache and limits to ask, and the caps."""
    return {
        "has_cache": draw(st.booleans()),
        "has_limits": draw(st.booleans()),
        "max_starts_per_round": draw(st.sampled_from([None, 1, 2])),
        "max_in_flight": draw(st.sampled_from([None, 1, 3])),
    }


@dataclass
class Simulation:
    """Drives a fresh run of ``graph`` to its end, checking after every ``handle`` that the
    machine's view is the fold of the log it began from and the events it handed out."""

    graph: Graph
    task_policies: dict[str, TaskPolicy]
    options: dict[str, Any]
    data: st.DataObject
    has_stale_outcomes: bool = True  # outcomes of earlier attempts: they leave no trace in the log
    log: list[Event] = field(default_factory=list)
    now: datetime = NOW
    wake: datetime | None = None
    in_flight: set[str] = field(default_factory=set)
    is_stopping: bool = False
    finished: RunState | None = None
    unwritten: bool = False

    def run(self) -> RunMachine:
        """Drive the run until it finished (its driver may die and another resume it, and a
        finished run may be restarted once); the machine of the last drive."""
        self.log = list(LogBuilder(self.graph).events)
        machine, stimuli = self._machine(), [START]
        crashes = restarts = 0
        for _ in range(MAX_ROUNDS):
            self._feed(machine, stimuli)
            draw = self.data.draw
            if self.finished is not None:
                reopen = self._reopen() if restarts == 0 else None
                if reopen is None:
                    return machine
                restarts += 1
                machine, stimuli = self._machine(), [Started(OWNER, "restart", reopen)]
            elif crashes < 2 and draw(st.integers(0, 40), label="the driver dies") == 0:
                crashes += 1
                machine, stimuli = self._machine(), [Started(OWNER, "resume")]
            else:
                stimuli = self._next(machine)
        raise AssertionError(f"the run did not end in {MAX_ROUNDS} rounds: {machine.view().tasks}")

    def _machine(self) -> RunMachine:
        """A new driver's machine, from the log as it is: what was in flight is lost."""
        self.in_flight, self.wake, self.is_stopping, self.finished = set(), None, False, None
        return machine_from(self.log, self.task_policies, **self.options)

    def _reopen(self) -> tuple[str, ...] | None:
        """The tasks a restart re-opens, or None if the run is not restarted."""
        view = fold(self.log)
        from_task = self.data.draw(st.sampled_from([None, *view.tasks]), label="restart from")
        if not self.data.draw(st.booleans(), label="restart") or has_nothing_to_restart(
            self.graph, view, from_task
        ):
            return None
        return tuple(tasks_to_reopen(self.graph, view, from_task))

    def _feed(self, machine: RunMachine, stimuli: list[Stimulus]) -> None:
        while stimuli:
            commands = machine.handle(stimuli, self.now)
            stimuli = self._carry_out(machine, commands)
            assert machine.view() == fold(self.log), "the machine's state is not the fold of its events"

    def _carry_out(self, machine: RunMachine, commands: list[Command]) -> list[Stimulus]:
        answers: list[Stimulus] = []
        for command in commands:
            match command:
                case Append():
                    for new in command.events:
                        seq = len(self.log) + 1
                        assert new.ts is not None
                        self.log.append(
                            Event(machine.run_id, seq, new.task_key, new.type, new.payload, new.ts, "", "")
                        )
                    self.unwritten = True
                case LookUpCache():
                    answers.append(CacheAnswered({key: self._cache_answer(key) for key in command.task_keys}))
                case AcquireSlots():
                    granted = [
                        key for key, _ in command.tasks if self.data.draw(st.booleans(), label="granted")
                    ]
                    answers.append(SlotsAnswered(frozenset(granted)))
                case MeasureMaps():
                    answers += [self._measured(key) for key in command.task_keys]
                case Submit():
                    self.in_flight.update(command.task_keys)
                case StopWork():
                    self.is_stopping = True
                case WakeAt():
                    self.wake = command.when
                case Finished():
                    self.finished = command.state
        if self.unwritten and not answers:  # the round ends: its events are written
            self.unwritten = False
            answers.append(Written(""))
        return answers

    def _cache_answer(self, key: str) -> CacheAnswer:
        choice = self.data.draw(st.sampled_from(["hit", "miss", "no key", "not looked up"]), label=key)
        if choice == "hit":
            return CacheHit(f"key-{key}", {"inline": 1}, "run-0", key)
        if choice == "miss":
            return CacheMiss(f"key-{key}")
        return NotCached("not cached: no key" if choice == "no key" else None)

    def _measured(self, key: str) -> MapMeasured:
        count = self.data.draw(st.integers(-1, 3), label=f"{key} length")
        if count < 0:
            return MapMeasured(key, error={"type": "ValueError", "message": "not a list", "traceback": ""})
        return MapMeasured(key, count=count)

    def _next(self, machine: RunMachine) -> list[Stimulus]:
        """What happens next: attempts end, time passes, the run is cancelled or its work stops."""
        draw = self.data.draw
        if self.is_stopping and (not self.in_flight or draw(st.booleans(), label="work stopped")):
            return [WorkStopped()]
        if not self.is_stopping and draw(st.integers(0, 60), label="cancel") == 0:
            return [CancelRequested({"reason": "user", "requested_by": "someone"})]
        if self.in_flight and (self.wake is None or self.is_stopping or draw(st.booleans(), label="an end")):
            keys = draw(
                st.lists(st.sampled_from(sorted(self.in_flight)), min_size=1, unique=True), label="ended"
            )
            self.now += timedelta(seconds=draw(st.sampled_from([0.0, 0.5, 2.0]), label="later"))
            return [*[self._ended(machine, key) for key in keys], TimePassed()]
        assert self.wake is not None, "nothing in flight and no wake-up time: the machine waits for nothing"
        self.now = max(self.now, self.wake)
        return [TimePassed()]

    def _ended(self, machine: RunMachine, key: str) -> Stimulus:
        attempt = machine.task(key).attempts
        kinds = ["ok", "ok", "ok", "error", "retryable", "infrastructure", "skip", "cancelled", "unfed"]
        kind = self.data.draw(
            st.sampled_from(kinds + ["stale"] * self.has_stale_outcomes), label=f"{key} ended"
        )
        if kind == "stale":
            return success(key, attempt - 1)
        self.in_flight.discard(key)
        if kind == "unfed":
            return NotSubmitted(key, {"type": "ResultRefused", "message": "not loadable", "traceback": ""})
        ended: AttemptEnded = {
            "ok": success(key, attempt, value=attempt),
            "error": failure(key, attempt),
            "retryable": failure(key, attempt, is_retryable=True),
            "infrastructure": failure(key, attempt, infrastructure=True),
            "skip": skip(key, attempt),
            "cancelled": failure(key, attempt, was_cancelled=True),
        }[kind]
        return ended
