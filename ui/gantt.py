"""The timeline of a run for the Run page: one row per task, one per map, in one pass.

Pure: a run's events in, rows of positioned segments out (``templates/_gantt.html``
draws them). A task's row has one segment per attempt: from its body's start to its end, where
it ran, as its ending event records them (else, and while it runs, from its ``task.running``
to the event that ended it); a map's row one segment spanning its children, coloured like the
map's group in the graph.
"""

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from ..engine.core.events import Event, EventType
from ..engine.core.states import TaskState
from .dag import group_state, times
from .tasks import parent_of

ROW_HEIGHT = 20.0
AXIS_HEIGHT = 24.0  # the band above the rows where tick labels go
BOTTOM = 8.0
RIGHT_MARGIN = 16.0
MIN_PLOT_WIDTH = 100.0
MIN_SEGMENT = 1.0  # the narrowest segment drawn, in pixels
MARKER = 3.0  # the width of the mark of a task that ended without running (e.g. CACHED)
CHAR_WIDTH = 7.0  # the width of a label character, to size the label column
MAX_LABEL = 32
MAX_ROWS = 300
TICKS = 6
_TICK_STEPS = (
    0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30,
    60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
)  # fmt: skip

_S = TaskState
# The state an attempt ended in, by the type of the event that ended it.
_OUTCOMES: Mapping[str, str] = {
    EventType.TASK_SUCCEEDED: _S.SUCCEEDED.value, EventType.TASK_FAILED: _S.FAILED.value,
    EventType.TASK_RETRYING: _S.RETRYING.value, EventType.TASK_CANCELLED: _S.CANCELLED.value,
    EventType.TASK_SKIPPED: _S.SKIPPED.value,
}  # fmt: skip
# Those, and the events that end a task that did not run (drawn as a mark).
_ENDINGS: Mapping[str, str] = {
    **_OUTCOMES, EventType.TASK_CACHED: _S.CACHED.value,
    EventType.TASK_UPSTREAM_FAILED: _S.UPSTREAM_FAILED.value,
}  # fmt: skip
_STATES: Mapping[str, str] = {  # the state each task event enters
    **_ENDINGS, EventType.TASK_RUNNING: _S.RUNNING.value, EventType.TASK_PENDING: _S.PENDING.value,
    EventType.TASK_MAPPED: _S.MAPPED.value,
}  # fmt: skip
_LIVE_RUN_EVENTS = frozenset({EventType.RUN_RUNNING})
_RUN_STATE_EVENTS = frozenset(
    {*_LIVE_RUN_EVENTS, EventType.RUN_SUCCEEDED, EventType.RUN_FAILED, EventType.RUN_CANCELLED,
     EventType.RUN_CRASHED}
)  # fmt: skip
_OUTCOME_WORDS = {_S.RETRYING.value: "failed, retried", _S.RUNNING.value: "running"}


@dataclass(frozen=True, slots=True)
class GanttSegment:
    """An attempt (or a map's span, or a marker) on a row; ``title`` is its tooltip."""

    x: float
    width: float
    state: str
    attempt: int
    title: str


@dataclass(frozen=True, slots=True)
class GanttRow:
    """A task or a map (``is_group``) and its segments; ``y`` is the row's top."""

    key: str
    label: str
    is_group: bool
    y: float
    segments: list[GanttSegment]


@dataclass(frozen=True, slots=True)
class Gantt:
    """The rows, the drawing's size, the time axis ticks and the width of the label column."""

    rows: list[GanttRow]
    width: float
    height: float
    ticks: list[tuple[float, str]]
    label_width: float
    note: str | None

    @property
    def row_height(self) -> float:
        """The height of each row."""
        return ROW_HEIGHT

    @property
    def axis_height(self) -> float:
        """The height of the tick labels' band above the first row."""
        return AXIS_HEIGHT


@dataclass(slots=True)
class _Span:
    """An attempt from its start to its end (None while it runs), or a mark if it did not run."""

    start: datetime
    end: datetime | None
    state: str
    attempt: int
    ran: bool = True
    detail: str = ""


