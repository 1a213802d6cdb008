"""A run keeps going through a PostgreSQL restart. PostgreSQL only: it restarts the real
server of the whole test suite, and makes sure the server is up again before it ends."""

import logging
import os
import secrets
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

import ledgerflow as lf
from ledgerflow.engine.flow_ref import load_flow
from ledgerflow.storage.database import normalize_url

from ..conftest import DEFAULT_POSTGRES_URL, POSTGRES_ENV
from ..storage.test_postgres_restart import admin_sql, pg_ctlcluster, wait_until_ready
from .checks import check_log, read_ledger
from .processes import wait_until
from .scripts import expected_result, task_keys

STEPS = 30
TRIGGER = "step-10"  # the restart starts while this task runs


@pytest.fixture
def restartable_postgres(tmp_path: Path) -> Iterator[tuple[str, sa.URL]]:
    """A fresh PostgreSQL database of its own; afterwards the server is up (started if need be).

    Not the shared ``database_url`` fixture: its admin engine's pooled connection dies with
    the restart, and a database must be dropped on a server that is up.
    """
    server = sa.make_url(normalize_url(os.environ.get(POSTGRES_ENV, DEFAULT_POSTGRES_URL), tmp_path))
    name = f"lf_test_{secrets.token_hex(6)}"
    admin_sql(server, f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False), server
    finally:
        if not wait_until_ready(server):
            pg_ctlcluster("start")
            assert wait_until_ready(server), "PostgreSQL did not come back after the restart test"
        admin_sql(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def is_accepting(server: sa.URL) -> bool:
    probe = ["pg_isready", "-h", server.host or "127.0.0.1", "-p", str(server.port or 5432), "-t", "1"]
    return subprocess.run(probe, capture_output=True).returncode == 0


def start_restart() -> subprocess.Popen[str]:
    (version,) = os.listdir("/etc/postgresql")
    command = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_a_run_completes_through_a_postgresql_restart(
    restartable_postgres: tuple[str, sa.URL],
    crash_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, server = restartable_postgres
    monkeypatch.setenv("LEDGERFLOW_DB_RETRY_SECONDS", "60")
    monkeypatch.setenv("CRASH_BLOCK_TASK", TRIGGER)  # it waits for crash_dir/release
    caplog.set_level(logging.WARNING, logger="ledgerflow.storage.database")
    outcome: list[lf.Run | BaseException] = []
    with lf.Engine(url, home=crash_dir) as engine:
        flow = load_flow(f"{crash_dir / 'chain.py'}:chain")

        def run() -> None:
            try:
                outcome.append(engine.run(flow, steps=STEPS))
            except BaseException as exc:
                outcome.append(exc)

        driver = threading.Thread(target=run, name="driver")
        driver.start()
        try:
            wait_until(lambda: (crash_dir / f"started-{TRIGGER}").exists() or not driver.is_alive(),
                       f"{TRIGGER} started")  # fmt: skip
            restart = start_restart()

            def is_down() -> bool:
                return restart.poll() is not None or not is_accepting(server)

            try:
                # Let the run go on once the server is down: its next append meets the restart.
                wait_until(is_down, "the server is down")
                was_down = restart.poll() is None
            finally:
                (crash_dir / "release").touch()
                output, _ = restart.communicate(timeout=120)
            assert restart.returncode == 0, output
        finally:
            (crash_dir / "release").touch()
            driver.join(timeout=120)
        assert not driver.is_alive(), "the run did not finish after the restart"
        (run_or_error,) = outcome
        assert isinstance(run_or_error, lf.Run), repr(run_or_error)
        assert run_or_error.state == "SUCCEEDED" and run_or_error.result() == expected_result(STEPS)
        check_log(engine, run_or_error.id)
        assert read_ledger(crash_dir) == [(key, 1) for key in task_keys(STEPS)]
    assert was_down, "the restart finished before it was seen"
    assert any("StorageUnavailable" in record.getMessage() for record in caplog.records), (
        "no database call was retried: the restart did not hit the run"
    )
