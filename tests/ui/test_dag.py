"""The Run page's task graph: maps as one group, expanding a map, layers and edges,
collapsing a huge graph, and its SVG macro."""

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
import pytest

from ledgerflow.engine.core.events import Event
from ledgerflow.engine.core.fold import TaskView, fold
from ledgerflow.engine.core.graph import Graph, TaskNode
from ledgerflow.engine.core.states import TaskState
from ledgerflow.ui.dag import (
    MAX_EXPANDED,
    MAX_NODES,
    NODE_WIDTH,
    TIMES,
    DagLayout,
    DagNode,
    group_state,
    layout_dag,
)

TEMPLATES = Path(__file__).resolve().parents[2] / "ui" / "templates"
SVG = "{http://www.w3.org/2000/svg}"


def graph_of(*nodes: TaskNode) -> Graph:
    return Graph({node.key: node for node in nodes})


def static_fanout(count: int) -> Graph:
    """numbers -> inc[0..count-1] -> total, as tracing a static map records it."""
    children = [TaskNode(f"inc[{index}]", "inc", ("numbers",)) for index in range(count)]
    total = TaskNode("total", "total", tuple(child.key for child in children))
    return graph_of(TaskNode("numbers", "numbers"), *children, total)


def dynamic_fanout_run(count: int, failed: int, running: int) -> tuple[Graph, dict[str, TaskView]]:
    """A dynamic map of ``count`` children folded from its events: the first ``failed``
    children failed, the next ``running`` still run, the others succeeded."""
    graph = graph_of(
        TaskNode("numbers", "numbers"),
        TaskNode("inc", "inc", ("numbers",), map_over=("numbers",)),
        TaskNode("total", "total", ("inc",)),
    )
    steps: list[tuple[str | None, str, dict[str, Any]]] = [
        (None, "run.created", {"graph": graph.to_dict()}), (None, "run.running", {}),
        ("numbers", "task.running", {"attempt": 1}), ("numbers", "task.succeeded", {}),
        ("inc", "task.mapped", {"count": count}),
    ]  # fmt: skip
    for index in range(count):
        key = f"inc[{index}]"
        steps.append((key, "task.running", {"attempt": 1}))
        if index >= failed + running:
            steps.append((key, "task.succeeded", {}))
        elif index < failed:
            steps.append((key, "task.failed", {}))
    start = datetime(2024, 5, 1, tzinfo=UTC)
    events = [
        Event("run-1", seq, key, type_, payload, start + timedelta(seconds=seq), "", "")
        for seq, (key, type_, payload) in enumerate(steps, start=1)
    ]
    run = fold(events)
    return run.graph, dict(run.tasks)


def states(graph: Graph, **by_key: TaskState) -> dict[str, TaskView]:
    """Every node SUCCEEDED but those named."""
    return {key: TaskView(key, by_key.get(key, TaskState.SUCCEEDED)) for key in graph.nodes}


def node(layout: DagLayout, key: str) -> DagNode:
    (found,) = [n for n in layout.nodes if n.key == key]
    return found


def links(layout: DagLayout) -> set[tuple[str, str]]:
    return {(edge.source, edge.target) for edge in layout.edges}


def test_a_10000_child_static_map_is_one_group_coloured_by_its_worst_child() -> None:
    graph = static_fanout(10_000)
    failed = {f"inc[{index}]": TaskState.FAILED for index in range(0, 10_000, 1_000)}
    layout = layout_dag(graph, states(graph, **failed))
    assert [n.key for n in layout.nodes] == ["numbers", "inc", "total"]
    group = node(layout, "inc")
    assert (group.label, group.total, group.is_group) == (f"inc {TIMES}10,000", 10_000, True)
    assert not group.is_expanded
    assert group.counts == {"SUCCEEDED": 9_990, "FAILED": 10}
    assert group.state == "FAILED" and group.count_text() == "9,990 ok · 10 failed"
    assert links(layout) == {("numbers", "inc"), ("inc", "total")}  # deduplicated
    assert node(layout, "total").counts == {} and node(layout, "total").total == 1
    assert layout.note is None


def test_a_10000_child_dynamic_map_is_merged_with_its_own_node() -> None:
    graph, tasks = dynamic_fanout_run(10_000, failed=0, running=3)
    layout = layout_dag(graph, tasks)
    assert [n.key for n in layout.nodes] == ["numbers", "inc", "total"]
    group = node(layout, "inc")
    assert group.counts == {"RUNNING": 3, "SUCCEEDED": 9_997} and group.state == "RUNNING"
    assert group.label == f"inc {TIMES}10,000" and group.total == 10_000
    assert links(layout) == {("numbers", "inc"), ("inc", "total")}
    assert node(layout, "total").state == "PENDING"


