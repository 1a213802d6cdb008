"""Group commits: many runs' batches appended in one call, each fenced as ``append`` fences
it; one run's refusal writes nothing of it and fails no other. The logs of many runs, their
cancel requests, heartbeats and releases of their leases, each in one read or statement."""

import threading
from datetime import UTC, datetime

import pytest

from ledgerflow.engine.core.events import Event, NewEvent
from ledgerflow.replay import verify_events
from ledgerflow.storage import (
    AppendConflict,
    InvalidAppend,
    PayloadNotJSON,
    RunAppend,
    RunNotFound,
    Storage,
    StorageError,
)

from ..builders import TTL, at, created, new_run, task_events, unleased_run


def driven(storage: Storage, run_id: str, owner: str) -> None:
    """A run of 2 events whose lease ``owner`` holds."""
    storage.log.append(run_id, 0, [created()])
    storage.log.append(run_id, 1, [NewEvent(None, "run.running", {"owner": owner})])
    storage.log.take_over(run_id, owner, TTL)


def succeeded(outcome: list[Event] | StorageError) -> list[Event]:
    assert isinstance(outcome, list), outcome
    return outcome


def test_each_batch_is_appended_after_its_runs_head(storage: Storage) -> None:
    for run_id in ("r1", "r2", "r3"):
        driven(storage, run_id, "w")
    outcomes = storage.log.append_many(
        [
            RunAppend("r1", 2, task_events(2), "w"),
            RunAppend("r2", 2, [], "w"),
            RunAppend("r3", 2, [*task_events(1), NewEvent(None, "run.succeeded", {})], "w"),
        ]
    )
    assert [[e.seq for e in succeeded(o)] for o in outcomes] == [[3, 4], [], [3, 4]]
    for run_id, outcome in zip(("r1", "r3"), (outcomes[0], outcomes[2]), strict=True):
        assert storage.log.read(run_id)[2:] == succeeded(outcome)
        assert storage.log.read(run_id)[2].prev_hash == storage.log.read(run_id)[1].hash
    assert storage.log.read("r2")[-1].seq == 2
    heads = {run_id: storage.log.run(run_id) for run_id in ("r1", "r2", "r3")}
    assert [(h.head_seq, h.state, h.owner) for h in heads.values()] == [
        (4, "RUNNING", "w"), (2, "RUNNING", "w"), (4, "SUCCEEDED", "w"),
    ]  # fmt: skip
    assert heads["r1"].head_hash == succeeded(outcomes[0])[-1].hash
    assert storage.log.append_many([]) == []


def test_a_refused_batch_fails_only_its_run(storage: Storage) -> None:
    for run_id in ("ok1", "stale", "taken", "ok2"):
        driven(storage, run_id, "w")
    storage.log.append("stale", 2, task_events(1), owner="w")  # another writer appended first
    storage.log.take_over("taken", "other", TTL)
    outcomes = storage.log.append_many(
        [
            RunAppend("ok1", 2, task_events(1), "w"),
            RunAppend("stale", 2, task_events(1, start=5), "w"),
            RunAppend("taken", 2, task_events(1), "w"),
            RunAppend("missing", 1, task_events(1), "w"),
            RunAppend("ok2", 2, task_events(3), "w"),
        ]
    )
    assert [type(o).__name__ for o in outcomes] == [
        "list", "AppendConflict", "AppendConflict", "RunNotFound", "list",
    ]  # fmt: skip
    assert isinstance(outcomes[2], AppendConflict) and "no longer holds" in str(outcomes[2])
    assert isinstance(outcomes[3], RunNotFound)
    assert [storage.log.run(r).head_seq for r in ("ok1", "stale", "taken", "ok2")] == [3, 3, 2, 5]
    assert [e.task_key for e in storage.log.read("stale")[2:]] == ["t0"]


def test_batches_after_known_heads_are_fenced_as_the_others(storage: Storage) -> None:
    for run_id in ("ok", "stale", "taken", "unknown"):
        driven(storage, run_id, "w")
    heads = {
        run_id: (storage.log.read(run_id)[-1].hash, storage.log.read(run_id)[-1].ts)
        for run_id in ("ok", "stale", "taken")
    }
    storage.log.append("stale", 2, task_events(1), owner="w")  # another writer appended first
    storage.log.take_over("taken", "other", TTL)
    outcomes = storage.log.append_many(
        [
            RunAppend("ok", 2, task_events(2), "w", head=heads["ok"]),
            RunAppend("stale", 2, task_events(1, start=5), "w", head=heads["stale"]),
            RunAppend("taken", 2, task_events(1), "w", head=heads["taken"]),
            RunAppend("unknown", 2, task_events(1), "w"),
        ]
    )
    assert [type(o).__name__ for o in outcomes] == ["list", "AppendConflict", "AppendConflict", "list"]
    appended = succeeded(outcomes[0])
    assert appended[0].prev_hash == heads["ok"][0] and storage.log.read("ok")[2:] == appended
    assert storage.log.run("ok").head_hash == appended[-1].hash
    assert [storage.log.run(r).head_seq for r in ("stale", "taken", "unknown")] == [3, 2, 3]
    wrong = ("0" * 64, appended[-1].ts)  # a head not so: the batch goes after the stored one
    again = succeeded(
        storage.log.append_many([RunAppend("ok", 4, task_events(1, start=7), "w", head=wrong)])[0]
    )
    assert again[0].prev_hash == appended[-1].hash
    assert verify_events(storage.log.read("ok")).ok


