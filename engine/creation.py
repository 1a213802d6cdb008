"""A new run: its flow traced, and what it records in its first event, ``run.created``."""

from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ..storage.codec import canonical_payload
from ..storage.protocols import EventLog
from .argument_digests import argument_digests
from .core.events import Event, EventType, NewEvent
from .core.run_terms import RunTerms
from .core.states import RunState
from .flow import Flow, TracedFlow
from .flow_ref import warn_if_importing_a_flow
from .home import new_run_id
from .secrets import protect
from .spans import submission
from .version import ENGINE_VERSION


def new_run(
    flow: Flow[..., Any], parameters: Mapping[str, Any], state: RunState, terms: RunTerms, home: Path
) -> tuple[TracedFlow, NewEvent]:
    """``flow`` traced with ``parameters`` (secrets protected with the keys in ``home``) and the
    ``run.created`` of a run of it in ``state`` under ``terms``, stamped now."""
    warn_if_importing_a_flow()
    bound = flow.bind(parameters)
    secrets = protect(flow, bound, home)
    traced = secrets.trace(flow, bound)
    return traced, run_created(flow, traced, secrets.recorded(bound), state, terms, datetime.now(UTC))


def create_run(
    log: EventLog, flow: Flow[..., Any], parameters: Mapping[str, Any], state: RunState, terms: RunTerms,
    home: Path, run_id: str | None = None,
) -> tuple[TracedFlow, list[Event]]:  # fmt: skip
    """Trace ``flow`` and append the ``run.created`` of a new run in ``state`` (``run_id``:
    new if None), within the span of its submission when tracing is on (see ``spans``)."""
    with submission(flow.name) as recording:
        traced, created = new_run(flow, parameters, state, terms, home)
        run_id = run_id or new_run_id(created.ts or datetime.now(UTC))
        return traced, log.append(run_id, 0, [recording(created, run_id)])


def as_logged(run_id: str, created: NewEvent) -> Event:
    """A new run's ``run.created`` as its log will fold it, before it is appended (its hash
    is not known yet; ``PayloadNotJSON`` if its payload cannot be stored)."""
    payload = orjson.loads(canonical_payload(created.payload))
    assert created.ts is not None, "a new run is stamped when it is traced"
    return Event(run_id, 1, None, created.type, payload, created.ts, "", "")


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
            "graph": (graph := traced.graph.to_dict()),
            "graph_hash": traced.graph.digest(graph["nodes"]),
            "code": {call.task.name: call.task.code_hash for call in traced.calls.values()},
            "arguments": argument_digests(traced),
            "state": state.value,
            "engine_version": ENGINE_VERSION,
            **({"timeout": flow.timeout} if flow.timeout is not None else {}),
            **terms.recorded(),
        },
        now,
    )
