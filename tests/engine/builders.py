"""Build event lists for pure-core tests, without any storage."""

from datetime import UTC, datetime, timedelta
from typing import Any

from ledgerflow.engine.core.events import Event
from ledgerflow.engine.core.graph import Graph, TaskNode

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class LogBuilder:
    """Appends events with consecutive seqs and increasing timestamps."""

    def __init__(self, graph: Graph, run_id: str = "run-1") -> None:
        self.run_id = run_id
        self.events: list[Event] = []
        self.add(None, "run.created", {"flow": "f", "graph": graph.to_dict(), "parameters": {}})

    def add(self, task_key: str | None, type_: str, payload: dict[str, Any] | None = None) -> Event:
        seq = len(self.events) + 1
        event = Event(
            self.run_id, seq, task_key, type_, payload or {}, T0 + timedelta(seconds=seq),
            "", f"h{seq}",
        )
        self.events.append(event)
        return event


def chain_graph(*keys: str) -> Graph:
    """a -> b -> c ..."""
    nodes = {}
    previous: tuple[str, ...] = ()
    for key in keys:
        nodes[key] = TaskNode(key=key, task=key, upstream=previous)
        previous = (key,)
    return Graph(nodes=nodes)