def test_a_dynamic_map_not_yet_expanded_shows_its_own_state() -> None:
    dynamic_map = TaskNode("inc", "inc", ("numbers",), map_over=("numbers",))
    graph = graph_of(TaskNode("numbers", "numbers"), dynamic_map)
    layout = layout_dag(graph, {})  # no task views yet: everything is PENDING
    group = node(layout, "inc")
    assert (group.state, group.total, group.counts, group.label) == ("PENDING", 0, {}, f"inc {TIMES}?")
    assert node(layout, "numbers").state == "PENDING"


@pytest.mark.parametrize(
    ("counts", "state"),
    [
        ({"SUCCEEDED": 5, "CACHED": 1, "SKIPPED": 1}, "SKIPPED"),
        ({"PENDING": 5, "RETRYING": 1, "SUCCEEDED": 9}, "RETRYING"),
        ({"RUNNING": 5, "CANCELLED": 1}, "CANCELLED"),
        ({"UPSTREAM_FAILED": 5, "FAILED": 1}, "FAILED"),
        ({"SUCCEEDED": 2, "CACHED": 1}, "CACHED"),
        ({}, None),
    ],
)
def test_a_group_takes_the_first_state_of_the_precedence_it_has(counts: dict[str, int], state: str) -> None:
    assert group_state(counts) == state


@pytest.mark.parametrize("dynamic", [False, True])
def test_expanding_a_map_draws_at_most_100_children_and_one_more_node(dynamic: bool) -> None:
    if dynamic:
        graph, tasks = dynamic_fanout_run(10_000, failed=2, running=0)
    else:
        graph = static_fanout(10_000)
        tasks = states(graph, **{"inc[1]": TaskState.FAILED})
    layout = layout_dag(graph, tasks, expand="inc")
    children = [n for n in layout.nodes if n.key.startswith("inc[")]
    assert [n.key for n in children] == [f"inc[{index}]" for index in range(MAX_EXPANDED)]
    assert not any(n.is_group for n in children) and node(layout, "inc[1]").state == "FAILED"
    more = node(layout, "inc")
    assert (more.label, more.total, more.is_group, more.is_expanded) == ("+9,900 more", 9_900, True, True)
    assert more.counts == {"SUCCEEDED": 9_900}
    assert len(layout.nodes) == MAX_EXPANDED + 3
    expected = {("numbers", key) for key in (*(n.key for n in children), "inc")}
    expected |= {(key, "total") for key in (*(n.key for n in children), "inc")}
    assert links(layout) == expected
    assert layout.note == "100 of 10,000 children of inc drawn"


def test_expanding_a_small_map_draws_all_its_children() -> None:
    graph = static_fanout(3)
    layout = layout_dag(graph, states(graph), expand="inc")
    assert [n.key for n in layout.nodes] == ["numbers", "inc[0]", "inc[1]", "inc[2]", "total"]
    assert layout.note is None


def test_a_diamond_lays_out_in_three_layers_with_curved_edges() -> None:
    graph = graph_of(
        TaskNode("a", "a"), TaskNode("b", "b", ("a",)), TaskNode("c", "c", ("a",)),
        TaskNode("d", "d", ("b", "c")),
    )  # fmt: skip
    layout = layout_dag(graph, states(graph))
    columns = sorted({n.x for n in layout.nodes})
    assert len(columns) == 3
    assert [[n.key for n in layout.nodes if n.x == x] for x in columns] == [["a"], ["b", "c"], ["d"]]
    assert links(layout) == {("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")}
    a, b = node(layout, "a"), node(layout, "b")
    edge = next(edge for edge in layout.edges if (edge.source, edge.target) == ("a", "b"))
    start, *_, end = re.findall(r"-?[\d.]+,-?[\d.]+", edge.path)
    assert edge.path.startswith("M") and " C" in edge.path
    assert start == f"{a.x + a.width:g},{a.y + a.height / 2:g}" and end == f"{b.x:g},{b.y + b.height / 2:g}"
    assert layout.width == max(n.x + n.width for n in layout.nodes) + min(n.x for n in layout.nodes)
    assert layout.height >= max(n.y + n.height for n in layout.nodes)


def test_ordering_within_a_layer_removes_a_crossing() -> None:
    graph = graph_of(
        TaskNode("a1", "a"), TaskNode("a2", "a"),
        TaskNode("b1", "b", ("a2",)), TaskNode("b2", "b", ("a1",)),
    )  # fmt: skip
    layout = layout_dag(graph, states(graph))
    assert node(layout, "a1").y < node(layout, "a2").y
    assert node(layout, "b2").y < node(layout, "b1").y


