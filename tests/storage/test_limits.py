"""Concurrency limits in SQL: processes share a limit, and migration 0003, on SQLite and
PostgreSQL (the port's behaviour: ``contract/``)."""

import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import sqlalchemy as sa
from alembic import command

from ledgerflow.storage import SqlLimits, Storage, create_db_engine, upgrade
from ledgerflow.storage.migrate import alembic_config

from ..intervals import peak_overlap
from .builders import driven

ACQUIRER = dedent(
    """
    import sys, time
    from pathlib import Path
    from ledgerflow.storage import create_db_engine, SqlLimits

    url, run_id, owner, out = sys.argv[1:]
    engine = create_db_engine(url, Path(out).parent)
    limits = SqlLimits(engine)
    lines = []
    for n in range(8):
        while not limits.try_acquire_many(run_id, [(f"t{n}", ["db"])], owner):
            time.sleep(0.005)
        start = time.monotonic()
        time.sleep(0.02)
        lines.append(f"{start} {time.monotonic()}")
        limits.release(run_id, f"t{n}")
    Path(out).write_text("\\n".join(lines))
    engine.dispose()
    """
)


def test_processes_share_the_limit(storage: Storage, database_url: str, tmp_path: Path) -> None:
    storage.limits.set_limit("db", 2)
    script = tmp_path / "acquirer.py"
    script.write_text(ACQUIRER)
    outs = [tmp_path / f"out{i}.txt" for i in range(4)]
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), database_url, driven(storage, f"p{i}", f"w{i}"), f"w{i}", str(out)]
        )
        for i, out in enumerate(outs)
    ]
    assert [process.wait(timeout=120) for process in processes] == [0, 0, 0, 0]
    intervals = [
        (float(start), float(end))
        for out in outs
        for start, end in (line.split() for line in out.read_text().splitlines())
    ]
    assert len(intervals) == 32 and peak_overlap(intervals) <= 2


def test_migration_0003_adds_and_drops_the_limit_tables(empty_database_url: str, tmp_path: Path) -> None:
    engine = create_db_engine(empty_database_url, tmp_path)
    try:
        upgrade(engine, "0002")
        assert not {"concurrency_limits", "concurrency_slots"} & set(sa.inspect(engine).get_table_names())
        upgrade(engine, "0003")
        SqlLimits(engine).set_limit("db", 2)
        assert [(u.tag, u.limit) for u in SqlLimits(engine).limits()] == [("db", 2)]
        with engine.begin() as connection:
            config = alembic_config(engine)
            config.attributes["connection"] = connection
            command.downgrade(config, "0002")
        assert not {"concurrency_limits", "concurrency_waiting"} & set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
