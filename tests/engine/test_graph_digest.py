"""A graph's digest (recorded as ``graph_hash``, compared on every resume) never changes for
a given graph, whichever encoder computes it."""

import hashlib
import json

from hypothesis import given
from hypothesis import strategies as st

from ledgerflow.engine.core.graph import Graph, TaskNode, Trigger


def recorded_digest(graph: Graph) -> str:
    """The digest as ledgerflow has always defined it."""
    shape = [node.to_dict() for node in graph.nodes.values()]
    return hashlib.sha256(json.dumps(shape, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def test_a_known_graph_keeps_its_digest() -> None:
    graph = Graph(nodes={
        "extract": TaskNode("extract", "extract"),
        "train[0]": TaskNode("train[0]", "train", ("extract",)),
        "pick": TaskNode("pick", "pick", ("train[0]",), Trigger.ALL_FINISHED),
        "d": TaskNode("d", "double", ("extract",), map_over=("extract",)),
    })  # fmt: skip
    assert graph.digest() == "088d5cafc2ca9f89163ba281ac68ef24d54f9bde614709ab9b71bde968d3de14"
    assert graph.digest(graph.to_dict()["nodes"]) == graph.digest()


@given(st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=6, unique=True), st.data())
def test_any_graph_digests_as_recorded(keys: list[str], data: st.DataObject) -> None:
    nodes = {}
    for index, key in enumerate(keys):
        upstream = tuple(data.draw(st.lists(st.sampled_from(keys[:index]), unique=True))) if index else ()
        trigger = data.draw(st.sampled_from(list(Trigger)))
        map_over = data.draw(st.sampled_from([None, upstream])) if upstream else None
        nodes[key] = TaskNode(key, data.draw(st.text(max_size=4)), upstream, trigger, map_over)
    graph = Graph(nodes=nodes)
    assert graph.digest() == recorded_digest(graph)
