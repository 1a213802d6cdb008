"""Claims pass over the runs a worker skips, and a run recorded CRASHED is never claimed
and is listed as CRASHED."""

from datetime import UTC, datetime, timedelta

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.storage import Storage

T0 = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
TTL = 30.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def left_running(storage: Storage, run_id: str, seconds: float) -> None:
    """A RUNNING run created at ``seconds`` whose driver died (its lease expired)."""
    storage.log.append(run_id, 0, [NewEvent(None, "run.created", {"flow": "f"}, at(seconds))])
    storage.log.append(run_id, 1, [NewEvent(None, "run.running", {"owner": "dead"}, at(seconds))])
    storage.log.take_over(run_id, "dead", TTL, now=at(seconds))


def test_claims_pass_over_skipped_runs(storage: Storage) -> None:
    left_running(storage, "old", -20)
    left_running(storage, "new", -10)
    for run_id, seconds in (("s-old", -20), ("s-new", -10)):
        created = NewEvent(None, "run.created", {"flow": "f", "state": "SCHEDULED"}, at(seconds))
        storage.log.append(run_id, 0, [created])
    now = at(100)
    assert storage.log.claim_crashed("w", TTL, limit=5, now=now, skip=["old", "nope"]) == ["new"]
    assert storage.log.claim_crashed("w", TTL, limit=5, now=now, skip=[]) == ["old"]
    assert storage.log.claim_scheduled("w", TTL, limit=5, now=now, skip=["s-old"]) == ["s-new"]
    assert storage.log.claim_scheduled("w", TTL, limit=5, now=now) == ["s-old"]


def test_a_run_recorded_crashed_is_never_claimed_and_is_listed_crashed(storage: Storage) -> None:
    left_running(storage, "gave-up", -20)
    crashed = NewEvent(None, "run.crashed", {"reason": "cannot be resumed as it is"}, at(-5))
    storage.log.append("gave-up", 2, [crashed])
    storage.log.release("gave-up", "dead")
    left_running(storage, "lapsed", -10)
    assert storage.log.claim_crashed("w", TTL, limit=5, now=at(1000)) == ["lapsed"]
    storage.log.take_over("lapsed", "dead", TTL, now=at(0))  # its new driver died too
    listed = [summary.run_id for summary in storage.log.runs(states=["CRASHED"], now=at(1000))]
    assert sorted(listed) == ["gave-up", "lapsed"]
    assert storage.log.run_counts(now=at(1000))["CRASHED"] == 2
