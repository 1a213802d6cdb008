"""Hash-chain verification finds each kind of tampering at the exact seq, on both databases."""

from datetime import UTC, datetime

import pytest

from ledgerflow.replay import VerifyReport, verify_events, verify_run
from ledgerflow.storage import RawEvent, Storage
from ledgerflow.storage.codec import ChainHasher

from ..storage.builders import execute, new_run

RUN = "run-v"


@pytest.fixture
def run(storage: Storage) -> Storage:
    """A run of 10 events (seq 1..10) in ``storage``."""
    new_run(storage.log, RUN, tasks=9)
    return storage


def db_ts(storage: Storage, ts: datetime) -> object:
    """A timestamp as raw SQL should bind it (SQLite keeps naive UTC text)."""
    if storage.engine.dialect.name == "sqlite":
        return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return ts


def bad_at(report: VerifyReport, seq: int) -> None:
    assert not report.ok, report
    assert report.first_bad_seq == seq, report
    assert report.reason


def test_intact_log_verifies(run: Storage) -> None:
    report = verify_run(run, RUN)
    assert report == VerifyReport(True, None, None, 10)
    assert verify_run(run.engine, RUN).ok
    assert verify_events(run.log.read(RUN)).ok
    head = run.log.run(RUN)
    assert verify_events(run.log.read(RUN), (head.head_seq, head.head_hash)).ok


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        ("UPDATE events SET payload = :v WHERE seq = 5", {"v": '{"attempt":2}'}),
        ("UPDATE events SET payload = :v WHERE seq = 5", {"v": "{broken json"}),
        ("UPDATE events SET task_key = 'other' WHERE seq = 5", {}),
        ("UPDATE events SET type = 'task.failed' WHERE seq = 5", {}),
        ("UPDATE events SET ts = :v WHERE seq = 5", {"v": datetime(2020, 1, 1, tzinfo=UTC)}),
    ],
)
def test_edited_row_is_found(run: Storage, sql: str, params: dict) -> None:
    params = {k: db_ts(run, v) if isinstance(v, datetime) else v for k, v in params.items()}
    execute(run.engine, sql + " AND run_id = :run", run=RUN, **params)
    bad_at(verify_run(run, RUN), 5)


def test_deleted_middle_row_is_found_at_the_missing_seq(run: Storage) -> None:
    execute(run.engine, "DELETE FROM events WHERE run_id = :run AND seq = 4", run=RUN)
    bad_at(verify_run(run, RUN), 4)


def test_deleted_tail_is_found_against_the_head(run: Storage) -> None:
    execute(run.engine, "DELETE FROM events WHERE run_id = :run AND seq >= 8", run=RUN)
    assert verify_events(run.log.read_raw(RUN)).ok  # a prefix alone looks intact
    bad_at(verify_run(run, RUN), 8)


def test_deleted_tail_is_found_against_a_checkpoint(run: Storage) -> None:
    checkpoint = (run.log.read(RUN)[-1].seq, run.log.read(RUN)[-1].hash)
    execute(run.engine, "DELETE FROM events WHERE run_id = :run AND seq = 10", run=RUN)
    execute(run.engine, "DELETE FROM runs WHERE run_id = :run", run=RUN)
    bad_at(verify_events(run.log.read_raw(RUN), checkpoint), 10)


def test_every_row_deleted(run: Storage) -> None:
    execute(run.engine, "DELETE FROM events WHERE run_id = :run", run=RUN)
    bad_at(verify_run(run, RUN), 1)


def _forge(run: Storage, seq: int, prev_hash: str, *, is_hash_valid: bool) -> None:
    ts = datetime(2026, 1, 1, tzinfo=UTC)
    payload = '{"attempt":1}'
    digest = ChainHasher(RUN).hash(prev_hash, seq, "forged", "task.running", payload, ts)
    execute(
        run.engine,
        "INSERT INTO events (run_id, seq, task_key, type, payload, ts, prev_hash, hash) "
        "VALUES (:run, :seq, 'forged', 'task.running', :payload, :ts, :prev, :hash)",
        run=RUN,
        seq=seq,
        payload=payload,
        ts=db_ts(run, ts),
        prev=prev_hash,
        hash=digest if is_hash_valid else "f" * 64,
    )


def _make_room_at(run: Storage, seq: int) -> None:
    """Shift seq >= ``seq`` up by one (in two steps: UNIQUE(run_id, seq) holds per row)."""
    sql = "UPDATE events SET seq = seq + :d WHERE run_id = :run AND seq >= :s"
    execute(run.engine, sql, run=RUN, d=1000, s=seq)
    execute(run.engine, sql, run=RUN, d=-999, s=1000)


def test_inserted_row_is_found(run: Storage) -> None:
    _make_room_at(run, 5)
    _forge(run, 5, run.log.read(RUN, upto_seq=4)[-1].hash, is_hash_valid=False)
    bad_at(verify_run(run, RUN), 5)


def test_inserted_row_with_a_forged_hash_breaks_the_next_link(run: Storage) -> None:
    _make_room_at(run, 5)
    _forge(run, 5, run.log.read(RUN, upto_seq=4)[-1].hash, is_hash_valid=True)
    bad_at(verify_run(run, RUN), 6)


def test_row_appended_beyond_the_head_is_found(run: Storage) -> None:
    _forge(run, 11, run.log.read(RUN)[-1].hash, is_hash_valid=True)
    assert verify_events(run.log.read_raw(RUN)).ok
    bad_at(verify_run(run, RUN), 11)


def test_reordered_rows_are_found(run: Storage) -> None:
    sql = "UPDATE events SET seq = :new WHERE run_id = :run AND seq = :old"
    execute(run.engine, sql, run=RUN, old=4, new=-4)
    execute(run.engine, sql, run=RUN, old=6, new=4)
    execute(run.engine, sql, run=RUN, old=-4, new=6)
    bad_at(verify_run(run, RUN), 4)


def test_broken_prev_hash_link_is_found(run: Storage) -> None:
    execute(
        run.engine,
        "UPDATE events SET prev_hash = :h WHERE run_id = :run AND seq = 7",
        run=RUN,
        h="a" * 64,
    )
    bad_at(verify_run(run, RUN), 7)


def test_rows_passed_out_of_order_are_found() -> None:
    rows = _chain(5)
    bad_at(verify_events([rows[0], rows[2], rows[1], *rows[3:]]), 2)
    bad_at(verify_events([*rows[:3], rows[2], *rows[3:]]), 4)


def _chain(count: int) -> list[RawEvent]:
    hasher, prev, rows = ChainHasher("r"), "0" * 64, []
    ts = datetime(2026, 1, 1, tzinfo=UTC)
    for seq in range(1, count + 1):
        digest = hasher.hash(prev, seq, None, "task.running", "{}", ts)
        rows.append(RawEvent("r", seq, None, "task.running", "{}", ts, prev, digest))
        prev = digest
    return rows
