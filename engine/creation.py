"""What a new run records in its first event, ``run.created``."""

from datetime import datetime
from typing import Any

from .argument_digests import argument_digests
from .core.events import EventType, NewEvent
from .core.run_terms import RunTerms
from .core.states import RunState
from .flow import Flow, TracedFlow
from .version import ENGINE_VERSION


def run_created(
    flow: Flow[..., Any], traced: TracedFlow, parameters: dict[str, Any], state: RunState,
    terms: RunTerms, now: datetime,
) -> NewEvent:  # fmt: skip
    """The ``run.created`` of a run of ``flow`` traced as ``traced``, with its ``parameters`` as
    recorded (secrets hashed), created in ``state`` under ``terms`` (queue, priority...)."""
    return NewEvent(
        None,
        EventType.RUN_CREATED.value,
        {
            "flow": flow.name,
            "flow_ref": flow.ref,
            "parameters": parameters,
            "graph": traced.graph.to_dict(),
            "graph_hash": traced.graph.digest(),
            "code": {call.task.name: call.task.code_hash for call in traced.calls.values()},
            "arguments": argument_digests(traced),
            "state": state.value,
            "engine_version": ENGINE_VERSION,
            **({"timeout": flow.timeout} if flow.timeout is not None else {}),
            **terms.recorded(),
        },
        now,
    )
