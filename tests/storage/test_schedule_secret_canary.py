"""A schedule with a secret parameter stores only its keyed hash: the runs it creates take
the value from ``LEDGERFLOW_SECRET_<NAME>`` of the worker, whose tasks get it; the value
reaches no table and no file, on SQLite and PostgreSQL."""

import textwrap
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path
from typing import Any

import pytest

import ledgerflow as lf
from ledgerflow.engine.flow_ref import load_flow
from ledgerflow.engine.schedule_runner import ScheduleRunner
from ledgerflow.engine.secrets import SecretHasher
from ledgerflow.storage import schema

from .test_secret_canary import _assert_no_canary, _everything_stored, _sqlite_files_checkpointed, _table_walk

CANARY = "canary-5f2b9c1e"
VISIBLE = "visible-label-7d1a"
FLOWS = textwrap.dedent(
    '''
    import hashlib

    import ledgerflow as lf


    @lf.task
    def connect(password: str, label: str) -> str:
        print(f"connecting as {label} with {password}")
        return f"{label}:{hashlib.sha256(password.encode()).hexdigest()}"


    @lf.flow
    def nightly(password: lf.Secret[str], label: str, fire_time: str = ""):
        return connect(password, label)
    '''
)


@pytest.fixture
def nightly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> lf.Flow[..., Any]:
    monkeypatch.delenv("LEDGERFLOW_SECRET_PASSWORD", raising=False)
    path = tmp_path / "scheduled_secret_flows.py"
    path.write_text(FLOWS)
    return load_flow(f"{path}:nightly")


def _backdate(engine: lf.Engine, name: str, hours: int) -> None:
    table = schema.schedules
    created = datetime.now(UTC) - timedelta(hours=hours)
    with engine.storage.database.begin() as connection:
        backdated = table.update().values(created_at=created, considered_until=created)
        connection.execute(backdated.where(table.c.name == name))


def test_a_scheduled_secret_is_stored_as_its_keyed_hash_and_given_by_the_worker(
    database_url: str, tmp_path: Path, nightly: lf.Flow[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        record = engine.schedule(
            "nightly", nightly, cron="0 * * * *", parameters={"password": CANARY, "label": VISIBLE}
        )
        marker = SecretHasher.for_home(tmp_path).marker(CANARY)
        assert record.parameters == {"password": marker, "label": VISIBLE}
        assert engine.storage.schedules.get("nightly").parameters == record.parameters
        _backdate(engine, "nightly", hours=2)
    monkeypatch.setenv("LEDGERFLOW_SECRET_PASSWORD", CANARY)
    with lf.Worker(database_url, home=tmp_path) as worker:
        driven = worker.run_once()  # creates the run of the latest missed hour and drives it
        run = worker.engine.get_run(driven[0])
        assert run.state == "SUCCEEDED"
        assert run.result() == f"{VISIBLE}:{sha256(CANARY.encode()).hexdigest()}"  # the task got it
        assert run.parameters["password"] == marker
        logs = [line.message for line in worker.engine.logs(run.id)]
        assert f"connecting as {VISIBLE} with ***" in logs
    _sqlite_files_checkpointed(database_url)
    _assert_no_canary(_everything_stored(database_url, tmp_path))


def test_a_scheduled_run_waits_for_its_secret_in_the_environment(
    database_url: str, tmp_path: Path, nightly: lf.Flow[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        engine.schedule("nightly", nightly, cron="0 * * * *", parameters={"password": CANARY, "label": "x"})
        _backdate(engine, "nightly", hours=2)
        runner = ScheduleRunner(engine)
        assert runner.run_once() == []  # not set: no run, the claim stays pending
        error = engine.schedules()[0].last_error or ""
        assert "LEDGERFLOW_SECRET_PASSWORD is not set" in error and CANARY not in error
        monkeypatch.setenv("LEDGERFLOW_SECRET_PASSWORD", CANARY.upper())
        assert runner.run_once() == []
        assert "LEDGERFLOW_SECRET_PASSWORD holds another value" in (engine.schedules()[0].last_error or "")
        monkeypatch.setenv("LEDGERFLOW_SECRET_PASSWORD", CANARY)
        (created,) = runner.run_once()
        assert engine.schedules()[0].last_error is None
        assert engine.get_run(created).state == "SCHEDULED"


def test_a_schedule_stored_with_a_clear_secret_gets_its_keyed_hash_at_its_next_fire(
    database_url: str, tmp_path: Path, nightly: lf.Flow[..., Any]
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        given = {"password": "x", "label": "y"}
        record = engine.schedule("nightly", nightly, cron="0 * * * *", parameters=given)
        legacy = replace(record, name="legacy", parameters={"password": CANARY, "label": VISIBLE})
        engine.storage.schedules.add(legacy)  # as a schedule stored before secrets were hashed
        engine.remove_schedule("nightly")
        _backdate(engine, "legacy", hours=2)
        (created,) = ScheduleRunner(engine).run_once()  # this fire still has the value
        marker = SecretHasher.for_home(tmp_path).marker(CANARY)
        assert engine.storage.schedules.get("legacy").parameters == {"password": marker, "label": VISIBLE}
        assert engine.get_run(created).parameters["password"] == marker
    _assert_no_canary(_table_walk(database_url))  # the file may keep a deleted row's bytes
