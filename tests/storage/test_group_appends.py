"""Group appends on SQL databases: a commit whose outcome was lost, and rows the read model
does not count (the contract suite holds the rest on every backend)."""

import pytest

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.storage import AppendConflict, RunAppend, SqlEventLog, Storage, StorageUnavailable
from ledgerflow.storage.sql_appends import GroupAppender

from .builders import execute, new_run, task_events


def test_a_group_committed_before_its_connection_died_is_not_written_twice(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    for run_id in ("r1", "r2"):
        new_run(storage.log, run_id, tasks=1)
    real = GroupAppender._write
    calls = []

    def commit_then_fail(self: GroupAppender, *args: object) -> bool:
        calls.append(1)
        written = real(self, *args)  # type: ignore[arg-type]
        if len(calls) == 1:
            raise StorageUnavailable("connection lost during commit")
        return written

    monkeypatch.setattr(GroupAppender, "_write", commit_then_fail)
    outcomes = storage.log.append_many([RunAppend(r, 2, task_events(2, start=1)) for r in ("r1", "r2")])
    assert len(calls) == 2
    assert outcomes == [storage.log.read(r, after_seq=2) for r in ("r1", "r2")]
    assert [storage.log.run(r).head_seq for r in ("r1", "r2")] == [4, 4]


def test_a_genuine_conflict_after_a_lost_outcome_stays_a_conflict(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    for run_id in ("r1", "r2"):
        new_run(storage.log, run_id, tasks=1)
    other = SqlEventLog(storage.database)  # type: ignore[arg-type]
    real = GroupAppender._write
    calls = []

    def lose_to_another_writer(self: GroupAppender, *args: object) -> bool:
        calls.append(1)
        if len(calls) == 1:
            other.append("r1", 2, [NewEvent("x", "task.running", {"attempt": 1})])
            raise StorageUnavailable("connection lost before commit")
        return real(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(GroupAppender, "_write", lose_to_another_writer)
    outcomes = storage.log.append_many([RunAppend(r, 2, task_events(1, start=1)) for r in ("r1", "r2")])
    assert isinstance(outcomes[0], AppendConflict)
    assert outcomes[1] == storage.log.read("r2", after_seq=2)
    assert [e.task_key for e in storage.log.read("r1", after_seq=2)] == ["x"]


@pytest.mark.parametrize("batch", [3, 100])  # 100 rows take the bulk (COPY) path on PostgreSQL
def test_a_row_the_read_model_does_not_count_fails_only_its_run(storage: Storage, batch: int) -> None:
    for run_id in ("r1", "r2"):
        new_run(storage.log, run_id, tasks=1)
    execute(
        storage.database,  # type: ignore[arg-type]
        "INSERT INTO events (run_id, seq, task_key, type, payload, ts, prev_hash, hash) "
        "VALUES ('r1', 3, NULL, 'run.running', '{}', CURRENT_TIMESTAMP, 'x', 'y')",
    )
    outcomes = storage.log.append_many([RunAppend(r, 2, task_events(batch)) for r in ("r1", "r2")])
    assert isinstance(outcomes[0], AppendConflict)
    assert outcomes[1] == storage.log.read("r2", after_seq=2) and len(outcomes[1]) == batch
    assert [e.seq for e in storage.log.read("r1")][-1] == 3  # nothing of r1's batch was written
