"""Leases on runs (take over, heartbeat, release), CRASHED at read time, and claims of
crashed runs by racing threads."""

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.storage import Leases, RunNotFound, Storage

from ..builders import TTL, at, crashed_runs, unleased_run


def test_the_event_log_is_leases(storage: Storage) -> None:
    leases: Leases = storage.log
    assert leases.claim_crashed("w", TTL) == []


def test_take_over_sets_owner_and_lease_whoever_held_it(storage: Storage) -> None:
    unleased_run(storage, "r1")
    storage.log.take_over("r1", "a", TTL, now=at(0))
    run = storage.log.run("r1", now=at(1))
    assert (run.owner, run.lease_expires_at, run.state) == ("a", at(TTL), "RUNNING")
    assert run.lease_expires_at is not None and run.lease_expires_at.tzinfo is UTC
    storage.log.take_over("r1", "b", 5, now=at(2))
    assert (storage.log.run("r1").owner, storage.log.run("r1").lease_expires_at) == ("b", at(7))
    with pytest.raises(RunNotFound):
        storage.log.take_over("nope", "a", TTL)


def test_take_over_defaults_to_the_current_utc_time(storage: Storage) -> None:
    unleased_run(storage, "r1", ts=datetime.now(UTC))
    before = datetime.now(UTC)
    storage.log.take_over("r1", "a", 60)
    lease = storage.log.run("r1").lease_expires_at
    ttl = timedelta(seconds=60)
    assert lease is not None and before + ttl <= lease <= datetime.now(UTC) + ttl
    assert storage.log.run("r1").state == "RUNNING"


def test_a_run_created_with_a_lease_is_held_by_its_creator(storage: Storage) -> None:
    before = datetime.now(UTC)
    storage.log.append("r1", 0, [NewEvent(None, "run.created", {"flow": "f"})], "a", lease_ttl=60)
    run = storage.log.run("r1")
    ttl = timedelta(seconds=60)
    assert run.owner == "a" and run.state == "PENDING"
    expires = run.lease_expires_at
    assert expires is not None and before + ttl <= expires <= datetime.now(UTC) + ttl
    storage.log.append("r1", 1, [NewEvent(None, "run.running", {"owner": "a"})], owner="a")  # fenced: held
    assert storage.log.heartbeat("r1", "a", TTL) is True
    storage.log.append("r2", 0, [NewEvent(None, "run.created", {"flow": "f"})], "a")  # no ttl: no lease
    assert (storage.log.run("r2").owner, storage.log.run("r2").lease_expires_at) == (None, None)
    with pytest.raises(ValueError, match="ttl"):
        storage.log.append("r3", 0, [NewEvent(None, "run.created", {"flow": "f"})], "a", lease_ttl=0)


def test_heartbeat_extends_only_the_holders_lease(storage: Storage) -> None:
    unleased_run(storage, "r1")
    storage.log.take_over("r1", "a", TTL, now=at(0))
    assert storage.log.heartbeat("r1", "a", TTL, now=at(20)) is True
    assert storage.log.run("r1").lease_expires_at == at(20 + TTL)
    assert storage.log.heartbeat("r1", "a", TTL, now=at(TTL + 40)) is True  # lapsed, nobody took it
    storage.log.take_over("r1", "b", TTL, now=at(100))
    assert storage.log.heartbeat("r1", "a", TTL, now=at(101)) is False  # a must stand down
    assert (storage.log.run("r1").owner, storage.log.run("r1").lease_expires_at) == ("b", at(100 + TTL))
    with pytest.raises(RunNotFound):
        storage.log.heartbeat("nope", "a", TTL)


def test_release_clears_only_the_holders_lease(storage: Storage) -> None:
    unleased_run(storage, "r1")
    storage.log.take_over("r1", "a", TTL, now=at(0))
    storage.log.release("r1", "b")
    assert storage.log.run("r1").owner == "a"
    storage.log.release("r1", "a")
    run = storage.log.run("r1")
    assert (run.owner, run.lease_expires_at) == (None, None)
    assert storage.log.heartbeat("r1", "a", TTL) is False
    with pytest.raises(RunNotFound):
        storage.log.release("nope", "a")


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_a_lease_needs_a_positive_ttl(storage: Storage, bad: float) -> None:
    unleased_run(storage, "r1")
    with pytest.raises(ValueError, match="ttl"):
        storage.log.take_over("r1", "a", bad)
    with pytest.raises(ValueError, match="naive"):
        storage.log.take_over("r1", "a", TTL, now=datetime(2026, 1, 1))


def test_a_running_run_whose_lease_expired_is_shown_crashed(storage: Storage) -> None:
    for run_id in ("live", "dead", "bare"):
        unleased_run(storage, run_id)
    unleased_run(storage, "done", "SUCCEEDED")
    for run_id in ("live", "dead", "done"):
        storage.log.take_over(run_id, "a", TTL, now=at(0 if run_id != "live" else 100))
    shown = {run.run_id: run.state for run in storage.log.runs(now=at(TTL + 1))}
    assert shown == {"live": "RUNNING", "dead": "CRASHED", "done": "SUCCEEDED", "bare": "RUNNING"}
    assert storage.log.run("dead", now=at(TTL + 1)).state == "CRASHED"
    assert storage.log.run("dead", now=at(TTL - 1)).state == "RUNNING"
    assert storage.log.run("dead").state == "CRASHED"  # default: the current time
    storage.log.heartbeat("dead", "a", TTL, now=at(TTL + 2))
    assert storage.log.run("dead", now=at(TTL + 3)).state == "RUNNING"


