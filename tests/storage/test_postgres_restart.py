"""Appends survive a PostgreSQL restart. PostgreSQL only, run once: it restarts the real
server of the whole test suite, and makes sure the server is back before it ends."""

import logging
import os
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.replay import verify_run
from ledgerflow.storage import SqlEventLog, open_storage
from ledgerflow.storage.database import normalize_url

from ..conftest import DEFAULT_POSTGRES_URL, POSTGRES_ENV
from .builders import cache_lookup, created, task_events

READY_SECONDS = 90


def pg_ctlcluster(action: str) -> subprocess.CompletedProcess[str]:
    (version,) = os.listdir("/etc/postgresql")
    return subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def wait_until_ready(server: sa.URL) -> bool:
    """Poll pg_isready (bounded); True once the server accepts connections."""
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        probe = ["pg_isready", "-h", server.host or "127.0.0.1", "-p", str(server.port or 5432), "-t", "2"]
        if subprocess.run(probe, capture_output=True).returncode == 0:
            return True
        time.sleep(0.2)
    return False


def admin_sql(server: sa.URL, sql: str) -> None:
    """One statement on a fresh connection (pooled ones do not survive the restart)."""
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(sql)
    finally:
        admin.dispose()


@pytest.fixture
def restartable_postgres(tmp_path: Path) -> Iterator[tuple[str, sa.URL]]:
    """A fresh PostgreSQL database; afterwards the server is up again (started if need be)."""
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


def batch(i: int) -> list[NewEvent]:
    """Batch ``i``: unique task keys; every other batch is big enough for COPY."""
    size = 40 if i % 2 else 5
    cached = NewEvent(f"c{i}", "task.succeeded", {"cache_key": f"k{i}", "result": {"inline": i}})
    return [*task_events(size, start=1000 * i), cached]


def test_appends_survive_a_postgresql_restart(
    restartable_postgres: tuple[str, sa.URL],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, server = restartable_postgres
    monkeypatch.setenv("LEDGERFLOW_DB_RETRY_SECONDS", "30")
    caplog.set_level(logging.WARNING, logger="ledgerflow.storage.database")
    with open_storage(url, tmp_path) as storage:
        log = storage.log
        log.append("r1", 0, [created()])
        log.take_over("r1", "driver", 120)
        appended: list[int] = []
        failures: list[BaseException] = []
        restarted_after = threading.Event()
        marks: dict[str, int] = {}

        def keep_appending() -> None:
            seq = 1
            try:
                while not (restarted_after.is_set() and len(appended) >= marks["restart"] + 20):
                    seq = log.append("r1", seq, batch(len(appended)))[-1].seq
                    assert log.heartbeat("r1", "driver", 120)
                    appended.append(seq)
            except BaseException as exc:
                failures.append(exc)

        writer = threading.Thread(target=keep_appending)
        writer.start()
        while len(appended) < 20 and writer.is_alive():
            time.sleep(0.01)
        done = pg_ctlcluster("restart")
        marks["restart"] = len(appended)
        restarted_after.set()
        writer.join(timeout=120)
        assert not writer.is_alive() and failures == []
        assert done.returncode == 0, done.stderr
        assert wait_until_ready(server)
        check_log(log, len(appended))
        assert verify_run(storage, "r1").ok
    assert any("StorageUnavailable" in record.getMessage() for record in caplog.records), (
        "no append was retried: the restart did not hit the writer"
    )


def check_log(log: SqlEventLog, batches: int) -> None:
    events = log.read("r1")
    assert [e.seq for e in events] == list(range(1, len(events) + 1))  # gap-free
    expected = [e.task_key for i in range(batches) for e in batch(i)]
    assert [e.task_key for e in events[1:]] == expected  # each batch exactly once, in order
    assert log.run("r1").head_seq == len(events)
    assert cache_lookup(log, f"k{batches - 1}") is not None