def test_a_releasing_batch_gives_the_lease_up_with_its_events(storage: Storage) -> None:
    for run_id in ("ended", "kept", "taken", "stale"):
        driven(storage, run_id, "w")
    storage.log.take_over("taken", "other", TTL)
    storage.log.append("stale", 2, task_events(1), owner="w")
    lasts = {run_id: storage.log.read(run_id)[-1] for run_id in ("ended", "kept")}
    heads = {run_id: (last.hash, last.ts) for run_id, last in lasts.items()}
    end = [*task_events(1), NewEvent(None, "run.succeeded", {})]
    outcomes = storage.log.append_many(
        [
            RunAppend("ended", 2, end, "w", head=heads["ended"], release=True),
            RunAppend("kept", 2, task_events(1), "w", head=heads["kept"]),
            RunAppend("taken", 2, end, "w", release=True),  # refused: the lease stays the other's
            RunAppend("stale", 2, end, "w", release=True),  # refused: the lease stays
        ]
    )
    assert [type(o).__name__ for o in outcomes] == ["list", "list", "AppendConflict", "AppendConflict"]
    runs = {run_id: storage.log.run(run_id) for run_id in ("ended", "kept", "taken", "stale")}
    assert [(r.state, r.owner, r.lease_expires_at is None) for r in runs.values()] == [
        ("SUCCEEDED", None, True), ("RUNNING", "w", False),
        ("RUNNING", "other", False), ("RUNNING", "w", False),
    ]  # fmt: skip
    assert storage.log.heartbeat("ended", "w", TTL) is False  # nothing of it is held any more
    # after a head not known (read first) as after one known
    again = storage.log.append_many([RunAppend("kept", 3, end, "w", release=True)])[0]
    assert [e.type for e in succeeded(again)] == ["task.running", "run.succeeded"]
    assert (storage.log.run("kept").owner, storage.log.run("kept").lease_expires_at) == (None, None)
    assert verify_events(storage.log.read("kept")).ok


def test_a_last_batch_after_a_known_head_gives_the_lease_up_only_if_still_held(storage: Storage) -> None:
    for run_id in ("ended", "taken", "stale"):
        driven(storage, run_id, "w")
    heads = {
        run_id: (storage.log.read(run_id)[-1].hash, storage.log.read(run_id)[-1].ts)
        for run_id in ("ended", "taken", "stale")
    }
    storage.log.take_over("taken", "other", TTL)
    storage.log.append("stale", 2, task_events(1), owner="w")
    end = [*task_events(1), NewEvent(None, "run.succeeded", {})]
    outcomes = [
        storage.log.append_many([RunAppend(run_id, 2, end, "w", head=heads[run_id], release=True)])[0]
        for run_id in ("ended", "taken", "stale")
    ]
    assert [type(o).__name__ for o in outcomes] == ["list", "AppendConflict", "AppendConflict"]
    runs = [storage.log.run(run_id) for run_id in ("ended", "taken", "stale")]
    assert [(r.state, r.head_seq, r.owner, r.lease_expires_at is None) for r in runs] == [
        ("SUCCEEDED", 4, None, True), ("RUNNING", 2, "other", False), ("RUNNING", 3, "w", False),
    ]  # fmt: skip
    assert storage.log.run("ended").head_hash == succeeded(outcomes[0])[-1].hash
    assert verify_events(storage.log.read("ended")).ok


def test_malformed_batches_are_refused_before_any_write(storage: Storage) -> None:
    for run_id in ("r1", "r2"):
        driven(storage, run_id, "w")
    outcomes = storage.log.append_many(
        [
            RunAppend("new", 0, [created()]),  # a run is created with append
            RunAppend("r1", 2, [NewEvent("t", "task.exploded", {})], "w"),
            RunAppend("r2", 2, [NewEvent("t", "task.running", {"x": {1, 2}})], "w"),
            RunAppend("r2", 2, task_events(1), "w"),  # accepted: the refused one wrote nothing
            RunAppend("r2", 3, task_events(1), "w"),  # a second batch of one run
        ]
    )
    assert [type(o) for o in outcomes] == [InvalidAppend, InvalidAppend, PayloadNotJSON, list, InvalidAppend]
    assert [storage.log.run(r).head_seq for r in ("r1", "r2")] == [2, 3]
    with pytest.raises(RunNotFound):
        storage.log.run("new")


