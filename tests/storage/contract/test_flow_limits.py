"""Flow run limits at claim time: a run of a limited flow is claimed only with a free slot of
its flow; the slot is the run's live lease, so it comes back when the run ends, when the
lease is released and when a crashed holder's lease expires. A stored ``flow:NAME`` limit
wins over what the runs recorded."""

import threading
from concurrent.futures import ThreadPoolExecutor

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.storage import FlowUsage, Storage

from ..builders import TTL, at
from .test_queues import LATER, left_running, submitted


def claim(storage: Storage, owner: str = "w", limit: int = 10, seconds: float = 1000) -> list[str]:
    return storage.log.claim_scheduled(owner, TTL, limit=limit, now=at(seconds))


def start(storage: Storage, run_id: str, owner: str = "w") -> None:
    storage.log.append(run_id, 1, [NewEvent(None, "run.running", {"owner": owner})], owner=owner)


def test_a_limited_flow_gets_as_many_runs_as_its_limit(storage: Storage) -> None:
    for i in range(3):
        submitted(storage, f"f{i}", i, max_concurrent_runs=2)
    submitted(storage, "g0", 5, flow="g")
    assert claim(storage) == ["f0", "f1", "g0"]
    assert claim(storage, "other") == []


def test_a_full_flow_does_not_hold_back_the_runs_queued_behind_it(storage: Storage) -> None:
    for i in range(5):
        submitted(storage, f"f{i}", i, max_concurrent_runs=1, priority=9)
    submitted(storage, "g0", 10, flow="g")
    assert claim(storage, limit=2) == ["f0", "g0"]


def test_a_slot_comes_back_when_the_run_ends(storage: Storage) -> None:
    submitted(storage, "f0", 0, max_concurrent_runs=1)
    submitted(storage, "f1", 1, max_concurrent_runs=1)
    assert claim(storage) == ["f0"]
    start(storage, "f0")
    assert claim(storage) == []
    storage.log.append("f0", 2, [NewEvent(None, "run.succeeded", {})], owner="w")  # lease still held
    assert claim(storage, "other") == ["f1"]


def test_a_slot_comes_back_when_the_lease_is_released(storage: Storage) -> None:
    submitted(storage, "f0", 0, max_concurrent_runs=1)
    submitted(storage, "f1", 1, max_concurrent_runs=1)
    assert claim(storage) == ["f0"]
    storage.log.release("f0", "w")  # handed back before it started
    assert claim(storage, "other") == ["f0"]
    assert claim(storage, "third") == []


def test_a_crashed_holders_slot_comes_back_after_its_lease_expires(storage: Storage) -> None:
    left_running(storage, "f0", 0, max_concurrent_runs=1)
    submitted(storage, "f1", 1, max_concurrent_runs=1)
    assert storage.log.claim_scheduled("w", TTL, now=at(TTL - 1)) == []  # its holder is alive
    assert storage.log.claim_scheduled("w", TTL, now=at(TTL + 1)) == ["f1"]
    assert storage.log.claim_crashed("v", TTL, now=at(TTL + 2)) == []  # it waits for a slot too
    assert storage.log.claim_crashed("v", TTL, now=at(3 * TTL)) == ["f0"]  # f1's claim lapsed


def test_a_crashed_run_retakes_its_slot_before_scheduled_runs_do(storage: Storage) -> None:
    left_running(storage, "f0", 0, max_concurrent_runs=1)
    submitted(storage, "f1", 1, max_concurrent_runs=1)
    assert storage.log.claim_crashed("w", TTL, now=LATER) == ["f0"]
    assert storage.log.claim_scheduled("w", TTL, now=LATER) == []


def test_a_stored_flow_limit_wins_over_the_recorded_one(storage: Storage) -> None:
    for i in range(4):
        submitted(storage, f"f{i}", i, max_concurrent_runs=1)
        submitted(storage, f"u{i}", i, flow="u")  # recorded no limit
    storage.limits.set_limit("flow:f", 0)  # paused
    storage.limits.set_limit("flow:u", 1)
    assert claim(storage) == ["u0"]
    storage.limits.set_limit("flow:f", 2)
    assert claim(storage) == ["f0", "f1"]