@dataclass(slots=True)
class _TaskRow:
    key: str
    first: datetime  # its first start, or its first event until it starts
    started: bool = False
    spans: list[_Span] = field(default_factory=list)


@dataclass(slots=True)
class _MapRow:
    key: str
    first: datetime  # its children's first start, else their first event, else its own
    size: int = 0  # children known from the graph or from task.mapped
    first_start: datetime | None = None
    first_event: datetime | None = None  # of its children
    last_end: datetime | None = None
    own_state: str | None = None  # a dynamic map's own node: its state and when it entered it
    own_at: datetime | None = None
    children: dict[str, str] = field(default_factory=dict)  # child key -> state


class _Scan:
    """Reads a run's events once, keeping what the rows need."""

    def __init__(self) -> None:
        self.start: datetime | None = None
        self.last: datetime | None = None
        self.live = True
        self.dynamic_maps: set[str] = set()
        self.static_sizes: Counter[str] = Counter()
        self.parents: dict[str, str | None] = {}
        self.tasks: dict[str, _TaskRow] = {}
        self.maps: dict[str, _MapRow] = {}

    def read(self, events: Iterable[Event]) -> None:
        """Take in the events, in log order."""
        parents, tasks, maps = self.parents, self.tasks, self.maps
        for event in events:  # the hot loop: about two events per task
            key = event.task_key
            self.last = event.ts
            if key is None:
                self._run_event(event)
                continue
            if key in parents:
                parent = parents[key]
            else:
                parent = parents[key] = parent_of(key) if key.endswith("]") else None
            if parent is not None:
                _child_event(maps.get(parent) or self._map_row(parent, event.ts), key, event)
            elif key in self.dynamic_maps:
                _map_event(maps.get(key) or self._map_row(key, event.ts), event)
            else:
                row = tasks.get(key)
                if row is None:
                    row = tasks[key] = _TaskRow(key, event.ts)
                _task_event(row, event)

    def rows(self) -> list[_TaskRow | _MapRow]:
        """Every row, in order of first start."""
        rows: list[_TaskRow | _MapRow] = [*self.tasks.values(), *self.maps.values()]
        return sorted(rows, key=lambda row: row.first)

    def _run_event(self, event: Event) -> None:
        if event.type == EventType.RUN_CREATED:
            self.start = event.ts
            self._read_graph(event.payload.get("graph") or {})
        elif event.type in _RUN_STATE_EVENTS:
            self.live = event.type in _LIVE_RUN_EVENTS

    def _read_graph(self, graph: Mapping[str, Iterable[Mapping[str, object]]]) -> None:
        """Note the dynamic maps, and the children of static maps."""
        for node in graph.get("nodes", ()):
            key = str(node["key"])
            if node.get("map_over") is not None:
                self.dynamic_maps.add(key)
            parent = self.parents[key] = parent_of(key) if key.endswith("]") else None
            if parent is not None:
                self.static_sizes[parent] += 1

    def _map_row(self, key: str, first: datetime) -> _MapRow:
        row = self.maps[key] = _MapRow(key, first, size=self.static_sizes[key])
        return row


def _task_event(row: _TaskRow, event: Event) -> None:
    """An attempt starts or ends, or the task ends without running (a mark)."""
    open_span = row.spans[-1] if row.spans and row.spans[-1].end is None else None
    if event.type == EventType.TASK_RUNNING:
        if open_span is not None:  # its driver died: the attempt is run again
            open_span.end, open_span.state = event.ts, _S.RETRYING.value
            open_span.detail = "interrupted, run again"
        if not row.started:
            row.first, row.started = event.ts, True
        attempt = int(event.payload.get("attempt", len(row.spans) + 1))
        row.spans.append(_Span(event.ts, None, _S.RUNNING.value, attempt))
        return
    state = _ENDINGS.get(event.type)
    if state is None:
        return
    detail = _error_text(event.payload)
    if open_span is not None and event.type in _OUTCOMES:
        open_span.end, open_span.state, open_span.detail = event.ts, state, detail
        ran = _body_times(event.payload)
        if ran is not None:  # the body's own start and end
            open_span.start, open_span.end = ran
            if len(row.spans) == 1:
                row.first = ran[0]
    else:
        attempt = int(event.payload.get("attempt", 0))
        row.spans.append(_Span(event.ts, event.ts, state, attempt, ran=False, detail=detail))


