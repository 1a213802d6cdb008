"""Hash-chain verification finds each kind of tampering at the exact seq, on both databases."""

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledgerflow.engine.core.events import Event
from ledgerflow.replay import (
    Checkpoint,
    InvalidCheckpoint,
    VerifyReport,
    parse_checkpoint,
    verify_all,
    verify_events,
    verify_run,
)
from ledgerflow.storage import RunNotFound, Storage, open_storage
from ledgerflow.storage.codec import ChainHasher, canonical_payload, format_ts, ts_json

from ..storage.builders import execute, new_run, task_events

RUN = "run-v"


@pytest.fixture
def run(storage: Storage) -> Storage:
    """A run of 10 events (seq 1..10) in ``storage``."""
    new_run(storage.log, RUN, tasks=9)
    return storage


def db_ts(storage: Storage, ts: datetime) -> object:
    """A timestamp as raw SQL should bind it (SQLite keeps naive UTC text)."""
    if storage.database.dialect.name == "sqlite":
        return ts.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return ts


def bad_at(report: VerifyReport, seq: int) -> None:
    assert not report.ok, report
    assert report.first_bad_seq == seq, report
    assert report.reason


def test_intact_log_verifies(run: Storage) -> None:
    report = verify_run(run, RUN)
    assert report == VerifyReport(True, None, None, 10)
    assert verify_run(run.database, RUN).ok
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
    execute(run.database, sql + " AND run_id = :run", run=RUN, **params)
    bad_at(verify_run(run, RUN), 5)


def test_deleted_middle_row_is_found_at_the_missing_seq(run: Storage) -> None:
    execute(run.database, "DELETE FROM events WHERE run_id = :run AND seq = 4", run=RUN)
    bad_at(verify_run(run, RUN), 4)


def test_deleted_tail_is_found_against_the_head(run: Storage) -> None:
    execute(run.database, "DELETE FROM events WHERE run_id = :run AND seq >= 8", run=RUN)
    assert verify_events(run.log.read(RUN)).ok  # a prefix alone looks intact
    bad_at(verify_run(run, RUN), 8)


def test_deleted_tail_is_found_against_a_checkpoint(run: Storage) -> None:
    checkpoint = (run.log.read(RUN)[-1].seq, run.log.read(RUN)[-1].hash)
    execute(run.database, "DELETE FROM events WHERE run_id = :run AND seq = 10", run=RUN)
    execute(run.database, "DELETE FROM runs WHERE run_id = :run", run=RUN)
    bad_at(verify_events(run.log.read(RUN), checkpoint), 10)


def test_every_row_deleted(run: Storage) -> None:
    execute(run.database, "DELETE FROM events WHERE run_id = :run", run=RUN)
    bad_at(verify_run(run, RUN), 1)


