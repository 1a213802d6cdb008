"""Claims of SCHEDULED runs, and the worker registry."""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.storage import Storage

T0 = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
TTL = 30.0


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def scheduled(storage: Storage, run_id: str, ts: datetime) -> None:
    storage.log.append(run_id, 0, [NewEvent(None, "run.created", {"flow": "f", "state": "SCHEDULED"}, ts)])


def test_claim_scheduled_takes_unclaimed_scheduled_runs_oldest_first(storage: Storage) -> None:
    scheduled(storage, "s2", at(-10))
    scheduled(storage, "s1", at(-20))
    scheduled(storage, "s3", at(-5))
    storage.log.append("pending", 0, [NewEvent(None, "run.created", {"flow": "f"}, at(-90))])
    assert storage.log.run("s1").state == "SCHEDULED"
    assert storage.log.claim_scheduled("w1", TTL, now=at(0)) == ["s1"]
    assert storage.log.claim_scheduled("w2", TTL, limit=5, now=at(0)) == ["s2", "s3"]
    assert storage.log.claim_scheduled("w3", TTL, limit=5, now=at(1)) == []
    run = storage.log.run("s1", now=at(1))
    assert (run.owner, run.lease_expires_at, run.state) == ("w1", at(TTL), "SCHEDULED")
    assert storage.log.claim_crashed("w3", TTL, limit=5, now=at(1000)) == ["pending"]  # never SCHEDULED
    with pytest.raises(ValueError, match="at least one"):
        storage.log.claim_scheduled("w", TTL, limit=0)


def test_a_claim_that_lapsed_before_the_run_started_is_claimed_again(storage: Storage) -> None:
    scheduled(storage, "s", at(0))
    assert storage.log.claim_scheduled("dead", TTL, now=at(0)) == ["s"]
    assert storage.log.claim_scheduled("w", TTL, now=at(TTL - 1)) == []
    assert storage.log.claim_scheduled("w", TTL, now=at(TTL)) == ["s"]
    assert storage.log.run("s").owner == "w"


def test_racing_claimers_never_get_the_same_scheduled_run(storage: Storage) -> None:
    for number in range(12):
        scheduled(storage, f"s{number:02d}", at(number))

    def claim_all(worker: int) -> list[str]:
        taken: list[str] = []
        while claimed := storage.log.claim_scheduled(f"w{worker}", TTL, limit=2, now=at(100)):
            taken.extend(claimed)
        return taken

    with ThreadPoolExecutor(4) as pool:
        taken = [run_id for claims in pool.map(claim_all, range(4)) for run_id in claims]
    assert Counter(taken) == Counter(f"s{number:02d}" for number in range(12))


def test_the_registry_records_registration_heartbeats_and_stop(storage: Storage) -> None:
    registry = storage.workers
    registry.register("w1", "host-a", 11, now=at(0))
    registry.register("w2", "host-b", 22, now=at(5))
    assert registry.heartbeat("w1", runs_driven=2, now=at(10))
    assert registry.heartbeat("w1", now=at(20))
    assert not registry.heartbeat("nobody", now=at(20))
    registry.mark_stopped("w2", now=at(30))
    w2, w1 = registry.workers()
    assert (w1.name, w1.host, w1.pid, w1.runs_driven, w1.state) == ("w1", "host-a", 11, 2, "running")
    assert (w1.started_at, w1.heartbeat_at) == (at(0), at(20))
    assert w1.heartbeat_age(at(25)) == 5.0
    assert w1.is_healthy(at(79)) and not w1.is_healthy(at(81))
    assert w1.is_healthy(at(300), poll_interval=100) and not w1.is_healthy(at(400), poll_interval=100)
    assert (w2.name, w2.state, w2.heartbeat_at) == ("w2", "stopped", at(30))
    assert not w2.is_healthy(at(30))
    registry.register("w2", "host-c", 33, now=at(40))  # the name restarts afresh
    w2 = registry.workers()[0]
    assert (w2.name, w2.host, w2.pid, w2.runs_driven, w2.state) == ("w2", "host-c", 33, 0, "running")


def test_the_registry_records_capacity_queues_and_runs_in_flight(storage: Storage) -> None:
    registry = storage.workers
    registry.register("w", "host", 1, now=at(0), max_runs=20, queues=["gpu", "default"])
    registry.register("plain", "host", 2, now=at(1))
    plain, worker = registry.workers()
    assert (worker.max_runs, worker.queues, worker.in_flight) == (20, ("gpu", "default"), 0)
    assert (plain.max_runs, plain.queues, plain.in_flight) == (None, ("default",), 0)
    assert registry.heartbeat("w", runs_driven=3, now=at(5), in_flight=3)
    assert registry.heartbeat("w", now=at(10))  # in flight as it was
    assert registry.workers()[1].in_flight == 3
    assert registry.heartbeat("w", now=at(15), in_flight=1)
    assert (registry.workers()[1].in_flight, registry.workers()[1].runs_driven) == (1, 3)
    registry.mark_stopped("w", now=at(20))
    assert (registry.workers()[1].state, registry.workers()[1].in_flight) == ("stopped", 0)