def test_unfenced_batches_append_whoever_holds_the_lease(storage: Storage) -> None:
    new_run(storage.log, "r1", tasks=1)
    outcome = storage.log.append_many([RunAppend("r1", 2, [NewEvent(None, "run.cancelled", {})])])[0]
    assert [e.type for e in succeeded(outcome)] == ["run.cancelled"]
    assert storage.log.run("r1").state == "CANCELLED"


def test_concurrent_groups_and_heartbeats_never_deadlock(storage: Storage) -> None:
    run_ids = [f"r{i:02d}" for i in range(12)]
    for run_id in run_ids:
        driven(storage, run_id, "w")
    errors: list[BaseException] = []

    def append_groups(order: list[str]) -> None:
        try:
            for _ in range(8):
                heads = {run_id: storage.log.run(run_id).head_seq for run_id in order}
                storage.log.append_many([RunAppend(r, heads[r], task_events(1), "w") for r in order])
                assert storage.log.heartbeat_many(reversed(order), "w", TTL) == set(order)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=append_groups, args=(order,))
        for order in (run_ids, run_ids[::-1], run_ids[::2] + run_ids[1::2])
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for run_id in run_ids:
        events = storage.log.read(run_id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert len(events) >= 2 + 8  # one writer at least got each round through


def test_heartbeat_many_extends_only_the_holders_leases(storage: Storage) -> None:
    for run_id in ("a1", "a2", "b1"):
        unleased_run(storage, run_id)
    storage.log.take_over("a1", "a", TTL, now=at(0))
    storage.log.take_over("a2", "a", TTL, now=at(0))
    storage.log.take_over("b1", "b", TTL, now=at(0))
    held = storage.log.heartbeat_many(["a1", "a2", "b1", "nope"], "a", TTL, now=at(20))
    assert held == {"a1", "a2"}
    assert [storage.log.run(r).lease_expires_at for r in ("a1", "a2", "b1")] == [at(20 + TTL)] * 2 + [at(TTL)]
    assert storage.log.heartbeat_many([], "a", TTL) == set()
    storage.log.release("a2", "a")
    assert storage.log.heartbeat_many(["a1", "a2"], "a", TTL, now=at(TTL + 40)) == {"a1"}  # lapsed, kept
    assert storage.log.run("a2").owner is None


def test_release_many_clears_only_the_holders_leases(storage: Storage) -> None:
    for run_id in ("a1", "a2", "b1"):
        unleased_run(storage, run_id)
        storage.log.take_over(run_id, run_id[0], TTL, now=at(0))
    storage.log.release_many(["a1", "a2", "b1", "nope"], "a")
    assert [(storage.log.run(r).owner, storage.log.run(r).lease_expires_at) for r in ("a1", "a2", "b1")] == [
        (None, None), (None, None), ("b", at(TTL)),
    ]  # fmt: skip
    storage.log.release_many([], "a")


def test_lapse_many_makes_the_holders_runs_claimable_at_once(storage: Storage) -> None:
    now = datetime.now(UTC)
    for run_id in ("a1", "b1"):
        unleased_run(storage, run_id, ts=now)
        storage.log.take_over(run_id, run_id[0], TTL, now=now)
    assert storage.log.claim_crashed("c", TTL) == []
    storage.log.lapse_many(["a1", "b1", "nope"], "a", now=now)
    assert storage.log.run("a1").lease_expires_at == now
    assert storage.log.claim_crashed("c", TTL) == ["a1"]
    assert storage.log.run("b1").owner == "b"


def test_read_many_reads_whole_logs(storage: Storage) -> None:
    new_run(storage.log, "r1", tasks=2)
    new_run(storage.log, "r2", tasks=0)
    logs = storage.log.read_many(["r2", "r1", "nope"])
    assert logs == {"r1": storage.log.read("r1"), "r2": storage.log.read("r2")}
    assert [e.seq for e in logs["r1"]] == [1, 2, 3]
    assert storage.log.read_many([]) == {}


def test_get_many_reads_the_standing_requests(storage: Storage) -> None:
    requests = storage.cancel_requests
    assert requests.get_many([]) == {}
    first = requests.request("r1", "alice", "wrong inputs", now=datetime(2026, 1, 1, tzinfo=UTC))
    requests.request("r3", "bob")
    found = requests.get_many(["r1", "r2", "r3"])
    assert set(found) == {"r1", "r3"} and found["r1"] == first
    assert found["r3"] == requests.get("r3")