def _child_event(row: _MapRow, key: str, event: Event) -> None:
    """A child's event widens the map's span and updates the child's state."""
    ts = event.ts
    if row.first_event is None:
        row.first_event = row.first = ts
    state = _STATES.get(event.type)
    if state is None:
        return
    row.children[key] = state
    if state == _S.RUNNING.value:
        if row.first_start is None:
            row.first_start = row.first = ts
    elif row.last_end is None or ts > row.last_end:
        row.last_end = ts


def _map_event(row: _MapRow, event: Event) -> None:
    """An event of a dynamic map's own node: its size, or how it ended without children."""
    state = _STATES.get(event.type)
    if state is not None:
        row.own_state, row.own_at = state, event.ts
    if event.type == EventType.TASK_MAPPED:
        row.size = int(event.payload.get("count", 0))


def _body_times(payload: Mapping[str, object]) -> tuple[datetime, datetime] | None:
    """When the ended attempt's body started and finished, if its ending event records it."""
    started, finished = payload.get("started_at"), payload.get("finished_at")
    if not isinstance(started, str) or not isinstance(finished, str):
        return None
    try:
        return datetime.fromisoformat(started), datetime.fromisoformat(finished)
    except ValueError:
        return None


def _error_text(payload: Mapping[str, object]) -> str:
    error = payload.get("error")
    if not isinstance(error, Mapping):
        return ""
    text = f"{error.get('type') or 'error'}: {error.get('message') or ''}".strip()
    return text if len(text) <= 200 else text[:199] + "…"


def gantt_of(events: Iterable[Event], now: datetime, width: float = 900) -> Gantt:
    """The timeline of a run from its events (one pass); ``now`` ends what still runs.

    Rows come in order of first start; a task with no event yet has no row. The time
    axis runs from the run's first event to its last (to ``now`` while the run is live).
    """
    scan = _Scan()
    scan.read(events)
    if scan.start is None or scan.last is None:
        return Gantt([], width, AXIS_HEIGHT + BOTTOM, [], 0.0, None)
    end = max(now, scan.last) if scan.live else scan.last
    ordered = scan.rows()
    shown = ordered[:MAX_ROWS]
    note = f"the first {MAX_ROWS} of {len(ordered):,} rows shown" if len(ordered) > MAX_ROWS else None
    labels = [_label(row) for row in shown]
    label_width = min(max(CHAR_WIDTH * max(map(len, labels), default=0) + 16, 80), 260)
    plot = max(width - label_width - RIGHT_MARGIN, MIN_PLOT_WIDTH)
    axis = _Axis(scan.start, max((end - scan.start).total_seconds(), 0.001), label_width, plot)
    rows = [
        GanttRow(row.key, label, isinstance(row, _MapRow), AXIS_HEIGHT + index * ROW_HEIGHT,
                 _segments(row, axis, end))
        for index, (row, label) in enumerate(zip(shown, labels, strict=True))
    ]  # fmt: skip
    height = AXIS_HEIGHT + len(rows) * ROW_HEIGHT + BOTTOM
    return Gantt(rows, label_width + plot + RIGHT_MARGIN, height, axis.ticks(), label_width, note)


def _label(row: _TaskRow | _MapRow) -> str:
    suffix = times(max(row.size, len(row.children))) if isinstance(row, _MapRow) else ""
    room = MAX_LABEL - len(suffix)
    return (row.key if len(row.key) <= room else row.key[: room - 1] + "…") + suffix


