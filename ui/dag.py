"""The task graph of a run laid out for the Run page: maps as groups, layered left to right.

Pure: a graph and the run's task views in, boxes and curves out (``templates/_dag.html``
draws them). Each map, static (``inc[0]..inc[n-1]`` in the graph) or dynamic (one node
whose children exist only in the run), is one group node with counts by state; a huge
graph is collapsed further so the drawing stays small.
"""

import math
from collections import Counter
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field

from ..engine.core.fold import TaskView
from ..engine.core.graph import Graph
from ..engine.core.states import TaskState
from .tasks import parent_of

NODE_WIDTH = 180.0
NODE_HEIGHT = 52.0
LAYER_GAP = 56.0  # horizontal space between layers, where the edges run
NODE_GAP = 14.0  # vertical space between nodes of a layer
MARGIN = 16.0
BAR_PADDING = 10.0  # space left and right of a group's stacked bar
MAX_NODES = 300  # above this many nodes the graph is collapsed further
MAX_EXPANDED = 100  # children of an expanded map drawn one by one; the rest as "+N more"
MAX_BANDS = 50  # layers left when a huge graph is collapsed into bands of layers
MAX_LABEL = 26  # characters of a label that fit in a node
TIMES = "\N{MULTIPLICATION SIGN}"

_S = TaskState
GROUP_PRECEDENCE: tuple[str, ...] = tuple(
    state.value for state in (
        _S.FAILED, _S.UPSTREAM_FAILED, _S.CANCELLED, _S.RUNNING, _S.RETRYING, _S.PENDING,
        _S.MAPPED, _S.SKIPPED, _S.CACHED, _S.SUCCEEDED,
    )
)  # fmt: skip
"""The state that colours a group: the first of these that any of its children is in."""

# Stacked bar order (done work first) and the short words of the count text.
_BAR_ORDER: tuple[str, ...] = tuple(reversed(GROUP_PRECEDENCE))
_TEXT_ORDER: tuple[str, ...] = tuple(
    state.value for state in (
        _S.SUCCEEDED, _S.FAILED, _S.UPSTREAM_FAILED, _S.CANCELLED, _S.RUNNING, _S.RETRYING,
        _S.PENDING, _S.CACHED, _S.SKIPPED, _S.MAPPED,
    )
)  # fmt: skip
_SHORT = {_S.SUCCEEDED.value: "ok", _S.UPSTREAM_FAILED.value: "upstream failed"}
_TEXT_ENTRIES = 2  # counts named in a group's count text; the tooltip has them all


def times(count: int) -> str:
    """The suffix of a group's label: a multiplication sign and the count, e.g. 10,000."""
    return f" {TIMES}{count:,}"


def group_state(counts: Mapping[str, int]) -> str | None:
    """The state that colours a group with these counts (None when all are zero)."""
    return next((state for state in GROUP_PRECEDENCE if counts.get(state)), None)


@dataclass(frozen=True, slots=True)
class DagNode:
    """One box of the drawing: a task, a map's group, or a collapsed group of tasks.

    For the children of an expanded map (``layout_dag(..., expand=key)``) the children
    drawn are single tasks and the rest one group keyed by the map, with ``is_expanded``
    set and the label "+N more". A group collapsed from many tasks (see ``note``) is keyed
    by its first task.
    """

    key: str
    label: str
    x: float
    y: float
    width: float
    height: float
    state: str
    counts: dict[str, int]
    total: int
    is_group: bool
    is_expanded: bool

    def bar(self) -> list[tuple[str, float, float]]:
        """The stacked bar of a group's counts: (state, x, width), each at least 2 wide."""
        span = self.width - 2 * BAR_PADDING
        shown = [(state, self.counts[state]) for state in _BAR_ORDER if self.counts.get(state)]
        whole = sum(count for _, count in shown)
        if whole == 0:
            return []
        widths = [max(2.0, span * count / whole) for _, count in shown]
        scale = span / sum(widths)
        bar, left = [], self.x + BAR_PADDING
        for (state, _), width in zip(shown, widths, strict=True):
            bar.append((state, round(left, 1), round(width * scale, 1)))
            left += width * scale
        return bar

    def count_text(self) -> str:
        """A short summary of a group's counts, e.g. "9,990 ok · 10 failed"."""
        parts = [
            f"{self.counts[state]:,} {_SHORT.get(state, state.lower())}"
            for state in _TEXT_ORDER
            if self.counts.get(state)
        ]
        if len(parts) > _TEXT_ENTRIES:
            parts = [*parts[:_TEXT_ENTRIES], "…"]
        return " · ".join(parts)

    def tooltip(self) -> str:
        """The node's tooltip: its key and state, or a group's counts line by line."""
        if not self.is_group:
            return f"{self.key}: {self.state}"
        lines = [f"{self.label}: {self.total:,} tasks"]
        lines += [f"{state} {self.counts[state]:,}" for state in _TEXT_ORDER if self.counts.get(state)]
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class DagEdge:
    """An arrow between two drawn nodes (their ``DagNode.key``s)."""

    source: str
    target: str
    path: str  # SVG path "d": a cubic curve from source's right edge to target's left edge


