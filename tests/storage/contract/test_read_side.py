"""The read side of the event log: stored rows that verify, run ids, drivers, filtered runs."""

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.replay.verify import verify_all, verify_run
from ledgerflow.storage import GENESIS_HASH, RunNotFound, Storage

from ..builders import created, new_run, task_events

T0 = datetime(2026, 2, 1, 9, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_stored_rows_stream_the_chain_with_the_head(storage: Storage) -> None:
    new_run(storage.log, "r1", tasks=4)
    written = storage.log.read("r1")
    with storage.log.read_rows("r1") as stored:
        rows = list(stored.rows)
    assert stored.run_id == "r1" and stored.head == (5, written[-1].hash)
    assert [row[0] for row in rows] == [1, 2, 3, 4, 5]
    assert [(row[1], row[2], row[5], row[6]) for row in rows] == [
        (e.task_key, e.type, e.prev_hash, e.hash) for e in written
    ]
    assert rows[0][5] == GENESIS_HASH


def test_stored_rows_verify_and_up_to_the_head(storage: Storage) -> None:
    new_run(storage.log, "r1", tasks=9)
    report = verify_run(storage, "r1")
    assert (report.ok, report.first_bad_seq, report.events_checked) == (True, None, 10)
    with storage.log.read_rows("r1", upto_head=True) as stored:
        assert len(list(stored.rows)) == 10


def test_stored_rows_of_an_unknown_run(storage: Storage) -> None:
    with pytest.raises(RunNotFound):
        storage.log.read_rows("nope").__enter__()


def test_run_ids_are_sorted_and_every_run_verifies(storage: Storage) -> None:
    for run_id in ("b", "a", "c"):
        new_run(storage.log, run_id, tasks=2)
    assert storage.log.run_ids() == ["a", "b", "c"]
    assert {run_id: report.ok for run_id, report in verify_all(storage).items()} == dict.fromkeys("abc", True)


def test_last_drivers_name_the_latest_run_running(storage: Storage) -> None:
    storage.log.append("a", 0, [created()])
    storage.log.append("a", 1, [NewEvent(None, "run.running", {"owner": "w1"})])
    storage.log.append("a", 2, [NewEvent(None, "run.failed", {"reason": "x"})])
    storage.log.append("a", 3, [NewEvent(None, "run.running", {"owner": "w2"})])
    storage.log.append("b", 0, [created()])
    assert storage.log.last_drivers(["a", "b", "nope"]) == {"a": "w2"}
    assert storage.log.last_drivers([]) == {}


def created_at(storage: Storage, run_id: str, seconds: float, flow: str, state: str = "PENDING") -> None:
    payload = {"flow": flow, "state": state}
    storage.log.append(run_id, 0, [NewEvent(None, "run.created", payload, at(seconds))])


def test_runs_and_counts_filter_by_flow_state_and_creation_time(storage: Storage) -> None:
    created_at(storage, "a1", 0, "a")
    created_at(storage, "a2", 10, "a", "SCHEDULED")
    created_at(storage, "b1", 20, "b")
    storage.log.append("b1", 1, [NewEvent(None, "run.running", {"owner": "w"}, at(20))])
    storage.log.take_over("b1", "w", 30.0, now=at(20))  # lapses at 50: CRASHED after
    created_at(storage, "a3", 30, "a")
    storage.log.append("a3", 1, [NewEvent(None, "run.succeeded", {}, at(31))])
    now = at(100)
    assert [r.id for r in storage.log.runs(now=now)] == ["a3", "b1", "a2", "a1"]
    assert [r.id for r in storage.log.runs(now=now, flow="a")] == ["a3", "a2", "a1"]
    assert [r.id for r in storage.log.runs(now=now, since=at(10), until=at(30))] == ["b1", "a2"]
    assert [r.id for r in storage.log.runs(now=now, states=["CRASHED", "SUCCEEDED"])] == ["a3", "b1"]
    assert [r.id for r in storage.log.runs(now=at(40), states=["RUNNING"])] == ["b1"]
    assert storage.log.runs(now=now, states=[]) == []
    assert [r.id for r in storage.log.runs(2, now=now, flow="a")] == ["a3", "a2"]
    for at_most in (None, 10):  # counted whole, or stopping early: the same while below it
        counts = partial(storage.log.run_counts, at_most=at_most)
        assert counts(now=now) == {"PENDING": 1, "SCHEDULED": 1, "CRASHED": 1, "SUCCEEDED": 1}
        assert counts(now=at(40), flow="b") == {"RUNNING": 1}
        assert counts(now=now, since=at(25)) == {"SUCCEEDED": 1}


def test_runs_page_after_a_run_in_listing_order(storage: Storage) -> None:
    for number, seconds in enumerate((0, 10, 10, 10, 20, 30)):  # three created at the same time
        created_at(storage, f"r{number}", seconds, "a" if number % 2 else "b")
    every = [r.id for r in storage.log.runs(now=at(100))]
    assert every == ["r5", "r4", "r3", "r2", "r1", "r0"]
    pages, before = [], None
    while page := storage.log.runs(2, now=at(100), before=before):
        pages.append([r.id for r in page])
        before = page[-1].id
    assert pages == [["r5", "r4"], ["r3", "r2"], ["r1", "r0"]]
    assert [r.id for r in storage.log.runs(now=at(100), before="r3", flow="a")] == ["r1"]
    assert [r.id for r in storage.log.runs(1, now=at(100), before="r5", since=at(10))] == ["r4"]
    assert storage.log.runs(now=at(100), before="r0") == []
    with pytest.raises(RunNotFound):
        storage.log.runs(now=at(100), before="nope")


def test_counts_stop_past_at_most(storage: Storage) -> None:
    for number in range(5):
        created_at(storage, f"p{number}", number, "a")
    for number in range(2):
        created_at(storage, f"s{number}", 10 + number, "b", "SCHEDULED")
    now = at(100)
    assert storage.log.run_counts(now=now) == {"PENDING": 5, "SCHEDULED": 2}
    assert storage.log.run_counts(now=now, at_most=3) == {"PENDING": 4, "SCHEDULED": 2}
    assert storage.log.run_counts(now=now, at_most=0) == {"PENDING": 1, "SCHEDULED": 1}
    assert storage.log.run_counts(now=now, at_most=2, flow="a", since=at(2)) == {"PENDING": 3}
    assert storage.log.run_counts(now=now, at_most=9, flow="c") == {}
    with pytest.raises(ValueError, match="0 runs or more"):
        storage.log.run_counts(now=now, at_most=-1)


def test_read_returns_payloads_of_the_callers_own(storage: Storage) -> None:
    written = storage.log.append("r1", 0, [created(parameters={"x": [1]})])
    written[0].payload["parameters"]["x"].append(2)
    first = storage.log.read("r1")[0]
    first.payload["flow"] = "changed"
    assert storage.log.read("r1")[0].payload == {"flow": "flow", "parameters": {"x": [1]}}


def test_appends_after_a_later_stamp_keep_ts_in_order(storage: Storage) -> None:
    future = datetime.now(UTC) + timedelta(hours=1)
    storage.log.append("r1", 0, [NewEvent(None, "run.created", {"flow": "f"}, future)])
    later = storage.log.append("r1", 1, task_events(1))
    assert later[0].ts == future  # never before the last event of the run