def test_flow_limits_report_slots_in_use_and_runs_waiting(storage: Storage) -> None:
    for i in range(3):
        submitted(storage, f"f{i}", i, max_concurrent_runs=2)
    submitted(storage, "g0", 3, flow="g")
    storage.limits.set_limit("flow:h", 4)
    storage.limits.set_limit("warehouse", 1)
    assert claim(storage, seconds=0) == ["f0", "f1", "g0"]
    usages = storage.limits.flow_limits(now=at(1))
    assert usages == [FlowUsage("f", None, 2, 2, 1), FlowUsage("h", 4, None, 0, 0)]
    assert usages[0].limit == 2 and usages[1].limit == 4
    assert storage.limits.flow_limits(now=at(1), flows=["h", "g"]) == [FlowUsage("h", 4, None, 0, 0)]
    assert [usage.tag for usage in storage.limits.limits()] == ["warehouse"]


def test_crashed_and_handed_back_runs_count_as_waiting_for_their_flow(storage: Storage) -> None:
    left_running(storage, "crashed", 0, max_concurrent_runs=1)
    left_running(storage, "handed-back", 1, max_concurrent_runs=1)
    storage.log.take_over("handed-back", "w", TTL, now=at(2))
    storage.log.hand_back("handed-back", "w", now=at(3))
    submitted(storage, "queued", 4, max_concurrent_runs=1)
    assert storage.log.claim_scheduled("w", TTL, now=LATER) == ["queued"]
    assert storage.limits.flow_limits(now=LATER) == [FlowUsage("f", None, 1, 1, 2)]


def test_concurrent_claimers_never_exceed_a_flow_limit(storage: Storage) -> None:
    for i in range(12):
        submitted(storage, f"f{i}", i, max_concurrent_runs=3)
    barrier = threading.Barrier(6)

    def claimer(n: int) -> list[str]:
        barrier.wait()
        return [run_id for _ in range(3) for run_id in storage.log.claim_scheduled(f"w{n}", 60, limit=2)]

    with ThreadPoolExecutor(6) as pool:
        claimed = [run_id for got in pool.map(claimer, range(6)) for run_id in got]
    assert len(claimed) == len(set(claimed)) == 3  # which ones depends on who locked what first


def test_a_batch_keeps_claim_order_across_limited_and_unlimited_flows(storage: Storage) -> None:
    for i in range(4):
        submitted(storage, f"f{i}", i, max_concurrent_runs=2, priority=5)
        submitted(storage, f"g{i}", i + 0.5, flow="g", priority=5)
    for i in range(2):
        submitted(storage, f"h{i}", 10 + i, flow="h", max_concurrent_runs=1, priority=9)
    assert claim(storage, limit=5) == ["h0", "f0", "g0", "f1", "g1"]  # h1, then f2, f3 passed over
    assert claim(storage, "other") == ["g2", "g3"]


def test_an_ended_run_owing_hooks_takes_no_slot_of_its_limited_flow(storage: Storage) -> None:
    left_running(storage, "ended", 0, max_concurrent_runs=1)
    storage.log.append("ended", 2, [NewEvent(None, "run.succeeded", {}, at(0))], owner="dead")
    left_running(storage, "c0", 1, max_concurrent_runs=1)
    left_running(storage, "c1", 2, max_concurrent_runs=1)
    assert storage.log.claim_crashed("w", TTL, limit=5, now=LATER) == ["ended", "c0"]


def test_concurrent_batch_claims_of_limited_and_unlimited_flows(storage: Storage) -> None:
    for i in range(12):
        submitted(storage, f"f{i}", i, max_concurrent_runs=3)
        submitted(storage, f"g{i}", i, flow="g")
    barrier = threading.Barrier(4)

    def claimer(n: int) -> list[str]:
        barrier.wait()
        mine: list[str] = []
        while claimed := storage.log.claim_scheduled(f"w{n}", 60, limit=2 + n):
            mine += claimed
        return mine

    with ThreadPoolExecutor(4) as pool:
        claimed = [run_id for got in pool.map(claimer, range(4)) for run_id in got]
    assert len(claimed) == len(set(claimed))
    assert sum(run_id.startswith("g") for run_id in claimed) == 12  # every one
    assert sum(run_id.startswith("f") for run_id in claimed) == 3  # as many as the limit