@pytest.mark.parametrize("distinct_functions", [False, True])
def test_a_1000_step_chain_collapses_under_the_cap_with_a_note(distinct_functions: bool) -> None:
    keys = [f"step-{index}" for index in range(1_000)]
    nodes = [
        TaskNode(key, key if distinct_functions else "step", (keys[index - 1],) if index else ())
        for index, key in enumerate(keys)
    ]
    layout = layout_dag(graph_of(*nodes), states(graph_of(*nodes), **{"step-500": TaskState.FAILED}))
    assert len(layout.nodes) <= MAX_NODES
    assert layout.note == f"1,000 tasks drawn as {len(layout.nodes)} groups"
    assert sum(n.total for n in layout.nodes) == 1_000
    assert [n.state for n in layout.nodes].count("FAILED") == 1
    assert len(layout.edges) == len(layout.nodes) - 1  # still a chain, left to right
    by_key = {n.key: n for n in layout.nodes}
    assert all(by_key[e.source].x < by_key[e.target].x for e in layout.edges)
    assert layout.width < 300 * NODE_WIDTH


def test_collapsing_keeps_the_children_of_the_expanded_map() -> None:
    keys = [f"step-{index}" for index in range(MAX_NODES)]
    chain = [TaskNode(key, "step", (keys[index - 1],) if index else ()) for index, key in enumerate(keys)]
    children = [TaskNode(f"inc[{index}]", "inc", (keys[-1],)) for index in range(200)]
    graph = graph_of(*chain, *children)
    layout = layout_dag(graph, states(graph), expand="inc")
    assert len(layout.nodes) <= MAX_NODES and layout.note is not None
    drawn = [n.key for n in layout.nodes if n.key.startswith("inc")]
    assert drawn == [f"inc[{index}]" for index in range(MAX_EXPANDED)] + ["inc"]


def test_a_small_graph_is_not_collapsed() -> None:
    graph = graph_of(*(TaskNode(f"t{index}", "t") for index in range(MAX_NODES)))
    layout = layout_dag(graph, states(graph))
    assert len(layout.nodes) == MAX_NODES and layout.note is None


def render_dag(layout: DagLayout) -> str:
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    macro = environment.get_template("_dag.html").module.dag_svg  # type: ignore[attr-defined]
    return str(macro(layout, lambda n: f"/runs/run-1/tasks/{n.key}"))


def test_the_macro_draws_a_10000_child_map_as_a_few_nodes() -> None:
    graph = static_fanout(10_000)
    svg = render_dag(layout_dag(graph, states(graph, **{"inc[7]": TaskState.FAILED})))
    assert len(svg) < 10_000
    root = ET.fromstring(svg)  # well-formed
    groups = [g for g in root.iter(f"{SVG}g") if "node" in (g.get("class") or "").split()]
    assert [(g.get("data-key"), g.get("class")) for g in groups] == [
        ("numbers", "node st-SUCCEEDED"), ("inc", "node st-FAILED group"), ("total", "node st-SUCCEEDED"),
    ]  # fmt: skip
    bar = [r.get("class") for r in groups[1].iter(f"{SVG}rect") if "bar" in (r.get("class") or "")]
    assert bar == ["bar st-SUCCEEDED", "bar st-FAILED"]
    texts = [t.text for t in groups[1].iter(f"{SVG}text")]
    assert texts == [f"inc {TIMES}10,000", "9,999 ok · 1 failed"]
    assert len(list(root.iter(f"{SVG}path"))) == 1 + 2  # the arrow head and two edges
    assert [a.get("href") for a in root.iter(f"{SVG}a")] == [
        "/runs/run-1/tasks/numbers", "/runs/run-1/tasks/inc", "/runs/run-1/tasks/total",
    ]  # fmt: skip
    assert "fill=" not in svg and "style=" not in svg


def test_the_macro_escapes_task_keys() -> None:
    graph = graph_of(TaskNode("a<b>", "a"), TaskNode('q"x', "q", ("a<b>",)))
    svg = render_dag(layout_dag(graph, states(graph)))
    assert "<b>" not in svg and "a&lt;b&gt;" in svg
    root = ET.fromstring(svg)
    keys = [g.get("data-key") for g in root.iter(f"{SVG}g") if g.get("data-key")]
    assert keys == ["a<b>", 'q"x']
    titles = [t.text for t in root.iter(f"{SVG}title")]
    assert titles == ["a<b>: SUCCEEDED", 'q"x: SUCCEEDED']
