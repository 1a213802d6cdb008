"""Cancel requests: the first stands until discarded; an undriven run's lease can be taken."""

from datetime import UTC, datetime, timedelta

import pytest

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.storage import CancelRequest, Storage

T0 = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
TTL = 30.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_the_first_request_stands_until_discarded(storage: Storage) -> None:
    requests = storage.cancel_requests
    assert requests.get("r1") is None
    first = requests.request("r1", "alice", "wrong inputs", now=at(0))
    assert first == CancelRequest("r1", at(0), "alice", "wrong inputs")
    assert requests.request("r1", "bob", now=at(5)) == first
    assert requests.get("r1") == first
    requests.discard("r1")
    requests.discard("r1")  # nothing left: no error
    assert requests.get("r1") is None
    assert requests.request("r1", "bob", now=at(9)) == CancelRequest("r1", at(9), "bob", None)


def run_in(storage: Storage, run_id: str, state: str) -> None:
    first = state if state in ("PENDING", "SCHEDULED") else "PENDING"
    storage.log.append(run_id, 0, [NewEvent(None, "run.created", {"flow": "f", "state": first}, at(0))])
    if state != first:
        storage.log.append(run_id, 1, [NewEvent(None, f"run.{state.lower()}", {"owner": "x"}, at(0))])


@pytest.mark.parametrize(
    ("state", "lease_until", "now", "is_taken"),
    [
        ("SCHEDULED", None, 1, True),
        ("RUNNING", 60, 30, False),  # a live driver holds it
        ("RUNNING", 20, 30, True),  # its lease lapsed
        ("PENDING", None, 10, False),  # its creator may still take it
        ("PENDING", None, 40, True),  # nothing appended for the ttl
        ("SUCCEEDED", None, 40, False),
        ("CRASHED", None, 1, True),
    ],
)
def test_claim_undriven_takes_only_a_run_nobody_drives(
    storage: Storage, state: str, lease_until: float | None, now: float, is_taken: bool
) -> None:
    run_in(storage, "r1", state)
    if lease_until is not None:
        storage.log.take_over("r1", "driver", lease_until, now=at(0))
    assert storage.cancel_requests.claim_undriven("r1", "canceller", TTL, now=at(now)) is is_taken
    owner = storage.log.run("r1").owner
    assert (owner == "canceller") is is_taken


def test_claim_undriven_of_an_unknown_run_takes_nothing(storage: Storage) -> None:
    assert storage.cancel_requests.claim_undriven("nope", "canceller", TTL) is False


def test_a_run_handed_back_is_undriven_at_once(storage: Storage) -> None:
    run_in(storage, "r1", "RUNNING")
    storage.log.take_over("r1", "driver", TTL, now=at(0))
    storage.log.hand_back("r1", "driver", now=at(1))
    assert storage.cancel_requests.claim_undriven("r1", "canceller", TTL, now=at(2)) is True