@dataclass(frozen=True, slots=True)
class _Axis:
    """Seconds since the run's first event, mapped to x."""

    start: datetime
    span: float  # seconds shown
    left: float
    plot: float  # its width in pixels

    def x(self, ts: datetime) -> float:
        return self.left + (ts - self.start).total_seconds() * self.plot / self.span

    def ticks(self) -> list[tuple[float, str]]:
        """About ``TICKS`` round times from zero, labelled in the unit of their step."""
        step = next((s for s in _TICK_STEPS if self.span / s <= TICKS), None)
        if step is None:  # beyond a day: whole days
            step = 86400 * -(-self.span // (86400 * TICKS))
        count = int(self.span / step + 1e-9) + 1
        return [
            (round(self.left + index * step * self.plot / self.span, 1), _tick_label(index * step, step))
            for index in range(count)
        ]


def _tick_label(seconds: float, step: float) -> str:
    """E.g. "+1.5 s", "+2 min": in the largest unit the step is a multiple of."""
    if seconds == 0:
        return "0"
    for unit, name in ((86400, "d"), (3600, "h"), (60, "min")):
        if step >= unit:
            return f"+{seconds / unit:g} {name}"
    return f"+{round(seconds, 2):g} s"


def _segments(row: _TaskRow | _MapRow, axis: _Axis, end: datetime) -> list[GanttSegment]:
    """A row's segments; ``end`` closes what still runs."""
    if isinstance(row, _TaskRow):
        return [_attempt(row.key, span, axis, end) for span in row.spans]
    return _map_segments(row, axis, end)


def _attempt(key: str, span: _Span, axis: _Axis, end: datetime) -> GanttSegment:
    if not span.ran:
        return _mark(f"{key}: {span.state.lower()}", span.start, span.state, span.attempt, axis, span.detail)
    stop = span.end or max(end, span.start)
    outcome = _OUTCOME_WORDS.get(span.state, span.state.lower())
    title = f"{key}, attempt {span.attempt}: {outcome}\n{_times(span.start, stop)}"
    if span.detail:
        title += f"\n{span.detail}"
    return _bar(span.start, stop, span.state, span.attempt, axis, title)


def _map_segments(row: _MapRow, axis: _Axis, end: datetime) -> list[GanttSegment]:
    """One segment over the children's time, coloured like the map's group in the graph."""
    counts = Counter(row.children.values())
    if row.size > len(row.children):
        counts[_S.PENDING.value] += row.size - len(row.children)
    begin = row.first_start or row.first_event
    if begin is None:  # no child has an event: the map's own state, if it has one
        if row.own_state is None or row.own_at is None:
            return []
        return [_mark(f"{row.key}: {row.own_state.lower()}", row.own_at, row.own_state, 0, axis)]
    running = counts[_S.RUNNING.value] or counts[_S.RETRYING.value]
    stop = end if running else max(row.last_end or begin, begin)
    summary = " · ".join(f"{count:,} {state.lower()}" for state, count in counts.most_common())
    title = f"{row.key}: {counts.total():,} tasks, {summary}\n{_times(begin, stop)}"
    state = group_state(counts) or _S.PENDING.value
    return [_bar(begin, stop, state, 0, axis, title)]


def _bar(start: datetime, stop: datetime, state: str, attempt: int, axis: _Axis, title: str) -> GanttSegment:
    x = axis.x(start)
    width = max(axis.x(stop) - x, MIN_SEGMENT)
    return GanttSegment(round(x, 1), round(width, 1), state, attempt, title)


def _mark(what: str, ts: datetime, state: str, attempt: int, axis: _Axis, detail: str = "") -> GanttSegment:
    """A thin mark for a task that ended without running (e.g. CACHED)."""
    title = f"{what} at {_clock(ts)}" + (f"\n{detail}" if detail else "")
    return GanttSegment(round(axis.x(ts) - MARKER / 2, 1), MARKER, state, attempt, title)


def _times(start: datetime, stop: datetime) -> str:
    return f"{_clock(start)} → {_clock(stop)} ({_duration((stop - start).total_seconds())})"


def _clock(ts: datetime) -> str:
    return ts.strftime("%H:%M:%S.%f")[:-3]


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.3g} s" if seconds < 10 else f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"
