"""The task graph of a run: nodes, their upstreams, triggers, maps, and the flow's result.

A graph is plain data: it is recorded in ``run.created`` (``to_dict``), hashed, and read
back by ``fold`` (``from_dict``). Task bodies and arguments are not part of it; they are
re-created by tracing the flow with the recorded parameters.
"""

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

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
            trigger=_TRIGGERS[data.get("trigger", Trigger.ALL_SUCCESSFUL.value)],
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
        """Read a graph written by ``to_dict``."""
        nodes = [TaskNode.from_dict(item) for item in data.get("nodes", ())]
        return cls(nodes={node.key: node for node in nodes}, result=data.get("result"))

    def digest(self) -> str:
        """A stable hash of the graph's shape (keys, tasks, edges, triggers, maps)."""
        shape = [node.to_dict() for node in self.nodes.values()]
        text = json.dumps(shape, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def downstream(self) -> dict[str, list[str]]:
        """For each node, the nodes that list it as an upstream."""
        found: dict[str, list[str]] = {key: [] for key in self.nodes}
        for node in self.nodes.values():
            for upstream in node.upstream:
                found[upstream].append(node.key)
        return found


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
