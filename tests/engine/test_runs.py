"""Runs end to end on SQLite and PostgreSQL with threads: every transition is in the log."""

from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

import ledgerflow as lf
from ledgerflow.engine.core.fold import fold
from ledgerflow.engine.errors import InvalidParameter

from . import flows


def test_chain_maps_and_result(engine: lf.Engine) -> None:
    run = engine.run(flows.chain, n=3)
    assert run.state == "SUCCEEDED"
    assert run.result() == {"first": 6, "second": 6, "more": 13}
    assert {"inc[0]", "inc[2]", "total", "total-1", "inc-1", "inc-1[2]", "add", "inc-2"} <= set(
        run.tasks
    )
    assert run.tasks["inc-1"].state == "MAPPED"
    assert run.tasks["inc-1[1]"].state == "SUCCEEDED"


def test_every_transition_is_logged_gap_free_and_verifies(engine: lf.Engine) -> None:
    run = engine.run(flows.chain, n=3)
    events = engine.events(run.id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[0].type == "run.created" and events[-1].type == "run.succeeded"
    types = Counter(e.type for e in events if e.task_key == "inc[0]")
    assert types == {"task.running": 1, "task.succeeded": 1}
    report = engine.verify(run.id)
    assert report.ok and report.first_bad_seq is None


def test_replay_of_the_log_equals_the_live_state(engine: lf.Engine) -> None:
    run = engine.run(flows.mapped_twice, n=4)
    replayed = fold(engine.events(run.id))
    assert replayed == run.view
    assert engine.state_at(run.id) == run.view


def test_state_at_a_seq_shows_the_past(engine: lf.Engine) -> None:
    run = engine.run(flows.chain, n=2)
    early = engine.state_at(run.id, seq=2)
    assert early.state == "RUNNING" and all(t.state == "PENDING" for t in early.tasks.values())
    created = engine.events(run.id)[0].ts
    assert engine.state_at(run.id, at=created).state == "PENDING"


def test_dynamic_map_of_a_map_with_unmapped(engine: lf.Engine) -> None:
    run = engine.run(flows.mapped_twice, n=3, offset=10)
    assert run.result() == {"again": [11, 12, 13], "sum": 36}
    mapped = [e for e in engine.events(run.id) if e.type == "task.mapped"]
    assert [(e.task_key, e.payload["count"]) for e in mapped] == [("add", 3), ("inc", 3)]


def test_an_empty_dynamic_map(engine: lf.Engine) -> None:
    run = engine.run(flows.mapped_twice, n=0)
    assert run.result() == {"again": [], "sum": 0}


def test_failure_is_an_event_and_downstream_follows_triggers(engine: lf.Engine) -> None:
    run = engine.run(flows.failing)
    assert run.state == "FAILED"
    states = {key: task.state for key, task in run.tasks.items()}
    assert states == {
        "boom": "FAILED", "inc": "UPSTREAM_FAILED", "cleanup": "SUCCEEDED", "alert": "SUCCEEDED"
    }
    failed = next(e for e in engine.events(run.id) if e.type == "task.failed")
    error = failed.payload["error"]
    assert error["type"] == "builtins.ValueError" and error["message"] == "boom on 1"
    assert "raise ValueError" in error["traceback"]
    with pytest.raises(lf.RunFailed, match="boom on 1"):
        run.result()
    assert engine.verify(run.id).ok


def test_skip_propagates_and_the_run_succeeds_with_none(engine: lf.Engine) -> None:
    run = engine.run(flows.skipping)
    assert run.state == "SUCCEEDED"
    assert run.tasks["skipper"].state == "SKIPPED" and run.tasks["inc"].state == "SKIPPED"
    assert run.result() is None


def test_retries_are_events_with_attempts_and_due_times(engine: lf.Engine) -> None:
    run = engine.run(flows.retrying, x=7)
    assert run.result() == 7 and run.tasks["flaky"].attempts == 3
    retrying = [e for e in engine.events(run.id) if e.type == "task.retrying"]
    assert [e.payload["attempt"] for e in retrying] == [1, 2]
    assert [e.payload["delay"] for e in retrying] == [0.01, 0.02]  # exponential backoff
    assert all(e.payload["error"]["type"] == "builtins.OSError" for e in retrying)
    for event in retrying:  # retry_at is recorded, so replay never recomputes it
        assert event.payload["retry_at"] > event.ts.isoformat()


def test_retry_on_limits_which_errors_retry(engine: lf.Engine) -> None:
    run = engine.run(flows.not_retried)
    assert run.state == "FAILED" and run.tasks["wrong_kind"].attempts == 1


def test_timeout_fails_the_attempt_and_it_may_retry(engine: lf.Engine) -> None:
    run = engine.run(flows.timing_out, seconds=3.0)
    task = run.tasks["sleepy"]
    assert (task.state, task.attempts) == ("FAILED", 2)
    assert task.error is not None and task.error["type"] == "ledgerflow.TaskTimeout"


def test_unserializable_result_fails_the_task_and_keeps_the_log(engine: lf.Engine) -> None:
    run = engine.run(flows.unserializable)
    error = run.tasks["lock_maker"].error
    assert run.state == "FAILED" and error is not None
    assert error["type"] == "ledgerflow.ResultNotSerializable" and "lock" in error["message"]
    assert engine.verify(run.id).ok


def test_pickled_and_large_results_go_through_the_result_store(engine: lf.Engine) -> None:
    run = engine.run(flows.results_of_every_kind)
    assert run.result() == {"pickled": {(1, 2): {"a set", "of strings"}}, "big": list(range(2000))}
    stored = {key: run.tasks[key].result for key in ("pickled", "big")}
    assert stored["pickled"]["format"] == "pickle" and "ref" in stored["pickled"]
    assert stored["big"]["format"] == "json" and "inline" not in stored["big"]
    assert engine.get_run(run.id).result() == run.result()


@pytest.mark.parametrize(
    ("parameters", "message"),
    [({"n": {1, 2}}, "parameter 'n'.*JSON"), ({"m": 1}, "parameter 'm'.*unknown")],
)
def test_bad_parameters_are_refused_before_anything_is_written(
    engine: lf.Engine, parameters: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidParameter, match=message):
        engine.run(flows.chain, **parameters)
    assert engine.runs() == []


def test_group_commit_and_at_most_two_rows_per_task(engine: lf.Engine) -> None:
    batches: list[int] = []
    run = engine.run_flow(flows.wide, {"n": 200}, on_events=lambda evs: batches.append(len(evs)))
    task_events = [e for e in engine.events(run.id) if e.task_key is not None]
    assert len(task_events) == 2 * len(run.tasks)
    assert len(batches) < len(task_events) / 2  # completions were grouped into transactions


def test_runs_are_listed_newest_first(engine: lf.Engine) -> None:
    first = engine.run(flows.chain, n=1)
    second = engine.run(flows.failing)
    summaries = engine.runs()
    assert [s.run_id for s in summaries] == [second.id, first.id]
    assert [s.state for s in summaries] == ["FAILED", "SUCCEEDED"]


def test_flow_run_uses_the_default_engine_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGERFLOW_HOME", str(tmp_path))
    monkeypatch.delenv("LEDGERFLOW_DATABASE_URL", raising=False)
    monkeypatch.setattr("ledgerflow.engine.api._default", None)
    assert flows.chain(n=2) == {"first": 3, "second": 3, "more": 7}
    assert (tmp_path / "ledgerflow.db").exists()


@pytest.mark.parametrize(
    ("tamper", "bad_seq"),
    [
        ("UPDATE events SET payload = :edited WHERE run_id = :run AND seq = 4", 4),
        ("DELETE FROM events WHERE run_id = :run AND seq = 5", 5),
    ],
)
def test_verify_finds_an_edited_or_deleted_event(
    engine: lf.Engine, tamper: str, bad_seq: int
) -> None:
    run = engine.run(flows.chain, n=2)
    with engine.storage.database.begin() as connection:
        connection.execute(sa.text(tamper), {"run": run.id, "edited": '{"attempt":9}'})
    report = engine.verify(run.id)
    assert not report.ok and report.first_bad_seq == bad_seq


def test_a_dynamic_map_over_a_large_stored_result(engine: lf.Engine) -> None:
    # 400 numbers are more than the inline limit: the list goes to the result store, and
    # the map expands in the same step that records it, before the store is written.
    run = engine.run(flows.mapped_twice, n=400, offset=0)
    assert run.state == "SUCCEEDED"
    assert run.result()["sum"] == sum(range(1, 401))
    assert "ref" in (run.tasks["numbers"].result or {})
