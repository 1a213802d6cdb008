"""The task graph of a run: nodes, their upstreams, triggers, maps, and the flow's result.

A graph is plain data: it is recorded in ``run.created`` (``to_dict``), hashed, and read
back by ``fold`` (``from_dict``). Task bodies and arguments are not part of it; they are
re-created by tracing the flow with the recorded parameters.
"""

import hashlib
import json
from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import orjson

RESULT_REF = "$task"  # {"$task": key} marks a task result inside the flow's result structure


class Trigger(StrEnum):
    """When a task runs, given the final states of its upstream tasks."""

    ALL_SUCCESSFUL = "all_successful"
    ALL_FINISHED = "all_finished"
    ANY_FAILED = "any_failed"

    @classmethod
    def parse(cls, name: "str | Trigger") -> "Trigger":
        """Accept the enum, its value, or the alias ``always_run`` (= all_finished)."""
        if name == "always_run":
            return cls.ALL_FINISHED
        try:
            return cls(name)
        except ValueError:
            allowed = ", ".join([t.value for t in cls] + ["always_run"])
            raise ValueError(f"unknown trigger {name!r}; use one of {allowed}") from None


_TRIGGERS = {trigger.value: trigger for trigger in Trigger}  # faster than Trigger(value)


@dataclass(frozen=True, slots=True)
class TaskNode:
    """One task call in a flow.

    ``map_over`` is set for a dynamic map: the node expands at run time into children
    ``key[0]..key[n-1]`` once the upstream results it maps over are known.
    """

    key: str
    task: str
    upstream: tuple[str, ...] = ()
    trigger: Trigger = Trigger.ALL_SUCCESSFUL
    map_over: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        """The node as JSON-able data."""
        data: dict[str, Any] = {"key": self.key, "task": self.task, "upstream": list(self.upstream)}
        if self.trigger is not Trigger.ALL_SUCCESSFUL:
            data["trigger"] = self.trigger.value
        if self.map_over is not None:
            data["map_over"] = list(self.map_over)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TaskNode":
        """Read a node written by ``to_dict``."""
        map_over = data.get("map_over")
        return cls(
            key=data["key"],
            task=data["task"],
            upstream=tuple(data.get("upstream", ())),
            trigger=_TRIGGERS[data.get("trigger", "all_successful")],
            map_over=None if map_over is None else tuple(map_over),
        )


@dataclass(frozen=True, slots=True)
class Graph:
    """Nodes in the order they were called (a topological order) and the result structure."""

    nodes: Mapping[str, TaskNode]
    result: Any = None

    def to_dict(self) -> dict[str, Any]:
        """The graph as JSON-able data, as recorded in ``run.created``."""
        return {"nodes": [node.to_dict() for node in self.nodes.values()], "result": self.result}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Graph":
        """Read a graph written by ``to_dict`` (its nodes are parsed on first use)."""
        return cls(nodes=RecordedNodes(data.get("nodes", ())), result=data.get("result"))

    def digest(self, shape: list[dict[str, Any]] | None = None) -> str:
        """A stable hash of the graph's shape (keys, tasks, edges, triggers, maps); ``shape``:
        its nodes' dicts (``to_dict()["nodes"]``), if made already."""
        if shape is None:
            shape = [node.to_dict() for node in self.nodes.values()]
        encoded = orjson.dumps(shape, option=orjson.OPT_SORT_KEYS)
        if not encoded.isascii() or b"\\" in encoded:  # escapes: as json writes them, as always
            encoded = json.dumps(shape, sort_keys=True, separators=(",", ":")).encode()
        return hashlib.sha256(encoded).hexdigest()

    def downstream(self) -> dict[str, list[str]]:
        """For each node, the nodes that list it as an upstream."""
        found: dict[str, list[str]] = {key: [] for key in self.nodes}
        for node in self.nodes.values():
            for upstream in node.upstream:
                found[upstream].append(node.key)
        return found


class RecordedNodes(Mapping[str, TaskNode]):
    """The nodes of a graph read back from ``run.created``, parsed on first use.

    Folding a run needs only the keys of its nodes; parsing ten thousand of them up
    front would cost more than folding all their events. Read-only, like the dict of
    nodes it stands for (and equal to it).
    """

    __slots__ = ("_items", "_keys", "_nodes")

    def __init__(self, items: Iterable[Mapping[str, Any]]) -> None:
        self._items = list(items)
        self._keys = dict.fromkeys([item["key"] for item in self._items])
        self._nodes: dict[str, TaskNode] | None = None

    def __getitem__(self, key: str) -> TaskNode:
        return self._parsed()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __repr__(self) -> str:
        return repr(self._parsed())

    def keys(self) -> KeysView[str]:
        return self._keys.keys()

    def values(self) -> ValuesView[TaskNode]:
        return self._parsed().values()

    def items(self) -> ItemsView[str, TaskNode]:
        return self._parsed().items()

    def _parsed(self) -> dict[str, TaskNode]:
        nodes = self._nodes
        if nodes is None:  # two threads may both parse: same result, no harm
            nodes = self._nodes = {node.key: node for node in map(TaskNode.from_dict, self._items)}
        return nodes


def child_key(parent: str, index: int) -> str:
    """The key of the ``index``-th child of a mapped task."""
    return f"{parent}[{index}]"


def result_refs(structure: Any) -> list[str]:
    """The task keys referenced by a flow result structure, in order."""
    if isinstance(structure, dict):
        if set(structure) == {RESULT_REF}:
            return [structure[RESULT_REF]]
        return [key for value in structure.values() for key in result_refs(value)]
    if isinstance(structure, list):
        return [key for item in structure for key in result_refs(item)]
    return []
