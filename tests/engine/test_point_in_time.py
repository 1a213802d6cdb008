"""``state_at`` at every seq (and at every event's time) equals folding that prefix of the log."""

import pytest

import ledgerflow as lf
from ledgerflow.engine.core.fold import fold

from . import flows


@pytest.mark.parametrize(
    ("flow", "parameters"),
    [(flows.mapped_twice, {"n": 3}), (flows.retrying, {}), (flows.failing, {})],
    ids=["dynamic-maps", "retries", "failure"],
)
def test_state_at_every_seq_and_time_equals_folding_the_prefix(
    engine: lf.Engine, flow: lf.Flow[..., object], parameters: dict[str, object]
) -> None:
    run = engine.run_flow(flow, parameters)
    events = engine.events(run.id)
    assert len(events) > 5
    for seq in range(1, len(events) + 1):
        assert engine.state_at(run.id, seq=seq) == fold(events[:seq]), f"seq {seq}"
    for event in events:
        last = max(e.seq for e in events if e.ts <= event.ts)  # events stamped alike go together
        assert engine.state_at(run.id, at=event.ts) == fold(events[:last]), f"at seq {event.seq}"
    assert engine.state_at(run.id) == run.view  # replay of the whole log equals the live state


def test_state_at_shows_attempts_and_result_references_as_of_then(engine: lf.Engine) -> None:
    run = engine.run(flows.retrying, x=5)
    events = engine.events(run.id)
    retrying = next(e for e in events if e.type == "task.retrying")
    then = engine.state_at(run.id, seq=retrying.seq).tasks["flaky"]
    assert (then.state, then.attempts, then.result) == ("RETRYING", 1, None)
    now = engine.state_at(run.id).tasks["flaky"]
    assert now.state == "SUCCEEDED" and now.attempts > 1 and now.result is not None
