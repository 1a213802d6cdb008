"""A canary secret that tasks use, print, log, skip with and fail with never reaches the
database (or any file the engine writes) in clear text: on SQLite and PostgreSQL, on threads
and on Dask, through a crash, a resume and a restart. The tasks still get it."""

import shutil
import sqlite3
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import distributed
import pytest
import sqlalchemy as sa

import ledgerflow as lf
from ledgerflow.engine.flow_ref import load_flow
from ledgerflow.engine.secret_restore import SecretMismatch, SecretMissing
from ledgerflow.engine.secrets import SecretHasher

from ..crashing import CrashingExecutor

CANARY = "canary-5f2b9c1e"
VISIBLE = "visible-label-7d1a"  # a plain parameter: proves the dump would show a value
FLOWS = textwrap.dedent(
    '''
    import logging

    import ledgerflow as lf


    @lf.task
    def use(password: str, label: str) -> int:
        print(f"connecting as {label} with {password}")
        logging.getLogger("canary").warning("password=%s", password)
        return len(password)


    @lf.task
    def after(length: int) -> int:
        return length + 1


    @lf.task(cache_key=lf.inputs_hash)
    def fingerprint(password: str, n: int) -> int:
        return n * len(password)


    @lf.task(retries=1)
    def leak(password: str) -> int:
        raise RuntimeError(f"login failed for {password!r}")


    @lf.task
    def skip(password: str) -> None:
        raise lf.Skip(f"nothing to do for {password}")


    @lf.flow
    def canary(password: lf.Secret[str], label: str, n: int = 2):
        return {
            "after": after(use(password, label)),
            "fingerprint": fingerprint(password, n),
            "leak": leak(password),
            "skip": skip(password),
        }
    '''
)


@pytest.fixture
def canary_flow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> lf.Flow[..., Any]:
    monkeypatch.delenv("LEDGERFLOW_SECRET_PASSWORD", raising=False)
    path = tmp_path / "canary_flows.py"
    path.write_text(FLOWS)
    return load_flow(f"{path}:canary")


def _table_walk(database_url: str) -> bytes:
    """Every column of every row of every table, as bytes (BLOBs as they are)."""
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://"))
    metadata = sa.MetaData()
    metadata.reflect(engine)
    chunks: list[bytes] = []
    try:
        with engine.connect() as connection:
            for table in metadata.sorted_tables:
                for row in connection.execute(sa.select(table)):
                    chunks += [v if isinstance(v, bytes) else str(v).encode() for v in row]
    finally:
        engine.dispose()
    assert chunks, "the walk found no rows: it would prove nothing"
    return b"\n".join(chunks)


def _pg_dump(database_url: str) -> bytes:
    url = sa.make_url(database_url)
    command = [
        "pg_dump", "--no-owner", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432),
        "-U", url.username or "postgres", url.database or "",
    ]
    return subprocess.run(command, check=True, capture_output=True).stdout


def _everything_stored(database_url: str, tmp_path: Path) -> bytes:
    """The table walk, ``pg_dump`` (PostgreSQL, if installed), and every file under
    ``tmp_path`` (the SQLite database with its WAL, the key files of LEDGERFLOW_HOME)."""
    dump = [_table_walk(database_url)]
    if database_url.startswith("postgresql") and shutil.which("pg_dump"):
        dump.append(_pg_dump(database_url))
    dump += [path.read_bytes() for path in sorted(tmp_path.rglob("*")) if path.is_file()]
    return b"\n".join(dump)


def _assert_no_canary(stored: bytes) -> None:
    assert VISIBLE.encode() in stored  # the search works: a plain parameter is found
    for form in (CANARY.encode(), CANARY.encode().hex().encode(), CANARY.encode("utf-16-le")):
        assert form not in stored, f"the canary is stored (as {form!r})"


def _sqlite_files_checkpointed(database_url: str) -> None:
    """Fold the SQLite WAL into the main file, so the raw file holds every row written."""
    if database_url.startswith("sqlite"):
        with sqlite3.connect(sa.make_url(database_url).database or "") as connection:
            connection.execute("PRAGMA wal_checkpoint(FULL)")


def test_a_canary_secret_survives_crash_resume_and_restart_without_being_stored(
    database_url: str, tmp_path: Path, canary_flow: lf.Flow[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    with lf.Engine(database_url, CrashingExecutor("after"), home=tmp_path) as engine:
        with pytest.raises(SystemExit):
            engine.run(canary_flow, password=CANARY, label=VISIBLE)
        run_id = engine.runs()[0].run_id
    with lf.Engine(database_url, home=tmp_path) as engine:
        with pytest.raises(SecretMissing):
            engine.resume(run_id)
        with pytest.raises(SecretMismatch):
            engine.resume(run_id, secrets={"password": CANARY.upper()})
        run = engine.resume(run_id, secrets={"password": CANARY})
        assert run.state == "FAILED"  # leak fails, as it should
        assert run.task_result("after") == len(CANARY) + 1  # the task received the value
        assert run.task_result("fingerprint") == 2 * len(CANARY)
        assert run.tasks["skip"].state == "SKIPPED" and run.tasks["leak"].state == "FAILED"
        monkeypatch.setenv("LEDGERFLOW_SECRET_PASSWORD", CANARY)
        restarted = engine.restart(run_id)
        assert restarted.tasks["leak"].attempts > run.tasks["leak"].attempts
        again = engine.run(canary_flow, password=CANARY, label=VISIBLE)
        assert again.tasks["fingerprint"].state == "CACHED"  # same keyed hash, same cache key

        created = engine.events(run_id)[0].payload["parameters"]
        assert created["password"] == SecretHasher.for_home(tmp_path).marker(CANARY)
        logs = [line.message for line in engine.logs(run_id)]
        assert f"connecting as {VISIBLE} with ***" in logs and "password=***" in logs
        failed = [e for e in engine.events(run_id) if e.type in ("task.retrying", "task.failed")]
        # the end of every attempt that ran to its end: one after the restart, one or two before it
        # (the crash may orphan the first attempt, and an orphan's next attempt ends no such event)
        assert len(failed) >= 2 and failed[-1].payload["attempt"] > failed[0].payload["attempt"]
        assert all(e.payload["error"]["message"] == "login failed for '***'" for e in failed)
        assert engine.verify(run_id).ok and engine.verify(again.id).ok
    _sqlite_files_checkpointed(database_url)
    _assert_no_canary(_everything_stored(database_url, tmp_path))


def test_a_canary_secret_is_not_stored_when_tasks_run_on_dask(
    database_url: str, tmp_path: Path, canary_flow: lf.Flow[..., Any], dask_client: distributed.Client
) -> None:
    executor = lf.DaskExecutor(client=dask_client)
    with lf.Engine(database_url, executor, home=tmp_path) as engine:
        run = engine.run(canary_flow, password=CANARY, label=VISIBLE)
        assert run.task_result("after") == len(CANARY) + 1
        assert run.tasks["leak"].state == "FAILED" and run.tasks["skip"].state == "SKIPPED"
        workers = {e.payload.get("worker") for e in engine.events(run.id) if e.type == "task.succeeded"}
        assert workers <= set(dask_client.scheduler_info()["workers"])
        assert "password=***" in [line.message for line in engine.logs(run.id)]
    _sqlite_files_checkpointed(database_url)
    _assert_no_canary(_everything_stored(database_url, tmp_path))
