"""The EventLog contract: append, read, conflicts, the runs read model."""

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.replay import verify_events
from ledgerflow.storage import (
    AppendConflict,
    InvalidAppend,
    PayloadNotJSON,
    RunNotFound,
    Storage,
)
from ledgerflow.storage.codec import GENESIS_HASH

from ..builders import created, new_run, task_events


def test_append_read_round_trip(storage: Storage) -> None:
    log = storage.log
    written = log.append("r1", 0, [created(parameters={"b": [1, 2.5], "a": None})])
    written += log.append("r1", 1, task_events(3))
    read = log.read("r1")
    assert read == written
    assert [e.seq for e in read] == [1, 2, 3, 4]
    assert read[0].payload == {"flow": "flow", "parameters": {"b": [1, 2.5], "a": None}}
    assert read[1].task_key == "t0" and read[1].type == "task.running"
    assert read[0].prev_hash == GENESIS_HASH
    assert all(a.hash == b.prev_hash for a, b in itertools.pairwise(read))
    assert all(e.ts.tzinfo is UTC for e in read)
    assert all(a.ts <= b.ts for a, b in itertools.pairwise(read))


@pytest.mark.parametrize("count", [3, 40])  # one INSERT, or COPY on PostgreSQL
def test_texts_that_need_escaping_round_trip_in_any_batch(storage: Storage, count: int) -> None:
    odd = ["tab\there", "new\nline", "back\\slash \\N", "cr\rhere", "é ☃ \\t", "\\"]
    events = [
        NewEvent(f"{odd[i % len(odd)]}[{i}]", "task.running", {"attempt": 1, "note": odd[-i % len(odd)]})
        for i in range(count)
    ]
    run_id = "run\\with\tescapes"
    written = storage.log.append(run_id, 0, [created(), *events])
    read = storage.log.read(run_id)
    assert read == written and [e.task_key for e in read[1:]] == [e.task_key for e in events]
    assert [e.payload["note"] for e in read[1:]] == [e.payload["note"] for e in events]
    assert storage.log.run(run_id).head_hash == read[-1].hash
    assert verify_events(read).ok


def test_read_ranges(storage: Storage) -> None:
    new_run(storage.log, "r1", tasks=9)
    assert [e.seq for e in storage.log.read("r1", after_seq=7)] == [8, 9, 10]
    assert [e.seq for e in storage.log.read("r1", after_seq=2, upto_seq=4)] == [3, 4]
    assert storage.log.read("r1", after_seq=10) == []


def test_unknown_run(storage: Storage) -> None:
    with pytest.raises(RunNotFound):
        storage.log.read("nope")
    with pytest.raises(RunNotFound):
        storage.log.run("nope")
    with pytest.raises(RunNotFound):
        storage.log.append("nope", 3, task_events(1))


def test_batch_append_is_gap_free(storage: Storage) -> None:
    log = storage.log
    log.append("r1", 0, [created(), *task_events(150)])
    log.append("r1", 151, task_events(100, start=150))
    seqs = [e.seq for e in log.read("r1")]
    assert seqs == list(range(1, 252))
    assert log.run("r1").head_seq == 251


def test_stale_expected_seq_conflicts(storage: Storage) -> None:
    new_run(storage.log, "r1", tasks=2)
    with pytest.raises(AppendConflict) as info:
        storage.log.append("r1", 1, task_events(1))
    assert info.value.run_id == "r1" and info.value.expected_seq == 1
    with pytest.raises(AppendConflict):
        storage.log.append("r1", 7, task_events(1))
    assert len(storage.log.read("r1")) == 3


def test_duplicate_run_id_conflicts(storage: Storage) -> None:
    storage.log.append("r1", 0, [created()])
    with pytest.raises(AppendConflict):
        storage.log.append("r1", 0, [created()])


def test_two_concurrent_writers_one_wins(storage: Storage) -> None:
    new_run(storage.log, "r1", tasks=0)
    barrier = threading.Barrier(4)

    def write(i: int) -> str:
        barrier.wait()
        try:
            storage.log.append("r1", 1, [NewEvent(f"w{i}", "task.running", {"attempt": 1})])
        except AppendConflict:
            return "conflict"
        return "ok"

    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(write, range(4)))
    assert outcomes == ["conflict", "conflict", "conflict", "ok"]
    assert [e.seq for e in storage.log.read("r1")] == [1, 2]


@pytest.mark.parametrize(
    ("expected_seq", "events", "match"),
    [
        (0, task_events(1), "must start with run.created"),
        (0, [created(), created()], "only be the run's first event"),
        (1, [created()], "only be the run's first event"),
        (0, [created(), NewEvent(None, "run.exploded", {})], "unknown event type"),
    ],
)
def test_malformed_appends_write_nothing(
    storage: Storage, expected_seq: int, events: list[NewEvent], match: str
) -> None:
    if expected_seq:
        storage.log.append("r1", 0, [created()])
    with pytest.raises(InvalidAppend, match=match):
        storage.log.append("r1", expected_seq, events)
    assert len(storage.log.runs()) == (1 if expected_seq else 0)


def test_non_json_payload_writes_nothing(storage: Storage) -> None:
    with pytest.raises(PayloadNotJSON, match="set"):
        storage.log.append("r1", 0, [created(tags={"a"})])
    with pytest.raises(RunNotFound):
        storage.log.run("r1")


def test_runs_newest_first_with_state_and_owner(storage: Storage) -> None:
    for name in ("a", "b", "c"):
        storage.log.append(name, 0, [created(flow=f"flow-{name}")])
    storage.log.append("b", 1, [NewEvent(None, "run.running", {"owner": "host:1"})])
    storage.log.append("c", 1, task_events(1))
    runs = storage.log.runs()
    assert [r.run_id for r in runs] == ["c", "b", "a"]
    assert [r.run_id for r in storage.log.runs(limit=2)] == ["c", "b"]
    b = storage.log.run("b")
    assert (b.flow, b.state, b.owner, b.head_seq) == ("flow-b", "RUNNING", "host:1", 2)
    assert b.head_hash == storage.log.read("b")[-1].hash
    assert b.created_at.tzinfo is UTC and b.updated_at >= b.created_at


def test_scheduled_run_state(storage: Storage) -> None:
    storage.log.append("s", 0, [created(state="SCHEDULED")])
    assert storage.log.run("s").state == "SCHEDULED"
    storage.log.append("s", 1, [NewEvent(None, "run.succeeded", {})])
    assert storage.log.run("s").state == "SUCCEEDED"


def test_a_writer_stamped_ts_is_kept(storage: Storage) -> None:
    stamped = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=timezone(timedelta(hours=2)))
    storage.log.append("r1", 0, [created()])
    written = storage.log.append("r1", 1, [NewEvent("t", "task.running", {"attempt": 1}, stamped)])
    assert written[0].ts == stamped and written[0].ts.tzinfo is UTC
    assert storage.log.read("r1")[1:] == written
    assert storage.log.run("r1").updated_at == stamped
    with pytest.raises(InvalidAppend, match="naive ts"):
        storage.log.append("r1", 2, [NewEvent("t", "task.running", {}, datetime(2026, 1, 1))])
