"""The SQL event log, on SQLite and PostgreSQL: the read model rebuilt, corrupt rows, appends
whose commit outcome was unknown, a seq taken under a batch (the port: ``contract/``)."""

import pytest
import sqlalchemy as sa

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.storage import (
    AppendConflict,
    CorruptEvent,
    Storage,
    StorageUnavailable,
    rebuild_read_model,
)
from ledgerflow.storage.sql_log import SqlEventLog

from .builders import created, execute, new_run, task_events


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
