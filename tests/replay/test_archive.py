"""Archiving: finished runs go to verified export files, leaving tombstones; the database shrinks."""

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

import ledgerflow as lf
from ledgerflow.cli import app
from ledgerflow.engine.moments import parse_duration
from ledgerflow.replay import file_sha256, verify_archived
from ledgerflow.storage import ArchiveRefused, schema
from ledgerflow.storage.harden import harden

from ..conftest import postgres_database
from ..engine import flows

KEY = b"the archivist's key"
RUN_TABLES = (schema.events, schema.results, schema.task_logs, schema.cache_entries, schema.runs)


@lf.task
def chatty(x: int) -> int:
    print(f"working on {x}")
    return x + 1


@lf.task(cache_key=lf.inputs_hash)
def costly(x: int) -> list[int]:
    return list(range(x))


@lf.flow
def talking(n: int = 3) -> Any:
    return chatty.map(list(range(n)))


@lf.flow
def caching(x: int = 50) -> Any:
    return costly(x)


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[lf.Engine]:
    with lf.Engine(database_url, executor="threads", home=tmp_path) as opened:
        yield opened


def later() -> datetime:
    """A ``now`` after every run so far: ``older_than=0`` then takes every finished run."""
    return datetime.now(UTC) + timedelta(seconds=1)


def rows(engine: lf.Engine, run_id: str | None = None) -> dict[str, int]:
    """Rows per table (of one run, if given)."""
    counts = {}
    with engine.storage.database.connect() as connection:
        for table in RUN_TABLES:
            query = sa.select(sa.func.count()).select_from(table)
            if run_id is not None:
                query = query.where(table.c.run_id == run_id)
            counts[table.name] = connection.execute(query).scalar_one()
    return counts


def test_an_archived_run_verifies_from_its_file_and_its_tombstone(engine: lf.Engine, tmp_path: Path) -> None:
    kinds = engine.run(flows.results_of_every_kind)
    talked = engine.run(talking, n=3)
    failed = engine.run(flows.failing)
    assert rows(engine, kinds.id)["results"] > 0 and rows(engine, talked.id)["task_logs"] > 0
    heads = {run.run_id: run.head_seq for run in engine.runs()}
    plan = engine.plan_archive(timedelta(0), now=later())
    assert [c.run.run_id for c in plan.to_archive] == [failed.id, talked.id, kinds.id]
    assert all(candidate.size > 0 for candidate in plan.candidates)
    report = engine.archive(plan, tmp_path / "archive", KEY)
    assert [t.run_id for t in report.archived] == [failed.id, talked.id, kinds.id] and not report.kept
    for run in (kinds, talked, failed):
        assert set(rows(engine, run.id).values()) == {0}
        tombstone = engine.archived_run(run.id)
        assert tombstone is not None and tombstone.file_name == f"{run.id}.jsonl"
        assert (tombstone.state, tombstone.head_seq) == (run.state, heads[run.id])
        path = tmp_path / "archive" / tombstone.file_name
        assert tombstone.file_sha256 == file_sha256(path)
        check = verify_archived(tombstone, path, KEY)
        assert check.ok, check.problems
        assert check.export.chain.events_checked == tombstone.head_seq
    assert engine.runs() == [] and engine.verify_all() == {}
    assert [t.run_id for t in engine.archived_runs(states=["FAILED"])] == [failed.id]


def test_a_changed_file_or_another_runs_file_does_not_verify(engine: lf.Engine, tmp_path: Path) -> None:
    first, second = engine.run(flows.chain, n=2), engine.run(flows.chain, n=2)
    engine.archive(engine.plan_archive(timedelta(0), now=later()), tmp_path)
    tombstone = engine.archived_run(first.id)
    assert tombstone is not None
    other = verify_archived(tombstone, tmp_path / f"{second.id}.jsonl")
    assert not other.ok and f"an export of run {second.id}, not of {first.id}" in other.problems[-1]
    path = tmp_path / tombstone.file_name
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    lines[3]["payload"]["edited"] = True  # the event of seq 3
    path.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    edited = verify_archived(tombstone, path)
    assert not edited.ok
    assert "is not the archived file's" in edited.problems[0]
    assert "the export does not verify (first bad seq 3: " in edited.problems[1]
    truncated = tmp_path / "truncated.jsonl"
    (tmp_path / f"{second.id}.jsonl").rename(truncated)
    kept_lines = truncated.read_bytes().splitlines(keepends=True)
    truncated.write_bytes(b"".join(kept_lines[:-1]))  # drop the checkpoint line
    second_tombstone = engine.archived_run(second.id)
    assert second_tombstone is not None and not verify_archived(second_tombstone, truncated).ok


