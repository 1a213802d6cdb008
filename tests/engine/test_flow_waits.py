"""Which listed runs wait for their flow's run limit: those a claim would take but for a slot
of their flow (SCHEDULED, or CRASHED: their driver died, or handed back), while the flow has
as many runs driven as its limit allows; a run recorded CRASHED waits for a person instead.
In memory, on SQLite and on PostgreSQL."""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.engine.queueing import FlowWait, flow_waits
from ledgerflow.storage import Storage, open_storage

TTL = 60.0


@pytest.fixture
def storage(store_url: str, tmp_path: Path) -> Iterator[Storage]:
    with open_storage(store_url, tmp_path) as opened:
        yield opened


def created(storage: Storage, run_id: str, flow: str = "f", **payload: object) -> None:
    """A run of ``flow`` (limited to one run at once) created in ``payload``'s state."""
    terms = {"max_concurrent_runs": 1} if flow == "f" else {}
    storage.log.append(run_id, 0, [NewEvent(None, "run.created", {"flow": flow, **terms, **payload})])


def started(storage: Storage, run_id: str, owner: str, flow: str = "f") -> None:
    """A run created and RUNNING under ``owner``'s live lease."""
    created(storage, run_id, flow)
    storage.log.take_over(run_id, owner, TTL)
    storage.log.append(run_id, 1, [NewEvent(None, "run.running", {"owner": owner})], owner=owner)


def died(storage: Storage, run_id: str, flow: str = "f") -> None:
    """A RUNNING run whose driver died a minute ago (its lease lapsed: listed CRASHED)."""
    started(storage, run_id, "dead", flow)
    storage.log.take_over(run_id, "dead", 1, now=datetime.now(UTC) - timedelta(seconds=60))


def waits(storage: Storage) -> dict[str, FlowWait]:
    return flow_waits(storage.limits, storage.log.runs(), TTL)


def test_crashed_handed_back_and_scheduled_runs_wait_for_a_full_flow(storage: Storage) -> None:
    died(storage, "crashed")
    died(storage, "crashed-elsewhere", flow="unlimited")
    started(storage, "handed-back", "w")
    storage.log.hand_back("handed-back", "w")
    died(storage, "recorded")
    storage.log.append("recorded", 2, [NewEvent(None, "run.crashed", {"reason": "cannot be resumed"})])
    storage.log.release("recorded", "dead")
    created(storage, "queued", state="SCHEDULED")
    assert waits(storage) == {}  # the flow has a free slot: a claim takes them (but "recorded")
    started(storage, "holder", "w")
    listed = {run.run_id: run.state for run in storage.log.runs()}
    assert (listed["crashed"], listed["handed-back"], listed["recorded"]) == ("CRASHED", "RUNNING", "CRASHED")
    full = FlowWait("f", 1, 1)
    assert waits(storage) == {"crashed": full, "handed-back": full, "queued": full}
    assert str(full) == "waiting for flow limit (1 of 1 running)"
    storage.limits.set_limit("flow:f", 2)
    assert waits(storage) == {}
