"""The EventLog contract, on SQLite and PostgreSQL."""

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.storage import (
    AppendConflict,
    CorruptEvent,
    InvalidAppend,
    PayloadNotJSON,
    RunNotFound,
    Storage,
    StorageUnavailable,
    rebuild_read_model,
)
from ledgerflow.storage.codec import GENESIS_HASH
from ledgerflow.storage.sql_log import SqlEventLog

from .builders import created, execute, new_run, task_events


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


def test_rebuild_read_model_equals_live(storage: Storage) -> None:
    new_run(storage.log, "a", tasks=3)
    storage.log.append("b", 0, [created(flow="other")])
    storage.log.append("b", 1, [NewEvent(None, "run.running", {"owner": "w1"}), *task_events(2)])
    storage.log.append("b", 4, [NewEvent(None, "run.failed", {"reason": "x"})])
    before = storage.log.runs()
    execute(storage.database, "DELETE FROM runs")
    assert storage.log.runs() == []
    assert rebuild_read_model(storage.database) == 2
    assert storage.log.runs() == before


@pytest.mark.parametrize(
    ("column", "value", "reason"),
    [("payload", "{not json", "not valid JSON"), ("payload", "[1]", "not an object"),
     ("type", "task.exploded", "unknown event type")],
)  # fmt: skip
def test_corrupt_row_raises_corrupt_event(storage: Storage, column: str, value: str, reason: str) -> None:
    new_run(storage.log, "r1", tasks=4)
    execute(storage.database, f"UPDATE events SET {column} = :v WHERE seq = 3", v=value)
    with pytest.raises(CorruptEvent, match=reason) as info:
        storage.log.read("r1")
    assert (info.value.run_id, info.value.seq) == ("r1", 3)
    with storage.database.connect() as connection:  # every row is still stored
        assert connection.execute(sa.text("SELECT count(*) FROM events WHERE run_id = 'r1'")).scalar() == 5


def test_commit_with_unknown_outcome_is_not_written_twice(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection dies after the commit went through: the retry finds our rows."""
    new_run(storage.log, "r1", tasks=1)
    real = SqlEventLog._append_once
    calls = []

    def commit_then_fail(self: SqlEventLog, *args: object) -> object:
        calls.append(1)
        result = real(self, *args)  # type: ignore[arg-type]
        if len(calls) == 1:
            raise StorageUnavailable("connection lost during commit")
        return result

    monkeypatch.setattr(SqlEventLog, "_append_once", commit_then_fail)
    written = storage.log.append("r1", 2, task_events(3, start=1))
    assert len(calls) == 2
    assert storage.log.read("r1", after_seq=2) == written
    assert storage.log.run("r1").head_seq == 5


def test_genuine_conflict_after_unknown_outcome_is_still_a_conflict(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    new_run(storage.log, "r1", tasks=1)
    other = SqlEventLog(storage.database)
    real = SqlEventLog._append_once
    calls = []

    def lose_to_another_writer(self: SqlEventLog, *args: object) -> object:
        calls.append(1)
        if len(calls) == 1:
            other.append("r1", 2, [NewEvent("x", "task.running", {"attempt": 1})])
            raise StorageUnavailable("connection lost before commit")
        return real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(SqlEventLog, "_append_once", lose_to_another_writer)
    with pytest.raises(AppendConflict):
        storage.log.append("r1", 2, task_events(1, start=1))
    assert [e.task_key for e in storage.log.read("r1", after_seq=2)] == ["x"]


def test_a_writer_stamped_ts_is_kept(storage: Storage) -> None:
    stamped = datetime(2026, 3, 4, 5, 6, 7, 891011, tzinfo=timezone(timedelta(hours=2)))
    storage.log.append("r1", 0, [created()])
    written = storage.log.append("r1", 1, [NewEvent("t", "task.running", {"attempt": 1}, stamped)])
    assert written[0].ts == stamped and written[0].ts.tzinfo is UTC
    assert storage.log.read("r1")[1:] == written
    assert storage.log.run("r1").updated_at == stamped
    with pytest.raises(InvalidAppend, match="naive ts"):
        storage.log.append("r1", 2, [NewEvent("t", "task.running", {}, datetime(2026, 1, 1))])


@pytest.mark.parametrize("batch", [3, 100])  # 100 rows take the bulk (COPY) path on PostgreSQL
def test_a_taken_seq_inside_a_batch_is_a_conflict(storage: Storage, batch: int) -> None:
    new_run(storage.log, "r1", tasks=1)
    execute(
        storage.database,
        "INSERT INTO events (run_id, seq, task_key, type, payload, ts, prev_hash, hash) "
        "VALUES ('r1', 3, NULL, 'run.running', '{}', CURRENT_TIMESTAMP, 'x', 'y')",
    )
    with pytest.raises(AppendConflict, match="r1"):
        storage.log.append("r1", 2, task_events(batch))
    assert [e.seq for e in storage.log.read("r1")][-1] == 3  # nothing of the batch was written