@dataclass(frozen=True, slots=True)
class DagLayout:
    """The nodes and edges to draw, the drawing's size, and what was simplified."""

    nodes: list[DagNode]
    edges: list[DagEdge]
    width: float
    height: float
    note: str | None


@dataclass(slots=True)
class _Unit:
    """A node of the drawing being built; ``id`` is unique, ``key`` is what it links to."""

    id: str
    key: str
    label: str
    state: str
    counts: dict[str, int]
    total: int
    task: str | None  # the task function it runs (None for a mix)
    is_group: bool = False
    is_expanded: bool = False
    pinned: bool = False  # part of the expanded map: never merged when collapsing
    layer: int = 0
    row: float = 0.0  # position within its layer, centred on zero
    tally: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.tally = self.counts or {self.state: 1}


Edges = dict[tuple[str, str], None]  # an ordered set of (source id, target id)


def layout_dag(graph: Graph, tasks: Mapping[str, TaskView], expand: str | None = None) -> DagLayout:
    """Lay out a run's graph: one group per map (``expand`` draws that map's children),
    layers left to right by longest path, collapsed further above ``MAX_NODES`` nodes."""
    builder = _Builder(graph, tasks, expand)
    units, edges = builder.build()
    notes = builder.notes
    _assign_layers(units, edges)
    if len(units) > MAX_NODES:
        task_count = sum(unit.total for unit in units)
        units, edges = _collapse(units, edges)
        notes.append(f"{task_count:,} tasks drawn as {len(units):,} groups")
    layers = _ordered_layers(units, edges)
    return _place(layers, edges, "; ".join(notes) or None)


class _Builder:
    """Turns graph nodes and task views into units (maps grouped) and the edges between them."""

    def __init__(self, graph: Graph, tasks: Mapping[str, TaskView], expand: str | None) -> None:
        self.graph, self.tasks, self.expand = graph, tasks, expand
        self.children: dict[str, list[str]] = {}  # map key -> child keys, in index order
        self.static_parent: dict[str, str] = {}  # static child key -> map key
        self.units: dict[str, _Unit] = {}
        self.unit_of: dict[str, tuple[str, ...]] = {}  # graph node key -> unit ids
        self.expanded: tuple[str, ...] | None = None  # the unit ids of the expanded map
        self.notes: list[str] = []

    def build(self) -> tuple[list[_Unit], Edges]:
        """The units in order of first appearance, and the deduplicated edges."""
        self._find_children()
        for node in self.graph.nodes.values():
            group = self.static_parent.get(node.key)
            if group is None and (node.map_over is not None or node.key in self.children):
                group = node.key
            if group is None:
                self.unit_of[node.key] = (self._single(node.key, node.task).id,)
            elif group == self.expand and self.children.get(group):
                self.unit_of[node.key] = self._expanded(node.key, group, node.task)
            else:
                self.unit_of[node.key] = (self._group(group, node.task).id,)
        return list(self.units.values()), self._edges()

    def _find_children(self) -> None:
        for key in self.graph.nodes:
            parent = parent_of(key) if key.endswith("]") else None
            if parent is not None:
                self.static_parent[key] = parent
                self.children.setdefault(parent, []).append(key)
        for task in self.tasks.values():
            if task.parent is not None and task.key not in self.static_parent:
                self.children.setdefault(task.parent, []).append(task.key)

    def _state(self, key: str) -> str:
        task = self.tasks.get(key)
        return TaskState.PENDING.value if task is None else task.state.value

    def _add(self, unit: _Unit) -> _Unit:
        return self.units.setdefault(unit.id, unit)

    def _single(self, key: str, task: str) -> _Unit:
        return self._add(_Unit(key, key, _fit(key), self._state(key), {}, 1, task))

    def _group(self, key: str, task: str) -> _Unit:
        if key in self.units:
            return self.units[key]
        children = self.children.get(key, [])
        counts = dict(Counter(map(self._state, children)))
        mapped = self.tasks.get(key)
        unsized = key in self.graph.nodes and (mapped is None or mapped.map_count is None)
        label = _fit(key, f" {TIMES}?" if unsized and not children else times(len(children)))
        state = group_state(counts) or self._state(key)
        return self._add(_Unit(key, key, label, state, counts, len(children), task, is_group=True))

    def _expanded(self, key: str, group: str, task: str) -> tuple[str, ...]:
        """The units of an expanded map that graph node ``key`` stands for."""
        if self.expanded is None:  # first visit: add the children drawn, then the rest
            self.expanded = self._expand(group, task)
        if key == group:  # a dynamic map's node: its children stand in for it
            return self.expanded
        return (key,) if key in self.units else (group,)

    def _expand(self, group: str, task: str) -> tuple[str, ...]:
        children = self.children[group]
        shown, rest = children[:MAX_EXPANDED], children[MAX_EXPANDED:]
        ids = tuple(self._single(child, task).id for child in shown)
        for child in ids:
            self.units[child].pinned = True
        if not rest:
            return ids
        counts = dict(Counter(map(self._state, rest)))
        state = group_state(counts) or TaskState.PENDING.value
        label = f"+{len(rest):,} more"
        more = _Unit(group, group, label, state, counts, len(rest), task, is_group=True)
        more.is_expanded = more.pinned = True
        self._add(more)
        self.notes.append(f"{len(shown):,} of {len(children):,} children of {group} drawn")
        return (*ids, group)

    def _edges(self) -> Edges:
        edges: Edges = {}
        for node in self.graph.nodes.values():
            targets = self.unit_of[node.key]
            for upstream in node.upstream:
                for source in self.unit_of.get(upstream, ()):
                    for target in targets:
                        if source != target:
                            edges[source, target] = None
        return edges


