"""The Run page's timeline: attempts as segments, maps as one row, the time axis, its
SVG macro, and its speed on a 10,000-child run."""

import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
import pytest

from ledgerflow.engine.core.events import Event
from ledgerflow.engine.core.fold import fold
from ledgerflow.engine.core.graph import Graph, TaskNode
from ledgerflow.ui.dag import TIMES
from ledgerflow.ui.gantt import MARKER, MAX_ROWS, RIGHT_MARGIN, Gantt, GanttRow, gantt_of

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TEMPLATES = Path(__file__).resolve().parents[2] / "ui" / "templates"


class RunLog:
    """The events of a made-up run, each ``at`` seconds after T0."""

    def __init__(self, *nodes: TaskNode) -> None:
        self.events: list[Event] = []
        graph = Graph({node.key: node for node in nodes})
        self.add(0, None, "run.created", {"flow": "made_up", "graph": graph.to_dict()})
        self.add(0, None, "run.running", {"owner": "test"})

    def add(self, at: float, key: str | None, type_: str, payload: Mapping[str, Any] | None = None) -> None:
        """Append one event."""
        ts = T0 + timedelta(seconds=at)
        self.events.append(Event("run-1", len(self.events) + 1, key, type_, payload or {}, ts, "", ""))

    def attempt(self, key: str, start: float, end: float, outcome: str, attempt: int = 1) -> None:
        """One attempt of ``key`` from ``start`` to ``end``, ending in ``outcome``."""
        self.add(start, key, "task.running", {"attempt": attempt})
        payload: dict[str, Any] = {"attempt": attempt}
        if outcome in ("retrying", "failed"):
            payload["error"] = {"type": "RuntimeError", "message": f"broken at {attempt}"}
        self.add(end, key, f"task.{outcome}", payload)


def at(gantt: Gantt, seconds: float, span: float) -> float:
    """The x of ``seconds`` on an axis of ``span`` seconds."""
    plot = gantt.width - gantt.label_width - RIGHT_MARGIN
    return gantt.label_width + seconds * plot / span


def row(gantt: Gantt, key: str) -> GanttRow:
    return next(row for row in gantt.rows if row.key == key)


def test_a_retried_task_has_one_segment_per_attempt_coloured_by_outcome() -> None:
    log = RunLog(TaskNode("flaky", "flaky"))
    log.attempt("flaky", 1, 3, "retrying", attempt=1)
    log.attempt("flaky", 5, 9, "succeeded", attempt=2)
    log.add(10, None, "run.succeeded")
    gantt = gantt_of(log.events, now=T0 + timedelta(hours=1))
    first, second = row(gantt, "flaky").segments
    assert (first.state, first.attempt, second.state, second.attempt) == ("RETRYING", 1, "SUCCEEDED", 2)
    assert first.x == pytest.approx(at(gantt, 1, 10), abs=0.1)
    assert first.width == pytest.approx(at(gantt, 3, 10) - at(gantt, 1, 10), abs=0.1)
    assert second.x + second.width == pytest.approx(at(gantt, 9, 10), abs=0.2)
    assert "attempt 1: failed, retried" in first.title and "RuntimeError: broken at 1" in first.title
    assert "12:00:01.000 → 12:00:03.000 (2 s)" in first.title
    assert "attempt 2: succeeded" in second.title


def test_an_attempt_spans_its_bodys_recorded_start_and_end_not_its_events() -> None:
    log = RunLog(TaskNode("nap", "nap"))
    log.add(1, "nap", "task.running", {"attempt": 1})  # submitted at +1 s: it waited for a thread
    started, finished = (T0 + timedelta(seconds=4)).isoformat(), (T0 + timedelta(seconds=7)).isoformat()
    log.add(8, "nap", "task.succeeded", {"attempt": 1, "started_at": started, "finished_at": finished})
    log.add(8, None, "run.succeeded")
    gantt = gantt_of(log.events, now=T0)
    (segment,) = row(gantt, "nap").segments
    assert segment.x == pytest.approx(at(gantt, 4, 8), abs=0.1)
    assert segment.x + segment.width == pytest.approx(at(gantt, 7, 8), abs=0.2)
    assert "12:00:04.000 → 12:00:07.000 (3 s)" in segment.title