def test_the_database_shrinks(engine: lf.Engine, tmp_path: Path) -> None:
    for n in (150, 160):
        engine.run(flows.wide, n=n)
    engine.run(flows.results_of_every_kind)
    before, size_before = rows(engine), database_size(engine)
    report = engine.archive(engine.plan_archive(timedelta(0), now=later()), tmp_path)
    assert len(report.archived) == 3
    after, size_after = rows(engine), database_size(engine)
    assert before["events"] > 600 and before["results"] >= 2
    assert after == dict.fromkeys(before, 0)
    assert size_after < size_before / 2 and size_before > 100_000


def database_size(engine: lf.Engine) -> int:
    """Bytes the runs take: the SQLite file after a vacuum; on PostgreSQL the stored size of the
    tables' live rows (relation sizes after a vacuum depend on other sessions' snapshots)."""
    db = engine.storage.database
    if db.dialect.name == "sqlite":
        assert db.url.database is not None
        with closing(sqlite3.connect(db.url.database, isolation_level=None)) as connection:
            connection.execute("VACUUM")
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return Path(db.url.database).stat().st_size
    with db.connect() as connection:
        return sum(
            connection.exec_driver_sql(
                f"SELECT coalesce(sum(pg_column_size(t.*)), 0) FROM {table.name} t"
            ).scalar_one()
            for table in RUN_TABLES
        )


def test_only_finished_runs_older_than_the_cutoff_go(engine: lf.Engine, tmp_path: Path) -> None:
    old = engine.run(flows.chain, n=2)
    cutoff = later()
    scheduled = engine.submit(flows.chain, n=2)
    plan = engine.plan_archive(timedelta(hours=1), now=cutoff + timedelta(hours=1))
    assert [c.run.run_id for c in plan.candidates] == [old.id]
    assert engine.plan_archive(timedelta(days=1), now=later()).candidates == ()
    engine.archive(plan, tmp_path)
    assert [run.run_id for run in engine.runs()] == [scheduled]


def test_a_run_that_changed_since_the_plan_stays(engine: lf.Engine, tmp_path: Path) -> None:
    failed = engine.run(flows.failing)
    plan = engine.plan_archive(timedelta(0), now=later())
    engine.restart(failed.id)  # appends after the head the plan saw
    report = engine.archive(plan, tmp_path)
    assert report.archived == () and "it changed since it was selected" in report.kept[failed.id]
    assert not (tmp_path / f"{failed.id}.jsonl").exists()
    assert engine.verify(failed.id).ok and engine.archived_run(failed.id) is None


def test_a_run_whose_results_others_took_from_the_cache_stays_while_they_do(
    engine: lf.Engine, tmp_path: Path
) -> None:
    source = engine.run(caching)
    between = datetime.now(UTC)
    taker = engine.run(caching)
    assert taker.tasks["costly"].state == "CACHED"
    plan = engine.plan_archive(timedelta(0), now=between)
    assert plan.to_archive == [] and taker.id in plan.kept[source.id]
    assert engine.archive(plan, tmp_path).archived == ()
    both = engine.plan_archive(timedelta(0), now=later())
    assert [c.run.run_id for c in both.to_archive] == [taker.id, source.id]  # taker first
    report = engine.archive(both, tmp_path)
    assert [t.run_id for t in report.archived] == [taker.id, source.id]
    assert rows(engine)["cache_entries"] == 0  # the entries went with their results
    assert engine.run(caching).tasks["costly"].state == "SUCCEEDED"  # recomputed, not a dangling hit


