"""frontier: which tasks to run, expand, skip or mark UPSTREAM_FAILED."""

from ledgerflow.engine.core.fold import fold
from ledgerflow.engine.core.frontier import SETTLED_STATES, Frontier, frontier
from ledgerflow.engine.core.graph import Graph, TaskNode, Trigger

from .builders import LogBuilder, chain_graph


def _diamond(trigger: Trigger = Trigger.ALL_SUCCESSFUL) -> Graph:
    return Graph(nodes={
        "a": TaskNode("a", "a"),
        "b": TaskNode("b", "b"),
        "join": TaskNode("join", "join", ("a", "b"), trigger),
    })


def _finish(log: LogBuilder, key: str, state: str) -> None:
    log.add(key, "task.running", {"attempt": 1})
    log.add(key, f"task.{state}", {"attempt": 1})


def test_roots_are_ready_and_downstream_waits() -> None:
    log = LogBuilder(chain_graph("a", "b"))
    step = frontier(log_graph(log), fold(log.events))
    assert step.ready == ("a",) and not step.is_finished


def test_downstream_becomes_ready_when_upstream_succeeds() -> None:
    log = LogBuilder(chain_graph("a", "b"))
    _finish(log, "a", "succeeded")
    assert frontier(log_graph(log), fold(log.events)).ready == ("b",)


def test_failure_marks_all_successful_downstream_upstream_failed() -> None:
    log = LogBuilder(_diamond())
    _finish(log, "a", "failed")
    _finish(log, "b", "succeeded")
    step = frontier(log_graph(log), fold(log.events))
    assert step.upstream_failed == {"join": ("a",)} and step.ready == ()


def test_all_finished_runs_after_a_failure() -> None:
    log = LogBuilder(_diamond(Trigger.ALL_FINISHED))
    _finish(log, "a", "failed")
    _finish(log, "b", "succeeded")
    assert frontier(log_graph(log), fold(log.events)).ready == ("join",)


def test_any_failed_runs_only_after_a_failure() -> None:
    log = LogBuilder(_diamond(Trigger.ANY_FAILED))
    _finish(log, "a", "succeeded")
    _finish(log, "b", "succeeded")
    step = frontier(log_graph(log), fold(log.events))
    assert step.ready == () and "join" in step.skipped
    log2 = LogBuilder(_diamond(Trigger.ANY_FAILED))
    _finish(log2, "a", "failed")
    _finish(log2, "b", "succeeded")
    assert frontier(log_graph(log2), fold(log2.events)).ready == ("join",)


def test_skip_propagates_to_all_successful_downstream() -> None:
    log = LogBuilder(chain_graph("a", "b"))
    _finish(log, "a", "skipped")
    assert "b" in frontier(log_graph(log), fold(log.events)).skipped


def test_finished_when_every_task_settled() -> None:
    log = LogBuilder(chain_graph("a"))
    _finish(log, "a", "succeeded")
    step = frontier(log_graph(log), fold(log.events))
    assert step == Frontier(is_finished=True)  # and no decision needs an append or a submission


def test_retrying_task_reports_its_due_time_and_is_not_ready() -> None:
    log = LogBuilder(chain_graph("a"))
    log.add("a", "task.running", {"attempt": 1})
    log.add("a", "task.retrying", {"attempt": 1, "retry_at": "2026-01-01T00:01:00+00:00"})
    step = frontier(log_graph(log), fold(log.events))
    assert step.ready == () and list(step.retry_due) == ["a"] and not step.is_finished


def _mapped_graph() -> Graph:
    return Graph(nodes={
        "src": TaskNode("src", "src"),
        "double": TaskNode("double", "double", ("src",), map_over=("src",)),
        "total": TaskNode("total", "total", ("double",)),
    })


def test_dynamic_map_expands_then_children_run_then_downstream() -> None:
    log = LogBuilder(_mapped_graph())
    _finish(log, "src", "succeeded")
    assert frontier(log_graph(log), fold(log.events)).expand == ("double",)
    log.add("double", "task.mapped", {"count": 2})
    assert frontier(log_graph(log), fold(log.events)).ready == ("double[0]", "double[1]")
    _finish(log, "double[0]", "succeeded")
    assert frontier(log_graph(log), fold(log.events)).ready == ("double[1]",)
    _finish(log, "double[1]", "succeeded")
    assert frontier(log_graph(log), fold(log.events)).ready == ("total",)


def test_a_failed_child_fails_the_mapped_parent_for_downstream() -> None:
    log = LogBuilder(_mapped_graph())
    _finish(log, "src", "succeeded")
    log.add("double", "task.mapped", {"count": 1})
    _finish(log, "double[0]", "failed")
    assert frontier(log_graph(log), fold(log.events)).upstream_failed == {"total": ("double",)}


def test_an_empty_map_lets_downstream_run() -> None:
    log = LogBuilder(_mapped_graph())
    _finish(log, "src", "succeeded")
    log.add("double", "task.mapped", {"count": 0})
    assert frontier(log_graph(log), fold(log.events)).ready == ("total",)


def log_graph(log: LogBuilder) -> Graph:
    return fold(log.events[:1]).graph


def test_looking_only_at_the_unsettled_tasks_decides_the_same() -> None:
    log = LogBuilder(Graph(nodes={**_mapped_graph().nodes, **_diamond(Trigger.ANY_FAILED).nodes}))
    steps = [lambda: None, lambda: _finish(log, "src", "succeeded"),
             lambda: log.add("double", "task.mapped", {"count": 3}),
             lambda: _finish(log, "double[1]", "succeeded"), lambda: _finish(log, "a", "failed"),
             lambda: _finish(log, "double[0]", "skipped")]  # fmt: skip
    for step in steps:
        step()
        view = fold(log.events)
        unsettled = [key for key, task in view.tasks.items() if task.state not in SETTLED_STATES]
        assert frontier(log_graph(log), view, unsettled) == frontier(log_graph(log), view)
