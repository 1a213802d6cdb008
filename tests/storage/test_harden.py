"""``harden``: PostgreSQL refuses UPDATE, DELETE and TRUNCATE of events; appends and runs go on."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

import ledgerflow as lf
from ledgerflow.storage import create_db_engine
from ledgerflow.storage.harden import harden, is_hardened
from ledgerflow.storage.postgres import COPY_THRESHOLD

from ..conftest import postgres_database
from ..engine import flows
from .builders import execute, new_run, task_events


@pytest.fixture
def hardened(postgres_url: str, tmp_path: Path) -> Iterator[lf.Engine]:
    """An engine on a hardened PostgreSQL database that already holds a finished run."""
    with lf.Engine(postgres_url, "threads", home=tmp_path) as engine:
        engine.run(flows.chain, n=2)
        assert harden(engine.storage.database)
        yield engine


def test_harden_is_idempotent(hardened: lf.Engine) -> None:
    assert is_hardened(hardened.storage.database)
    assert not harden(hardened.storage.database)
    assert is_hardened(hardened.storage.database)


@pytest.mark.parametrize(
    ("sql", "refused"),
    [
        ("UPDATE events SET payload = '{}' WHERE seq = 2", "UPDATE of run"),
        ("UPDATE events SET seq = seq + 1000", "UPDATE of run"),
        ("DELETE FROM events WHERE seq = 3", "DELETE of run"),
        ("DELETE FROM events", "DELETE of run"),
        ("TRUNCATE events", "TRUNCATE refused"),
    ],
)
def test_edits_of_events_are_refused(hardened: lf.Engine, sql: str, refused: str) -> None:
    before = hardened.storage.log.read(hardened.runs()[0].run_id)
    with pytest.raises(sa_exc.DBAPIError, match=f"events are append-only: {refused}"):
        execute(hardened.storage.database, sql)
    assert hardened.storage.log.read(hardened.runs()[0].run_id) == before


def test_appends_and_runs_go_on(hardened: lf.Engine) -> None:
    log = hardened.storage.log
    new_run(log, "small", tasks=3)  # INSERTs
    log.append("small", 4, task_events(COPY_THRESHOLD + 8, start=3))  # a batch large enough for COPY
    assert len(log.read("small")) == 4 + COPY_THRESHOLD + 8
    ran = hardened.run(flows.wide, n=40)
    assert ran.state == "SUCCEEDED" and ran.result() == sum(range(1, 41))
    failed = hardened.run(flows.failing)
    assert failed.state == "FAILED"
    assert hardened.restart(failed.id).state == "FAILED"  # re-opened, re-run: appends only
    reports = hardened.verify_all()
    assert len(reports) == 4 and all(report.ok for report in reports.values()), reports


def test_sqlite_is_refused_with_the_reason(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)
    try:
        with pytest.raises(ValueError, match="needs PostgreSQL, not sqlite: whoever can write"):
            harden(engine)
        assert not is_hardened(engine)
    finally:
        engine.dispose()


def test_a_database_without_the_schema_is_refused(tmp_path: Path) -> None:
    with postgres_database(tmp_path) as url:
        engine = sa.create_engine(url)
        try:
            with pytest.raises(ValueError, match="no events table yet"):
                harden(engine)
        finally:
            engine.dispose()