def test_the_kept_source_still_serves_the_takers_result(engine: lf.Engine, tmp_path: Path) -> None:
    source = engine.run(caching)
    taker = engine.run(caching)
    plan = engine.plan_archive(timedelta(0), now=later())
    forced = type(plan)(plan.updated_before, tuple(c for c in plan.candidates if c.run.run_id == source.id))
    report = engine.archive(forced, tmp_path)  # a plan that ignores the taker: checked again
    assert report.archived == () and taker.id in report.kept[source.id]
    assert engine.get_run(taker.id).result() == list(range(50))


def test_a_hardened_database_refuses_to_archive(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    with (
        postgres_database(tmp_path, request.getfixturevalue("_postgres_template")) as url,
        lf.Engine(url, "threads", home=tmp_path) as engine,
    ):
        ran = engine.run(flows.chain, n=2)
        assert harden(engine.storage.database)
        plan = engine.plan_archive(timedelta(0), now=later())
        with pytest.raises(ArchiveRefused, match=r"append-only .* drops the triggers"):
            engine.archive(plan, tmp_path / "archive")
        assert not (tmp_path / "archive").exists()
        assert engine.verify(ran.id).ok and engine.archived_run(ran.id) is None


@pytest.mark.parametrize(("text", "age"), [
    ("90d", timedelta(days=90)), ("12h", timedelta(hours=12)), ("30m", timedelta(minutes=30)),
    ("0s", timedelta(0)), (" 7d ", timedelta(days=7)),
])  # fmt: skip
def test_ages(text: str, age: timedelta) -> None:
    assert parse_duration(text) == age


@pytest.mark.parametrize("text", ["", "90", "d", "1.5d", "-1d", "3w", "1d2h"])
def test_bad_ages(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration: a number and a unit d, h, m or s"):
        parse_duration(text)


def invoke(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--database", database_url])


def test_the_archive_commands(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGERFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "250")
    with lf.Engine(database_url, "threads", home=tmp_path) as engine:
        run_id = engine.run(flows.chain, n=2).id
    target = tmp_path / "archive"
    dry = invoke(database_url, "archive", "--older-than", "0s", "--to", str(target))
    assert dry.exit_code == 0, dry.output
    assert run_id in dry.stdout and "dry run: would archive 1 run (about" in dry.stdout
    assert not target.exists() and run_id in invoke(database_url, "runs").stdout
    done = invoke(database_url, "archive", "--older-than", "0s", "--to", str(target), "--execute")
    assert done.exit_code == 0, done.output
    assert f"archived {run_id}: " in done.stdout and "archived 1 runs" in done.stdout
    assert run_id not in invoke(database_url, "runs").stdout
    assert run_id in invoke(database_url, "runs", "--archived").stdout
    shown = invoke(database_url, "show", run_id)
    assert shown.exit_code == 0 and "was archived at" in shown.stdout
    assert f"to {run_id}.jsonl (sha256 " in " ".join(shown.stdout.split())
    watched = invoke(database_url, "watch", run_id)
    assert watched.exit_code == 0 and "was archived at" in watched.stdout
    file = str(target / f"{run_id}.jsonl")
    checked = invoke(database_url, "archive", "verify", run_id, "--file", file)
    assert checked.exit_code == 0 and checked.stdout.startswith(f"OK: archive {file} of run {run_id}")
    (target / f"{run_id}.jsonl").write_text("{}\n")
    failed = invoke(database_url, "archive", "verify", run_id, "--file", file)
    assert failed.exit_code == 1 and failed.stdout.startswith("FAILED")
    unknown = invoke(database_url, "archive", "verify", "no-such-run", "--file", file)
    assert unknown.exit_code == 2 and "has no tombstone" in unknown.stderr
    for bad in (("--older-than", "soon", "--to", "x"), ("--older-than", "1d")):
        result = invoke(database_url, "archive", *bad)
        assert result.exit_code == 2