def _fit(name: str, suffix: str = "") -> str:
    """``name + suffix`` cut to fit in a node, the suffix kept whole."""
    room = MAX_LABEL - len(suffix)
    return (name if len(name) <= room else name[: room - 1] + "…") + suffix


def _assign_layers(units: list[_Unit], edges: Edges) -> None:
    """Set each unit's layer to its longest path from a source (Kahn's order)."""
    by_id = {unit.id: unit for unit in units}
    waiting = dict.fromkeys(by_id, 0)
    successors: dict[str, list[str]] = {unit.id: [] for unit in units}
    for source, target in edges:
        successors[source].append(target)
        waiting[target] += 1
    for unit in units:
        unit.layer = 0
    ready = [key for key, count in waiting.items() if count == 0]
    while ready:
        source = ready.pop()
        for target in successors[source]:
            by_id[target].layer = max(by_id[target].layer, by_id[source].layer + 1)
            waiting[target] -= 1
            if waiting[target] == 0:
                ready.append(target)


def _collapse(units: list[_Unit], edges: Edges) -> tuple[list[_Unit], Edges]:
    """Merge units until at most ``MAX_NODES`` remain: same task within a layer, then
    within bands of layers, then whole bands. The expanded map's units stay as they are."""
    band = math.ceil((max(unit.layer for unit in units) + 1) / MAX_BANDS)
    groupings: list[Callable[[_Unit], Hashable]] = [
        lambda unit: unit.id if unit.pinned else (unit.layer, unit.task),
        lambda unit: unit.id if unit.pinned else (unit.layer // band, unit.task),
        lambda unit: unit.id if unit.pinned else unit.layer // band,
    ]
    for grouping in groupings:
        merged, merged_edges = _merge(units, edges, grouping)
        if len(merged) <= MAX_NODES:
            break
    _assign_layers(merged, merged_edges)
    return merged, merged_edges


def _merge(
    units: list[_Unit], edges: Edges, grouping: Callable[[_Unit], Hashable]
) -> tuple[list[_Unit], Edges]:
    """One unit per ``grouping`` value (a lone unit kept as it is), edges between them."""
    members: dict[Hashable, list[_Unit]] = {}
    for unit in units:
        members.setdefault(grouping(unit), []).append(unit)
    merged: list[_Unit] = []
    renamed: dict[str, str] = {}  # unit id -> the id of the unit it was merged into
    for group in members.values():
        unit = group[0] if len(group) == 1 else _merged_unit(group)
        merged.append(unit)
        renamed.update((member.id, unit.id) for member in group)
    merged_edges: Edges = {}
    for source, target in edges:
        if renamed[source] != renamed[target]:
            merged_edges[renamed[source], renamed[target]] = None
    return merged, merged_edges


def _merged_unit(group: list[_Unit]) -> _Unit:
    counts: Counter[str] = Counter()
    for member in group:
        counts.update(member.tally)
    total = sum(member.total for member in group)
    tasks = {member.task for member in group}
    task = tasks.pop() if len(tasks) == 1 else None
    label = _fit(task, times(total)) if task is not None else f"{total:,} tasks"
    state = group_state(counts) or TaskState.PENDING.value
    first = group[0]
    unit = _Unit(first.id, first.key, label, state, dict(counts), total, task, is_group=True)
    unit.layer = first.layer
    return unit


def _ordered_layers(units: list[_Unit], edges: Edges) -> list[list[_Unit]]:
    """Units by layer, ordered within each by two barycenter passes to reduce crossings."""
    layers: list[list[_Unit]] = [[] for _ in range(max((u.layer for u in units), default=-1) + 1)]
    for unit in units:
        layers[unit.layer].append(unit)
    by_id = {unit.id: unit for unit in units}
    predecessors: dict[str, list[_Unit]] = {unit.id: [] for unit in units}
    successors: dict[str, list[_Unit]] = {unit.id: [] for unit in units}
    for source, target in edges:
        predecessors[target].append(by_id[source])
        successors[source].append(by_id[target])
    for layer in layers:
        _set_rows(layer)
    for layer in layers[1:]:
        _sort_by_barycenter(layer, predecessors)
    for layer in reversed(layers[:-1]):
        _sort_by_barycenter(layer, successors)
    return layers


def _set_rows(layer: list[_Unit]) -> None:
    middle = (len(layer) - 1) / 2
    for index, unit in enumerate(layer):
        unit.row = index - middle


def _sort_by_barycenter(layer: list[_Unit], neighbours: Mapping[str, list[_Unit]]) -> None:
    """Order a layer by the mean row of each unit's neighbours (its own row if it has none)."""

    def barycenter(unit: _Unit) -> float:
        around = neighbours[unit.id]
        return sum(other.row for other in around) / len(around) if around else unit.row

    layer.sort(key=barycenter)
    _set_rows(layer)


def _place(layers: list[list[_Unit]], edges: Edges, note: str | None) -> DagLayout:
    """Fixed-size boxes on a grid, each layer centred vertically, and curves between them."""
    tallest = max((len(layer) for layer in layers), default=0)
    pitch = NODE_HEIGHT + NODE_GAP
    middle = MARGIN + (tallest * pitch - NODE_GAP) / 2 - NODE_HEIGHT / 2
    nodes: dict[str, DagNode] = {}
    for layer in layers:
        for unit in layer:
            nodes[unit.id] = DagNode(
                key=unit.key, label=unit.label, state=unit.state,
                x=MARGIN + unit.layer * (NODE_WIDTH + LAYER_GAP), y=round(middle + unit.row * pitch, 1),
                width=NODE_WIDTH, height=NODE_HEIGHT, counts=unit.counts if unit.is_group else {},
                total=unit.total, is_group=unit.is_group, is_expanded=unit.is_expanded,
            )  # fmt: skip
    drawn = [_edge(nodes[source], nodes[target]) for source, target in edges]
    width = 2 * MARGIN + max(len(layers) * (NODE_WIDTH + LAYER_GAP) - LAYER_GAP, 0)
    height = 2 * MARGIN + max(tallest * pitch - NODE_GAP, 0)
    return DagLayout(list(nodes.values()), drawn, width, height, note)


def _edge(source: DagNode, target: DagNode) -> DagEdge:
    """A smooth S-curve from the middle of source's right edge to target's left edge."""
    x1, y1 = source.x + source.width, source.y + source.height / 2
    x2, y2 = target.x, target.y + target.height / 2
    bend = (x2 - x1) / 2
    path = f"M{_n(x1)},{_n(y1)} C{_n(x1 + bend)},{_n(y1)} {_n(x2 - bend)},{_n(y2)} {_n(x2)},{_n(y2)}"
    return DagEdge(source.key, target.key, path)


def _n(value: float) -> str:
    """A coordinate with at most one decimal and no trailing zeros."""
    return f"{value:.1f}".removesuffix(".0")
