"""The run state machine's memory and how it records: the fold of the log so far, what it
has asked for and not yet been answered, and the events and commands it hands out.

``RunMachine`` (``machine.py``) decides on top of it; every event it records is folded at
once, so the machine's view is always the fold of the log plus its own pending events.
"""

from collections.abc import Callable, Mapping
from typing import Any

from .cache_notes import CacheNotes
from .commands import AcquireSlots, Append, Command
from .events import Event, EventType, NewEvent
from .fold import Folder, RunView, TaskView
from .frontier import SETTLED_STATES
from .graph import Graph
from .hook_outbox import HookOutbox
from .policy import TaskPolicy
from .states import RunState

MAX_STARTS_PER_ROUND = 1000
"""At most this many tasks start per round: the first submissions happen early and a huge
frontier is written in several transactions rather than one."""
MAX_IN_FLIGHT = 5000
"""At most this many attempts are submitted and not yet ended: a huge map waits for its
attempts to end instead of submitting all of its children (bounded memory, here and in Dask)."""
SLOT_POLL_SECONDS = 0.5
"""While tasks wait for concurrency slots, look again this often: other drivers free them."""
_REORDERING = frozenset({EventType.TASK_PENDING, EventType.TASK_MAPPED})  # re-open, or add, tasks
_TASK_RUNNING = EventType.TASK_RUNNING
_new_event = tuple.__new__  # builds the named tuple without a Python-level __new__ call

Redaction = Callable[[Mapping[str, Any]], Mapping[str, Any]]


class MachineState:
    """One run's decision state, the recording of events and the hand-out of commands."""

    def __init__(
        self,
        view: RunView,
        policies: Mapping[str, TaskPolicy],
        *,
        graph: Graph | None = None,
        has_cache: bool = False,
        has_limits: bool = False,
        redact: Redaction | None = None,
        outbox: HookOutbox | None = None,
        cache_notes: CacheNotes | None = None,
        max_starts_per_round: int | None = None,
        max_in_flight: int | None = None,
    ) -> None:
        """``view``: the run as its log folds; ``policies``: each graph node's policy;
        ``graph``: the graph to drive (default the recorded one); ``has_cache`` /
        ``has_limits``: whether a cache index and concurrency limits exist to ask;
        ``redact``: applied to every payload before it is folded and handed out; ``outbox``:
        the hook deliveries the log owes so far (the machine adds its own events);
        ``cache_notes``: the cache keys the log records for open attempts; the caps
        default to ``MAX_STARTS_PER_ROUND`` and ``MAX_IN_FLIGHT``."""
        self.run_id = view.run_id
        self._folder = Folder(view)
        self._graph = graph if graph is not None else view.graph
        self._policies = policies
        self._has_cache = has_cache
        self._has_limits = has_limits
        self._redact = redact
        self._outbox = outbox
        self._delivering: set[tuple[int, str]] = set()  # deliveries handed out, not yet recorded
        self._max_starts = max_starts_per_round or MAX_STARTS_PER_ROUND
        self._max_in_flight = max_in_flight or MAX_IN_FLIGHT
        self._now = view.updated_at
        self._seq = view.seq
        self._owner = view.owner or ""
        self._out: list[Command] = []
        self._events: list[NewEvent] = []
        self._in_flight: set[str] = set()  # attempts submitted and not yet ended
        self._orphans: dict[str, None] = {}  # RUNNING in the log but not run here (log order)
        self._cache_notes: CacheNotes = dict(cache_notes or {})  # looked up: the key, or why none
        self._holding: set[str] = set()  # tasks holding their slots
        self._due_back: list[str] = []  # ended tasks whose slots go back once written
        self._refused: set[str] = set()  # tasks refused slots in this round
        self._slots_asked: tuple[str, ...] = ()  # the tasks of the AcquireSlots not yet answered
        self._slots_freed = False  # slots went back while tasks wait for some: ask again
        self._started_in_round = 0
        self._has_more_ready = False
        self._cancel_reason: str | None = None
        self._cancel_asked: Mapping[str, Any] | None = None
        self._end_state = RunState.SUCCEEDED
        self._phase = "idle"  # idle -> running (-> cancelling) -> ending -> finished; handed back: finished
        # The keys of the tasks not settled, in the log's order (None: to be read from the fold)
        self._unsettled: dict[str, None] | None = None

    # -- what the runtime reads ---------------------------------------------------

    def view(self) -> RunView:
        """An immutable snapshot of the run as the machine has folded it."""
        return self._folder.view()

    def live_view(self) -> RunView:
        """The current state without copying (valid until the next ``handle``)."""
        return self._folder.live_view()

    def task(self, key: str) -> TaskView:
        """One task's current state."""
        return self._folder.task(key)

    @property
    def in_flight(self) -> int:
        """How many attempts are submitted and not yet ended."""
        return len(self._in_flight)

    @property
    def is_finished(self) -> bool:
        """True once the run has ended (``Finished`` was handed out)."""
        return self._phase == "finished"

    # -- recording ----------------------------------------------------------------

    def _policy(self, key: str) -> TaskPolicy:
        parent = self._folder.task(key).parent
        return self._policies[parent if parent is not None else key]

    def _record(self, task_key: str | None, type_: EventType, payload: Mapping[str, Any]) -> None:
        """Fold an event at once and hand it out with the next commands."""
        if self._redact is not None:
            payload = self._redact(payload)
        if task_key is not None:
            if type_ is not _TASK_RUNNING and task_key in self._holding:
                self._holding.discard(task_key)
                self._due_back.append(task_key)
            if self._orphans:
                self._orphans.pop(task_key, None)
        self._seq += 1
        kind, now = type_.value, self._now
        event = _new_event(Event, (self.run_id, self._seq, task_key, kind, payload, now, "", ""))
        self._folder.apply(event)
        if task_key is not None and self._unsettled is not None:
            if type_ in _REORDERING:  # tasks come back or come in: read them again when needed
                self._unsettled = None
            elif self._folder.task(task_key).state in SETTLED_STATES:
                self._unsettled.pop(task_key, None)
        if self._outbox is not None and self._outbox.has_hooks:
            self._outbox.add((event,))
        self._events.append(NewEvent(task_key, kind, payload, now))

    def _unsettled_keys(self) -> dict[str, None]:
        """The keys of the tasks not settled, in the log's order (what the frontier looks at)."""
        if self._unsettled is None:
            tasks = self._folder.live_view().tasks
            self._unsettled = {key: None for key, task in tasks.items() if task.state not in SETTLED_STATES}
        return self._unsettled

    def _emit(self, command: Command) -> None:
        if self._events:
            self._out.append(Append(tuple(self._events)))
            self._events = []
        if isinstance(command, AcquireSlots):
            self._slots_asked = tuple(key for key, _ in command.tasks)
        self._out.append(command)

    def _flush_out(self) -> list[Command]:
        if self._events:
            self._out.append(Append(tuple(self._events)))
            self._events = []
        out, self._out = self._out, []
        return out
