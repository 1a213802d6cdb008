"""Archiving a run's stored results: with ``with_results`` each one is copied beside the export
(``DIR/<run_id>.results/<sha256>``, checked) and the run's objects are removed from their
stores once it is archived, never one another run still refers to; without it they stay.
A run whose export or copies do not verify stays whole. On SQLite and PostgreSQL, with results
in a file:// store, an s3:// store (moto's server) and the database."""

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import ledgerflow as lf
from ledgerflow.cli import app
from ledgerflow.engine import archive as archive_module
from ledgerflow.engine.archive import ArchivePlan, ArchiveReport
from ledgerflow.replay import verify_archived
from ledgerflow.storage import schema

from .conftest import Placement
from .lifecycle_flows import squared

KEY = b"the archivist's key"


def later() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=1)


def archive_every_run(engine: lf.Engine, directory: Path, *, with_results: bool = False) -> ArchiveReport:
    """Archive every finished run into ``directory``, signed with ``KEY``."""
    return engine.archive(
        engine.plan_archive(timedelta(0), now=later()), directory, KEY, with_results=with_results
    )


def only(plan: ArchivePlan, run_id: str) -> ArchivePlan:
    """The plan narrowed to one run (as if the others were not old enough)."""
    return ArchivePlan(plan.updated_before, tuple(c for c in plan.candidates if c.run.run_id == run_id))


def refs_of(run: lf.Run) -> dict[str, dict[str, Any]]:
    """The stored results the run's tasks recorded, by task key."""
    return {key: task.result for key, task in run.tasks.items() if task.result and "ref" in task.result}


def test_without_results_the_objects_stay_in_place(
    database_url: str, tmp_path: Path, placement: Placement
) -> None:
    with placement.engine(database_url, tmp_path) as engine:
        run = engine.run(squared)
        stored = placement.keys(engine)
        report = archive_every_run(engine, tmp_path / "archive")
        assert [t.run_id for t in report.archived] == [run.id] and not report.with_results
        results = report.results[run.id]
        assert {ref.key for ref in results.refs} == stored and results.copied == results.removed == ()
        assert not (tmp_path / "archive" / f"{run.id}.results").exists()
        if placement.store is None:
            assert placement.keys(engine) == set()  # the database's results go with the run
            assert results.left == {}
        else:
            assert placement.keys(engine) == stored
            assert set(results.left.values()) == {"archived without --with-results"}


def test_with_results_they_are_copied_checked_and_removed(
    database_url: str, tmp_path: Path, placement: Placement
) -> None:
    with placement.engine(database_url, tmp_path) as engine:
        run = engine.run(squared)
        recorded = refs_of(run)
        data = {ref["sha256"]: placement.get(engine, ref["ref"]) for ref in recorded.values()}
        placement.put(engine, f"{run.id}/numbers/9", b"[1]")  # a leftover of a crashed attempt
        report = archive_every_run(engine, tmp_path / "archive", with_results=True)
        assert [t.run_id for t in report.archived] == [run.id] and report.kept == {}
        copies = tmp_path / "archive" / f"{run.id}.results"
        assert {path.name: path.read_bytes() for path in copies.iterdir()} == data
        for name, content in data.items():
            assert hashlib.sha256(content).hexdigest() == name
        assert placement.keys(engine) == set()  # the leftover went too
        results = report.results[run.id]
        assert {ref.key for ref in results.copied} == {ref["ref"] for ref in recorded.values()}
        assert results.left == {}
        tombstone = engine.archived_run(run.id)
        assert tombstone is not None
        archived = tmp_path / "archive" / tombstone.file_name
        check = verify_archived(tombstone, archived, KEY)
        assert check.ok and check.results_checked == len(recorded) == 2
        first, second = sorted(copies.iterdir())
        first.write_bytes(b"[0]")
        second.unlink()
        problems = verify_archived(tombstone, archived, KEY).problems
        assert len(problems) == 2
        assert f"{first.name}) hashes to {hashlib.sha256(b'[0]').hexdigest()}" in " | ".join(problems)
        assert f"{second.name}) is missing" in " | ".join(problems)