def test_claim_crashed_takes_only_what_a_dead_driver_left_oldest_first(storage: Storage) -> None:
    unleased_run(storage, "expired-old", ts=at(-50))
    unleased_run(storage, "expired", ts=at(-40))
    unleased_run(storage, "unleased-pending", "PENDING", ts=at(-30))
    unleased_run(storage, "unleased-running", ts=at(-20))
    unleased_run(storage, "leased", ts=at(-60))
    unleased_run(storage, "recent", ts=at(100 - TTL + 1))  # appended to within the ttl
    unleased_run(storage, "succeeded", "SUCCEEDED", ts=at(-70))
    storage.log.append("scheduled", 0, [NewEvent(None, "run.created", {"state": "SCHEDULED"}, at(-80))])
    for run_id in ("expired-old", "expired", "succeeded"):
        storage.log.take_over(run_id, "dead", TTL, now=at(0))
    storage.log.release("succeeded", "dead")  # it ended and its driver let go
    storage.log.take_over("leased", "alive", TTL, now=at(90))
    now = at(100)
    assert storage.log.claim_crashed("w1", TTL, now=now) == ["expired-old"]
    assert storage.log.claim_crashed("w2", TTL, limit=5, now=now) == [
        "expired", "unleased-pending", "unleased-running",
    ]  # fmt: skip
    assert storage.log.claim_crashed("w3", TTL, limit=5, now=now) == []
    run = storage.log.run("expired-old", now=now)
    assert (run.owner, run.lease_expires_at, run.state) == ("w1", at(100 + TTL), "RUNNING")
    assert storage.log.run("leased").owner == "alive"
    assert storage.log.claim_crashed("w3", TTL, limit=9, now=at(100 + TTL)) == [
        "leased", "expired-old", "expired", "unleased-pending", "unleased-running", "recent",
    ]  # fmt: skip
    with pytest.raises(ValueError, match="at least one"):
        storage.log.claim_crashed("w", TTL, limit=0)


def test_an_ended_run_whose_driver_died_holding_the_lease_is_claimed(storage: Storage) -> None:
    """Its driver died after the run's last state but before letting go: it may owe hooks."""
    unleased_run(storage, "ended", "FAILED", ts=at(-10))
    storage.log.take_over("ended", "dead", TTL, now=at(0))
    assert storage.log.claim_crashed("w1", TTL, now=at(TTL - 1)) == []  # lease still running
    assert storage.log.claim_crashed("w1", TTL, now=at(TTL + 1)) == ["ended"]
    storage.log.release("ended", "w1")
    assert storage.log.claim_crashed("w2", TTL, now=at(TTL + 2)) == []


def test_a_claimed_run_is_not_shown_crashed(storage: Storage) -> None:
    unleased_run(storage, "r1")
    storage.log.take_over("r1", "dead", TTL, now=at(0))
    assert storage.log.run("r1", now=at(60)).state == "CRASHED"
    assert storage.log.claim_crashed("w", TTL, now=at(60)) == ["r1"]
    assert storage.log.run("r1", now=at(61)).state == "RUNNING"


def test_racing_threads_never_claim_a_run_twice(storage: Storage) -> None:
    run_ids = crashed_runs(storage, 24)
    barrier = threading.Barrier(4)
    now = at(1000)

    def claim_all(worker: int) -> list[str]:
        barrier.wait()
        mine: list[str] = []
        while claimed := storage.log.claim_crashed(f"w{worker}", TTL, limit=1 + worker % 2, now=now):
            mine += claimed
        return mine

    with ThreadPoolExecutor(4) as pool:
        claims = list(pool.map(claim_all, range(4)))
    assert Counter(run_id for mine in claims for run_id in mine) == Counter(run_ids)
    owners = {run.run_id: run.owner for run in storage.log.runs()}
    assert all(owners[run_id] == f"w{worker}" for worker, mine in enumerate(claims) for run_id in mine)


def test_a_run_handed_back_is_claimed_at_once_and_shown_running_meanwhile(storage: Storage) -> None:
    unleased_run(storage, "back", ts=at(100))
    unleased_run(storage, "other", ts=at(100))
    for run_id in ("back", "other"):
        storage.log.take_over(run_id, "stopping", TTL, now=at(100))
    storage.log.hand_back("back", "someone-else", now=at(101))  # not the holder: nothing changes
    assert storage.log.run("back", now=at(101)).owner == "stopping"
    storage.log.hand_back("back", "stopping", now=at(102))
    run = storage.log.run("back", now=at(103))
    assert (run.state, run.owner, run.lease_expires_at) == ("RUNNING", None, at(102))
    assert [(r.run_id, r.state) for r in storage.log.runs(now=at(103))] == [
        ("other", "RUNNING"), ("back", "RUNNING"),
    ]  # fmt: skip
    assert storage.log.run_counts(now=at(103)) == {"RUNNING": 2}
    assert [r.run_id for r in storage.log.runs(now=at(103), states=["RUNNING"])] == ["other", "back"]
    assert storage.log.runs(now=at(103), states=["CRASHED"]) == []
    assert storage.log.heartbeat("back", "stopping", TTL, now=at(103)) is False  # it let go
    assert storage.log.claim_crashed("w", TTL, limit=5, now=at(103)) == ["back"]  # long before its ttl
    assert storage.log.run("back", now=at(103)).owner == "w"
    with pytest.raises(RunNotFound):
        storage.log.hand_back("nope", "stopping")