def test_a_running_attempt_ends_at_now_and_the_axis_reaches_now() -> None:
    log = RunLog(TaskNode("slow", "slow"))
    log.add(2, "slow", "task.running", {"attempt": 1})
    gantt = gantt_of(log.events, now=T0 + timedelta(seconds=20))
    (segment,) = row(gantt, "slow").segments
    assert segment.state == "RUNNING" and "attempt 1: running" in segment.title
    assert segment.x == pytest.approx(at(gantt, 2, 20), abs=0.1)
    assert segment.x + segment.width == pytest.approx(gantt.width - RIGHT_MARGIN, abs=0.2)
    assert gantt.ticks[-1][1] == "+20 s"


def test_a_finished_run_ends_its_axis_at_its_last_event_whatever_now_is() -> None:
    log = RunLog(TaskNode("a", "a"))
    log.attempt("a", 1, 3, "succeeded")
    log.add(3, None, "run.succeeded")
    gantt = gantt_of(log.events, now=T0 + timedelta(days=3))
    assert [label for _, label in gantt.ticks] == ["0", "+0.5 s", "+1 s", "+1.5 s", "+2 s", "+2.5 s", "+3 s"]
    xs = [x for x, _ in gantt.ticks]
    assert xs == sorted(xs) and xs[0] == gantt.label_width


def test_an_attempt_whose_driver_died_is_closed_by_the_next_one() -> None:
    log = RunLog(TaskNode("a", "a"))
    log.add(1, "a", "task.running", {"attempt": 1})
    log.add(4, "a", "task.running", {"attempt": 2})
    log.add(6, "a", "task.succeeded", {"attempt": 2})
    log.add(6, None, "run.succeeded")
    first, second = row(gantt_of(log.events, now=T0), "a").segments
    assert (first.state, second.state) == ("RETRYING", "SUCCEEDED")
    assert "interrupted" in first.title


def test_cached_and_upstream_failed_tasks_are_thin_marks() -> None:
    log = RunLog(TaskNode("kept", "kept"), TaskNode("after", "after", ("kept",)))
    log.add(1, "kept", "task.cached", {"cache_key": "k"})
    log.add(2, "after", "task.upstream_failed", {"upstream": ["kept"]})
    log.add(2, None, "run.failed")
    gantt = gantt_of(log.events, now=T0)
    (cached,) = row(gantt, "kept").segments
    (blocked,) = row(gantt, "after").segments
    assert (cached.state, cached.width, blocked.state) == ("CACHED", MARKER, "UPSTREAM_FAILED")
    assert cached.x + MARKER / 2 == pytest.approx(at(gantt, 1, 2), abs=0.1)


def test_a_10000_child_dynamic_map_is_one_row_spanning_its_children() -> None:
    log = RunLog(
        TaskNode("numbers", "numbers"),
        TaskNode("inc", "inc", ("numbers",), map_over=("numbers",)),
        TaskNode("total", "total", ("inc",)),
    )
    log.attempt("numbers", 0, 1, "succeeded")
    log.add(1, "inc", "task.mapped", {"count": 10_000})
    for index in range(10_000):
        outcome = "failed" if index % 1_000 == 0 else "succeeded"
        log.attempt(f"inc[{index}]", 2 + index / 10_000, 3 + index / 1_000, outcome)
    log.add(13, "total", "task.upstream_failed", {"upstream": ["inc"]})
    log.add(13, None, "run.failed")
    fold(log.events)  # the made-up log is one the engine accepts
    gantt = gantt_of(log.events, now=T0)
    assert [(r.key, r.label, r.is_group) for r in gantt.rows] == [
        ("numbers", "numbers", False), ("inc", f"inc {TIMES}10,000", True), ("total", "total", False),
    ]  # fmt: skip
    (segment,) = row(gantt, "inc").segments
    assert segment.state == "FAILED"
    assert segment.x == pytest.approx(at(gantt, 2, 13), abs=0.1)
    assert segment.x + segment.width == pytest.approx(at(gantt, 3 + 9_999 / 1_000, 13), abs=0.2)
    assert "inc: 10,000 tasks, 9,990 succeeded · 10 failed" in segment.title


