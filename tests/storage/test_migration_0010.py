"""Migration 0010: names become Text on PostgreSQL, so long names fit as on SQLite."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledgerflow.replay import verify_run
from ledgerflow.storage import (
    SqlEventLog,
    SqlResultStore,
    StoredResult,
    create_db_engine,
    ensure_schema,
    upgrade,
)
from ledgerflow.storage.migrate import current_revision, head_revision

from .builders import created
from .test_migrations import downgrade

KEY = b"k" * 32


@pytest.fixture
def engine(empty_database_url: str, tmp_path: Path) -> Iterator[sa.Engine]:
    engine = create_db_engine(empty_database_url, tmp_path)
    try:
        yield engine
    finally:
        engine.dispose()


def store(engine: sa.Engine, run_id: str, flow: str, task_key: str) -> str:
    """A run of ``flow`` with one stored result of ``task_key``; returns the result's ref."""
    SqlEventLog(engine).append(run_id, 0, [created(flow)])
    ref = f"{run_id}/{task_key}/1"
    result = StoredResult(ref=ref, run_id=run_id, task_key=task_key, format="json", data=b"[1, 2]")
    SqlResultStore(engine, KEY).put_many([result])
    return ref


def test_upgrade_from_0009_keeps_the_data_and_takes_long_names(engine: sa.Engine) -> None:
    upgrade(engine)  # today's code writes the run, then the schema goes back to 0009
    old_ref = store(engine, "r1", "short", "t")
    before = SqlEventLog(engine).runs()
    downgrade(engine, "0009")
    ensure_schema(engine)
    assert current_revision(engine) == head_revision()
    assert SqlEventLog(engine).runs() == before
    assert SqlResultStore(engine, KEY).read(old_ref).data == b"[1, 2]"
    long_ref = store(engine, "r2", "f" * 300, "t" * 200)
    assert SqlResultStore(engine, KEY).read(long_ref).data == b"[1, 2]"
    assert {run.flow for run in SqlEventLog(engine).runs()} == {"short", "f" * 300}
    assert verify_run(engine, "r1").ok and verify_run(engine, "r2").ok


def test_downgrade_to_0009_and_back(engine: sa.Engine) -> None:
    upgrade(engine)
    ref = store(engine, "r1", "short", "t")
    downgrade(engine, "0009")
    assert current_revision(engine) == "0009"
    upgrade(engine)
    assert SqlResultStore(engine, KEY).read(ref).data == b"[1, 2]"
    store(engine, "r2", "f" * 300, "t")
    if engine.dialect.name == "postgresql":
        columns = {column["name"]: column["type"] for column in sa.inspect(engine).get_columns("runs")}
        assert isinstance(columns["flow"], sa.Text)