def _forge(run: Storage, seq: int, prev_hash: str, *, is_hash_valid: bool) -> None:
    ts = datetime(2026, 1, 1, tzinfo=UTC)
    payload = '{"attempt":1}'
    digest = ChainHasher(RUN).hash(prev_hash, seq, "forged", "task.running", payload, ts)
    execute(
        run.database,
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
    execute(run.database, sql, run=RUN, d=1000, s=seq)
    execute(run.database, sql, run=RUN, d=-999, s=1000)


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
    assert verify_events(run.log.read(RUN)).ok
    bad_at(verify_run(run, RUN), 11)


def test_reordered_rows_are_found(run: Storage) -> None:
    sql = "UPDATE events SET seq = :new WHERE run_id = :run AND seq = :old"
    execute(run.database, sql, run=RUN, old=4, new=-4)
    execute(run.database, sql, run=RUN, old=6, new=4)
    execute(run.database, sql, run=RUN, old=-4, new=6)
    bad_at(verify_run(run, RUN), 4)


def test_broken_prev_hash_link_is_found(run: Storage) -> None:
    execute(
        run.database,
        "UPDATE events SET prev_hash = :h WHERE run_id = :run AND seq = 7",
        run=RUN,
        h="a" * 64,
    )
    bad_at(verify_run(run, RUN), 7)


def test_rows_passed_out_of_order_are_found() -> None:
    rows = _chain(5)
    bad_at(verify_events([rows[0], rows[2], rows[1], *rows[3:]]), 2)
    bad_at(verify_events([*rows[:3], rows[2], *rows[3:]]), 4)


def _chain(count: int) -> list[Event]:
    hasher, prev, rows = ChainHasher("r"), "0" * 64, []
    ts = datetime(2026, 1, 1, tzinfo=UTC)
    for seq in range(1, count + 1):
        digest = hasher.hash(prev, seq, None, "task.running", "{}", ts)
        rows.append(Event("r", seq, None, "task.running", {}, ts, prev, digest))
        prev = digest
    return rows


def _rewrite_from(run: Storage, seq: int) -> None:
    """Edit seq ``seq`` and re-chain every later row and the head: a self-consistent chain."""
    hasher, rows = ChainHasher(RUN), run.log.read(RUN)
    prev = rows[seq - 2].hash if seq > 1 else "0" * 64
    for row in rows[seq - 1 :]:
        payload = '{"attempt":7}' if row.seq == seq else canonical_payload(row.payload).decode()
        digest = hasher.hash(prev, row.seq, row.task_key, row.type, payload, row.ts)
        execute(
            run.database,
            "UPDATE events SET payload = :p, prev_hash = :prev, hash = :h WHERE run_id = :run AND seq = :s",
            p=payload, prev=prev, h=digest, run=RUN, s=row.seq,
        )  # fmt: skip
        prev = digest
    execute(run.database, "UPDATE runs SET head_hash = :h WHERE run_id = :run", h=prev, run=RUN)


def _truncate_from(run: Storage, seq: int) -> None:
    """Delete seq >= ``seq`` and move the head back: the prefix is a valid chain."""
    last = run.log.read(RUN, upto_seq=seq - 1)[-1]
    execute(run.database, "DELETE FROM events WHERE run_id = :run AND seq >= :s", run=RUN, s=seq)
    execute(run.database, "UPDATE runs SET head_seq = :seq, head_hash = :h WHERE run_id = :run",
            seq=last.seq, h=last.hash, run=RUN)  # fmt: skip


def _kept(run: Storage, *, with_history: bool) -> Checkpoint:
    """The checkpoint an auditor keeps from an export: the head, and every hash if asked."""
    events = run.log.read(RUN)
    history = {event.seq: event.hash for event in events} if with_history else {}
    return Checkpoint(events[-1].seq, events[-1].hash, RUN, history)


def test_a_kept_checkpoint_finds_a_truncated_tail_whose_head_was_moved(run: Storage) -> None:
    kept = _kept(run, with_history=False)
    _truncate_from(run, 7)
    assert verify_run(run, RUN).ok  # the read model's head was moved too
    bad_at(verify_run(run, RUN, kept), 7)


def test_a_kept_checkpoint_finds_a_wholesale_rewrite(run: Storage) -> None:
    head, history = _kept(run, with_history=False), _kept(run, with_history=True)
    _rewrite_from(run, 4)
    assert verify_run(run, RUN).ok  # every hash and the head are consistent
    bad_at(verify_run(run, RUN, head), 10)  # only the head is known: found there
    report = verify_run(run, RUN, history)
    bad_at(report, 4)  # every exported hash is known: found where the rewrite starts
    assert report.reason is not None and "rewritten from seq 4" in report.reason


def test_a_run_that_went_on_verifies_against_an_earlier_checkpoint(run: Storage) -> None:
    kept = _kept(run, with_history=True)
    run.log.append(RUN, 10, task_events(3, start=9))
    assert verify_run(run, RUN, kept) == VerifyReport(True, None, None, 13)
    assert verify_run(run, RUN, parse_checkpoint(str(kept))).ok


def test_a_checkpoint_of_another_run_is_refused(run: Storage) -> None:
    with pytest.raises(InvalidCheckpoint, match="of run other"):
        verify_run(run, RUN, Checkpoint(1, "a" * 64, "other"))


@pytest.mark.parametrize(
    ("text", "problem"),
    [("12", "not SEQ:HASH"), ("x:" + "a" * 64, "not SEQ:HASH"), ("0:" + "a" * 64, "not a seq"),
     ("3:abc", "not a hash"), ("3:" + "g" * 64, "not a hash")],
)  # fmt: skip
def test_a_malformed_checkpoint_is_named(text: str, problem: str) -> None:
    with pytest.raises(InvalidCheckpoint, match=problem):
        parse_checkpoint(text)


def test_verify_all_reports_every_run_including_one_without_a_runs_row(storage: Storage) -> None:
    for run_id in ("a", "b", "c", "d"):
        new_run(storage.log, run_id, tasks=3)
    execute(storage.database, "UPDATE events SET type = 'task.failed' WHERE run_id = 'b' AND seq = 3")
    execute(storage.database, "DELETE FROM runs WHERE run_id = 'c'")
    reports = verify_all(storage)
    assert list(reports) == ["a", "b", "c", "d"]
    assert reports["a"] == reports["d"] == VerifyReport(True, None, None, 4)
    bad_at(reports["b"], 3)
    assert not reports["c"].ok and "no runs row" in str(reports["c"].reason)
    assert verify_all(storage.database) == reports


def test_unknown_run_raises(storage: Storage) -> None:
    with pytest.raises(RunNotFound):
        verify_run(storage, "nope")


def test_a_stored_ts_that_is_not_a_timestamp_is_a_bad_row(tmp_path: Path) -> None:
    """Only SQLite can hold one (it stores timestamps as text; PostgreSQL's column refuses)."""
    with open_storage(f"sqlite:///{tmp_path / 'text-ts.db'}", tmp_path) as sqlite:
        new_run(sqlite.log, RUN)
        sql = "UPDATE events SET ts = 'yesterday' WHERE run_id = :run AND seq = 6"
        execute(sqlite.database, sql, run=RUN)
        report = verify_run(sqlite, RUN)
    bad_at(report, 6)
    assert "cannot be encoded" in str(report.reason)


def test_stored_rows_and_decoded_events_hash_alike() -> None:
    """The codec reads ts text as the database layer does: naive text is UTC."""
    hasher = ChainHasher("r%s%%")  # a run id with % signs: the template must not format them
    aware = datetime(2026, 3, 4, 5, 6, 7, 8, tzinfo=UTC)
    expected = orjson.dumps(
        {"payload": {"a": 1}, "run_id": "r%s%%", "seq": 2, "task_key": None,
         "ts": "2026-03-04T05:06:07.000008+00:00", "type": "task.running"},
        option=orjson.OPT_SORT_KEYS,
    )  # fmt: skip
    shifted = aware.astimezone(timezone(timedelta(hours=-3)))
    texts = ("2026-03-04 05:06:07.000008", "2026-03-04T05:06:07.000008+00:00",
             "2026-03-04T06:06:07.000008+01:00")  # fmt: skip
    for ts in (aware, shifted, *texts):
        assert hasher.canonical(2, None, "task.running", '{"a":1}', ts) == expected, ts


def test_rows_of_two_runs_are_a_break_at_the_stray_row() -> None:
    rows, other = _chain(5), _chain(5)
    stray = Event("other", 3, None, "task.running", {}, other[2].ts, other[1].hash, other[2].hash)
    bad_at(verify_events([*rows[:2], stray, *rows[3:]]), 3)


_INSTANTS = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30))
_OFFSETS = st.sampled_from([
    UTC, timezone(timedelta(0)), timezone(timedelta(hours=5, minutes=30)),
    timezone(timedelta(hours=-8)), ZoneInfo("Etc/UTC"), ZoneInfo("Europe/Paris"),
])  # fmt: skip


@given(_INSTANTS, _OFFSETS)
def test_ts_json_is_format_ts_for_every_datetime_and_its_texts(naive: datetime, zone: tzinfo) -> None:
    """The fast paths of the codec give exactly ``format_ts``: an aware datetime, its ISO
    text (as exported), and naive UTC text (as SQLite stores it)."""
    aware = naive.replace(tzinfo=zone)
    expected = orjson.dumps(format_ts(aware))
    utc = aware.astimezone(UTC).replace(tzinfo=None)
    texts = (aware.isoformat(), utc.isoformat(" ", "microseconds"), utc.isoformat())
    assert [ts_json(form) for form in (aware, *texts)] == [expected] * 4