def test_a_static_map_row_counts_children_not_started_as_pending() -> None:
    children = [TaskNode(f"sq[{index}]", "sq") for index in range(4)]
    log = RunLog(*children)
    log.attempt("sq[0]", 1, 2, "succeeded")
    log.add(3, "sq[1]", "task.running", {"attempt": 1})
    gantt = gantt_of(log.events, now=T0 + timedelta(seconds=5))
    (only,) = gantt.rows
    assert (only.key, only.label, only.is_group) == ("sq", f"sq {TIMES}4", True)
    (segment,) = only.segments
    assert segment.state == "RUNNING"  # still running: the span reaches now
    assert segment.x + segment.width == pytest.approx(gantt.width - RIGHT_MARGIN, abs=0.2)
    assert "4 tasks" in segment.title and "2 pending" in segment.title


def test_rows_come_in_first_start_order_and_stop_at_the_cap() -> None:
    count = MAX_ROWS + 50
    log = RunLog(*(TaskNode(f"t{index}", "t") for index in range(count)))
    for index in reversed(range(count)):  # the last key starts first
        log.attempt(f"t{index}", count - index, count - index + 1, "succeeded")
    log.add(count + 1, None, "run.succeeded")
    gantt = gantt_of(log.events, now=T0)
    assert len(gantt.rows) == MAX_ROWS and gantt.note == f"the first {MAX_ROWS} of {count} rows shown"
    assert [r.key for r in gantt.rows[:2]] == [f"t{count - 1}", f"t{count - 2}"]
    assert [r.y for r in gantt.rows] == sorted(r.y for r in gantt.rows)


def test_a_run_without_events_gives_an_empty_timeline() -> None:
    gantt = gantt_of([], now=T0)
    assert (gantt.rows, gantt.ticks, gantt.note) == ([], [], None)


def test_the_timeline_of_a_10000_child_run_takes_well_under_a_second() -> None:
    log = RunLog(TaskNode("numbers", "numbers"), TaskNode("inc", "inc", ("numbers",), map_over=("numbers",)))
    log.add(1, "inc", "task.mapped", {"count": 10_000})
    for index in range(10_000):
        log.attempt(f"inc[{index}]", 1 + index / 1_000, 2 + index / 1_000, "succeeded")
    best = min(_seconds(lambda: gantt_of(log.events, now=T0)) for _ in range(3))
    assert len(log.events) > 20_000
    assert best < 0.5  # about 40 ms here: a wide margin for a loaded one


def _seconds(work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def test_the_macro_draws_segments_ticks_and_escaped_labels() -> None:
    log = RunLog(TaskNode("a<b>", "a"), TaskNode("flaky", "flaky"))
    log.attempt("a<b>", 0, 1, "succeeded")
    log.attempt("flaky", 1, 2, "retrying", attempt=1)
    log.attempt("flaky", 2, 4, "failed", attempt=2)
    log.add(4, None, "run.failed")
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    svg = str(environment.get_template("_gantt.html").module.gantt_svg(gantt_of(log.events, now=T0)))  # type: ignore[attr-defined]
    assert "a&lt;b&gt;" in svg and "<b>" not in svg
    root = ET.fromstring(svg)  # well-formed
    rects = root.iter("{http://www.w3.org/2000/svg}rect")
    classes = [rect.get("class") for rect in rects if "segment" in (rect.get("class") or "")]
    assert classes == ["segment st-SUCCEEDED", "segment st-RETRYING", "segment st-FAILED"]
    labels = [text.text for text in root.iter("{http://www.w3.org/2000/svg}text")]
    assert labels[:2] == ["a<b>", "flaky"] and "+2 s" in labels
    assert "fill=" not in svg and "style=" not in svg