def test_a_result_another_run_took_from_the_cache_stays(
    database_url: str, tmp_path: Path, placement: Placement
) -> None:
    with placement.engine(database_url, tmp_path) as engine:
        source = engine.run(squared)
        taker = engine.run(squared)
        assert taker.tasks["squares"].state == "CACHED"
        taken = taker.tasks["squares"].result
        assert taken is not None and taken["ref"].startswith(f"{source.id}/")
        plan = only(engine.plan_archive(timedelta(0), now=later()), taker.id)
        report = engine.archive(plan, tmp_path / "archive", KEY, with_results=True)
        assert [t.run_id for t in report.archived] == [taker.id]
        copies = tmp_path / "archive" / f"{taker.id}.results"
        assert (copies / taken["sha256"]).is_file()  # the archive holds what the taker used
        assert {key.partition("/")[0] for key in placement.keys(engine)} == {source.id}
        assert engine.get_run(source.id).result() == [v * v for v in range(200)]
        assert engine.verify(source.id, results=True).ok
        assert engine.gc_results(timedelta(0)).orphans == ()
        again = engine.run(squared)  # the cache still serves the source's result
        assert again.tasks["squares"].state == "CACHED" and again.result() == source.result()


def test_a_result_that_does_not_verify_keeps_the_run_whole(
    database_url: str, tmp_path: Path, placement: Placement
) -> None:
    with placement.engine(database_url, tmp_path) as engine:
        run = engine.run(squared)
        altered = refs_of(run)["numbers"]["ref"]
        if placement.store is None:
            with engine.storage.sql_engine("test").begin() as connection:
                table = schema.results
                connection.execute(table.update().where(table.c.ref == altered).values(data=b"[0]"))
        else:
            placement.store.objects().delete(altered)
            placement.store.objects().put(altered, b"[0]")
        before = placement.keys(engine)
        report = archive_every_run(engine, tmp_path / "archive", with_results=True)
        assert report.archived == () and f"its result {altered!r}" in report.kept[run.id]
        assert "could not be copied" in report.kept[run.id]
        assert placement.keys(engine) == before and engine.verify(run.id).ok
        assert engine.archived_run(run.id) is None
        assert list((tmp_path / "archive").iterdir()) == []  # neither the export nor copies


def test_an_export_that_does_not_verify_removes_nothing(
    database_url: str, tmp_path: Path, placement: Placement, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = archive_module.verify_export
    monkeypatch.setattr(
        archive_module, "verify_export", lambda path, key=None: real(path, key=b"another key")
    )
    with placement.engine(database_url, tmp_path) as engine:
        run = engine.run(squared)
        before = placement.keys(engine)
        report = archive_every_run(engine, tmp_path / "archive", with_results=True)
        assert report.archived == () and "its export does not verify" in report.kept[run.id]
        assert placement.keys(engine) == before and engine.get_run(run.id).result() is not None
        assert list((tmp_path / "archive").iterdir()) == []


def test_the_archive_command_says_what_became_of_the_results(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGERFLOW_HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "250")
    store = f"file://{tmp_path}/results"
    with lf.Engine(database_url, home=tmp_path, result_storage=store, inline_limit=0) as engine:
        older, newer = engine.run(squared, n=3).id, engine.run(squared, n=4).id

    def archive(*args: str) -> str:
        result = CliRunner().invoke(app, ["archive", "--older-than", "0s", *args, "--database", database_url])
        assert result.exit_code == 0, result.output
        return " ".join(result.stdout.split())

    target = str(tmp_path / "archive")
    assert "objects in result stores stay in place" in archive("--to", target)
    assert "copied to" in archive("--to", target, "--with-results")
    done = archive("--to", target, "--execute", "--limit", "1")  # the newest run
    assert f"archived {newer}: " in done
    assert "2 objects left in place in their result stores (--with-results copies them" in done
    done = archive("--to", target, "--execute", "--with-results")
    assert f"archived {older}: " in done
    assert f"2 stored results (14 B) copied to {target}/{older}.results/" in done
    assert "2 objects removed from their result stores" in done
    verified = CliRunner().invoke(
        app, ["archive", "verify", older, "--file", f"{target}/{older}.jsonl", "--database", database_url]
    )
    assert verified.exit_code == 0 and "; 2 stored results copied beside it verified" in verified.stdout
    files = [path for path in (tmp_path / "results").rglob("*") if path.is_file()]
    assert {path.relative_to(tmp_path / "results").parts[0] for path in files} == {newer}
    with lf.Engine(database_url, home=tmp_path) as engine:
        assert engine.runs() == [] and {t.run_id for t in engine.archived_runs()} == {older, newer}
