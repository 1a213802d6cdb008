"""Garbage collection of stored results (``engine.gc_results``): a result no event refers to,
older than the threshold, is listed and, asked to, removed; everything referred to stays,
including results other runs took through the cache. On SQLite and PostgreSQL, with results
in a file:// store, an s3:// store (moto's server) and the database."""

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import ledgerflow as lf
from ledgerflow.engine.result_gc import DEFAULT_AGE, ResultGcReport
from ledgerflow.results import sha256_of
from ledgerflow.results.objects import ObjectStore
from ledgerflow.storage import DatabaseRequired

from .conftest import Placement
from .lifecycle_flows import squared


def orphan_key(run_id: str, data: bytes, placement: Placement) -> str:
    """The key a crashed attempt 9 of ``numbers`` would have written ``data`` under."""
    if placement.store is None:
        return f"{run_id}/numbers/9"
    return f"{run_id}/numbers/9-{sha256_of(data)[:16]}"


def found(report: ResultGcReport) -> list[tuple[str, str, int]]:
    return [(orphan.store, orphan.key, orphan.size) for orphan in report.orphans]


def test_an_orphan_is_listed_then_removed_and_what_is_referred_to_stays(
    database_url: str, tmp_path: Path, placement: Placement
) -> None:
    with placement.engine(database_url, tmp_path) as engine:
        first = engine.run(squared)
        second = engine.run(squared)
        assert second.tasks["squares"].state == "CACHED"  # refers to the first run's result
        referenced = placement.keys(engine)
        assert len(referenced) == 3  # numbers twice, squares once
        data = b"[" + b",".join(b"7" for _ in range(100)) + b"]"
        orphan = orphan_key(first.id, data, placement)
        placement.put(engine, orphan, data)

        dry = engine.gc_results(timedelta(0))
        assert found(dry) == [(placement.name, orphan, len(data))]
        assert dry.orphans[0].age >= timedelta(0) and not dry.is_executed and dry.ok
        scan = next(scan for scan in dry.stores if scan.store == placement.name)
        assert scan.counts == {"referenced": 3, "orphan": 1}
        assert placement.keys(engine) == referenced | {orphan}  # a dry run removes nothing

        young = engine.gc_results()  # written just now: an attempt in flight may own it
        assert young.older_than == DEFAULT_AGE and young.orphans == ()
        assert next(s for s in young.stores if s.store == placement.name).counts["recent"] == 1
        later = engine.gc_results(now=datetime.now(UTC) + timedelta(days=2))
        assert found(later) == found(dry)

        done = engine.gc_results(timedelta(0), execute=True)
        assert done.is_executed and done.ok and [o.key for o in done.removed] == [orphan]
        assert placement.keys(engine) == referenced
        assert engine.gc_results(timedelta(0)).orphans == ()
        for run in (first, second):
            assert engine.get_run(run.id).result() == [v * v for v in range(200)]
            assert engine.verify(run.id, results=True).ok
        third = engine.run(squared)
        assert third.tasks["squares"].state == "CACHED" and third.result() == first.result()


def test_objects_of_no_run_of_this_database_stay(database_url: str, tmp_path: Path) -> None:
    store = f"file://{tmp_path}/results"
    with lf.Engine(database_url, home=tmp_path, result_storage=store, inline_limit=0) as engine:
        run = engine.run(squared, n=3)
        objects = ObjectStore(store)
        objects.put("20260101-000000-0badc0de/numbers/1-aa", b"another deployment's")
        objects.put("notes.txt", b"not ledgerflow's")
        partial = tmp_path / "results" / run.id / "numbers" / ".2-bb.1f2e3d4c.partial"
        partial.write_bytes(b"a write that never completed")
        report = engine.gc_results(timedelta(0))
        assert [orphan.key for orphan in report.orphans] == [f"{run.id}/numbers/.2-bb.1f2e3d4c.partial"]
        assert report.stores[0].counts == {"referenced": 2, "foreign": 2, "orphan": 1}
        engine.gc_results(timedelta(0), execute=True)
        assert not partial.exists() and len(objects.keys()) == 4


def test_objects_of_an_archived_run_stay(database_url: str, tmp_path: Path) -> None:
    store = f"file://{tmp_path}/results"
    with lf.Engine(database_url, home=tmp_path, result_storage=store, inline_limit=0) as engine:
        run = engine.run(squared, n=3)
        engine.archive(
            engine.plan_archive(timedelta(0), now=datetime.now(UTC) + timedelta(seconds=1)), tmp_path
        )
        report = engine.gc_results(timedelta(0), stores=[store])  # no event names the store any more
        assert report.orphans == () and report.stores[0].counts == {"archived": 2}
        left = ObjectStore(store).keys()
        assert [key.partition("/")[0] for key in left] == [run.id, run.id]


def test_a_store_that_cannot_be_listed_is_reported(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = f"file://{tmp_path}/results"
    with lf.Engine(database_url, home=tmp_path, result_storage=store, inline_limit=0) as engine:
        engine.run(squared, n=3)

        def unreachable(self: ObjectStore, prefix: str = "") -> list[Any]:
            raise PermissionError("access denied")

        monkeypatch.setattr(ObjectStore, "objects", unreachable)
        report = engine.gc_results(timedelta(0), execute=True)
        assert not report.ok and report.orphans == ()
        assert report.stores[0].error == "cannot list it: PermissionError: access denied"


def test_in_memory_storage_and_a_negative_age_are_refused(tmp_path: Path) -> None:
    with lf.Engine("memory://", home=tmp_path) as engine:
        with pytest.raises(DatabaseRequired, match="collecting unreferenced results"):
            engine.gc_results()
        with pytest.raises(ValueError, match="must not be negative"):
            engine.gc_results(timedelta(seconds=-1))
