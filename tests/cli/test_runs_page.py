"""``ledgerflow runs`` lists the newest 50 runs unless told (--limit N, --all) and says how
many more there are; with 20,000 runs it answers at once, and on PostgreSQL every listing and
count it and the web UI make is a bounded read of an index, not a scan of every run."""

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

import ledgerflow as lf
from ledgerflow.storage import create_db_engine, ensure_schema
from ledgerflow.storage.schema import runs

from ..conftest import postgres_database
from .conftest import Invoke

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STATES = ("SUCCEEDED",) * 17 + ("FAILED", "CANCELLED", "SCHEDULED")  # one in 20 scheduled


def bulk_runs(database_url: str, home: Path, count: int) -> list[str]:
    """``count`` runs written straight into the runs read model (what listing reads), one a
    second from T0, of 7 flows and mostly SUCCEEDED; their ids, newest first."""
    rows = [
        {
            "run_id": f"run-{i:06d}", "flow": f"flow{i % 7}", "state": STATES[i % len(STATES)],
            "head_seq": 5, "head_hash": "0" * 64, "created_at": T0 + timedelta(seconds=i),
            "updated_at": T0 + timedelta(seconds=i + 3), "owner": None, "lease_expires_at": None,
        }
        for i in range(count)
    ]  # fmt: skip
    engine = create_db_engine(database_url, home)
    try:
        ensure_schema(engine)
        with engine.begin() as connection:
            connection.execute(runs.insert(), rows)
            if engine.dialect.name == "postgresql":
                connection.exec_driver_sql("ANALYZE runs")  # as autovacuum would after a while
    finally:
        engine.dispose()
    return [row["run_id"] for row in reversed(rows)]


def listed(stdout: str) -> list[str]:
    """The run ids a table lists, in order."""
    return [word for line in stdout.splitlines() for word in line.split() if word.startswith("run-")]


def test_runs_lists_the_newest_fifty_and_says_how_many_more(
    cli: Invoke, database_url: str, tmp_path: Path
) -> None:
    newest_first = bulk_runs(database_url, tmp_path, 120)
    default = cli("runs")
    assert default.exit_code == 0, default.output
    assert listed(default.stdout) == newest_first[:50]
    assert default.stdout.splitlines()[-1] == "70 more runs not shown; use --all or --limit N"
    more = cli("runs", "--limit", "119")
    assert len(listed(more.stdout)) == 119 and "1 more run not shown" in more.stdout
    every = cli("runs", "--all")
    assert listed(every.stdout) == newest_first and "more" not in every.stdout
    failed = cli("runs", "--state", "failed", "--limit", "4")
    assert len(listed(failed.stdout)) == 4 and "2 more runs not shown" in failed.stdout  # 6 failed
    as_json = cli("runs", "--json", "--flow", "flow1")
    of_flow1 = [run_id for run_id in newest_first if int(run_id[4:]) % 7 == 1]
    assert [run["id"] for run in orjson.loads(as_json.stdout)] == of_flow1
    assert as_json.stderr == ""  # 18 runs of flow1: all shown
    paged = cli("runs", "--json", "-n", "10")
    assert len(orjson.loads(paged.stdout)) == 10 and "110 more runs not shown" in paged.stderr
    both = cli("runs", "--all", "--limit", "3")
    assert both.exit_code == 2 and "--all lists every run" in both.stderr


def test_twenty_thousand_runs_list_at_once(cli: Invoke, database_url: str, tmp_path: Path) -> None:
    newest_first = bulk_runs(database_url, tmp_path, 20_000)
    started = time.monotonic()
    answer = cli("runs")
    took = time.monotonic() - started
    assert answer.exit_code == 0, answer.output
    assert took < 10, f"ledgerflow runs took {took:.1f} s"  # about 0.3 s here; 17 s when it printed all
    assert listed(answer.stdout) == newest_first[:50]
    lines = answer.stdout.splitlines()
    assert len(lines) <= 50 + 5  # the rows, the table's header and rules, the more-line
    assert lines[-1] == "19,950 more runs not shown; use --all or --limit N"


Captured = list[tuple[str, Any]]


@pytest.fixture
def many_on_postgresql(tmp_path: Path) -> Iterator[tuple[lf.Engine, Captured]]:
    """An engine on a PostgreSQL database of 20,000 runs, and the statements it executes."""
    with postgres_database(tmp_path) as url:
        bulk_runs(url, tmp_path, 20_000)
        with lf.Engine(url, home=tmp_path) as engine:
            captured: Captured = []
            database = engine.storage.database
            assert database is not None

            def capture(connection: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
                captured.append((statement, parameters))

            sa.event.listen(database, "before_cursor_execute", capture)
            yield engine, captured


def plan_of(engine: lf.Engine, call: Callable[[], object], captured: Captured) -> str:
    """PostgreSQL's plan of the last statement ``call`` executed."""
    captured.clear()
    call()
    statement, parameters = captured[-1]
    assert engine.storage.database is not None
    with engine.storage.database.connect() as connection:
        rows = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters)
        return "\n".join(row[0] for row in rows)


def test_listings_and_counts_read_bounded_index_ranges_on_postgresql(
    many_on_postgresql: tuple[lf.Engine, Captured],
) -> None:
    engine, captured = many_on_postgresql
    listings = {
        "newest": lambda: engine.runs(51),
        "a page": lambda: engine.runs(51, before="run-010000"),
        "a flow": lambda: engine.runs(51, flow="flow3"),
        "a state": lambda: engine.runs(51, states=["FAILED"]),
        "an hour": lambda: engine.runs(51, since=T0 + timedelta(hours=2), until=T0 + timedelta(hours=3)),
    }
    for name, listing in listings.items():
        plan = plan_of(engine, listing, captured)
        assert plan.startswith("Limit") and "Seq Scan" not in plan, f"{name}:\n{plan}"
        assert "Index Scan" in plan and "using ix_runs_" in plan, f"{name}:\n{plan}"
    assert "using ix_runs_created_at_run_id" in plan_of(engine, listings["newest"], captured)
    counts = plan_of(engine, lambda: engine.run_counts(at_most=100_000), captured)
    assert counts.count("->  Limit") == 7, counts  # each state's count stops: a bounded read
    assert "ix_runs_state_created_at" in counts
