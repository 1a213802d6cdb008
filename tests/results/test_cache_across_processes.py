"""Caching with every store, across runs and processes: a run in one process stores its results
(a JSON one and a signed pickle) in a file:// store, an s3:// store (moto's server) or the
database; runs in this process and in a third one take them from the cache, load them checked,
and garbage collection finds nothing to remove. On SQLite and PostgreSQL."""

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from textwrap import dedent
from typing import Any

import orjson
import pytest

from ledgerflow.engine.flow_ref import load_flow

from .conftest import Placement

FLOW = dedent(
    """
    import ledgerflow as lf


    @lf.task(cache_key=lf.inputs_hash)
    def table(n: int) -> list[list[int]]:
        return [[i, i * i] for i in range(n)]


    @lf.task(cache_key=lf.inputs_hash)
    def kinds(n: int) -> set[str]:
        return {f"kind-{i}" for i in range(n)}  # not JSON: a signed pickle


    @lf.task
    def summary(rows: list[list[int]], names: set[str]) -> dict[str, object]:
        return {"total": sum(square for _, square in rows), "names": sorted(names)}


    @lf.flow
    def cached(n: int = 100):
        return summary(table(n), kinds(n))
    """
)

CHILD = dedent(
    """
    import json
    import sys

    import ledgerflow as lf
    from ledgerflow.engine.flow_ref import load_flow

    url, home, ref, store, options = sys.argv[1:6]
    with lf.Engine(
        url, home=home, result_storage=store or None, result_storage_options=json.loads(options),
        inline_limit=64,
    ) as engine:
        run = engine.run(load_flow(ref))
        states = {key: task.state.value for key, task in run.tasks.items()}
        print(json.dumps({"id": run.id, "states": states, "result": run.result()}))
    """
)

EXPECTED = {"total": sum(i * i for i in range(100)), "names": sorted(f"kind-{i}" for i in range(100))}


def run_elsewhere(database_url: str, home: Path, placement: Placement) -> dict[str, Any]:
    """Run the flow in a process of its own; what it reports."""
    store = placement.store
    options = orjson.dumps(store.options if store else {}).decode()
    environment = {name: value for name, value in os.environ.items() if not name.startswith("LEDGERFLOW_")}
    done = subprocess.run(
        [sys.executable, str(home / "child.py"), database_url, str(home), f"{home / 'cached_flow.py'}:cached",
         store.url if store else "", options],
        cwd=home, env=environment, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = orjson.loads(done.stdout.splitlines()[-1])
    return report


@pytest.mark.slow  # processes of their own
def test_a_result_stored_by_one_process_serves_the_cache_of_others(
    database_url: str, tmp_path: Path, placement: Placement
) -> None:
    (tmp_path / "cached_flow.py").write_text(FLOW)
    (tmp_path / "child.py").write_text(CHILD)
    first = run_elsewhere(database_url, tmp_path, placement)
    assert first["states"] == {"table": "SUCCEEDED", "kinds": "SUCCEEDED", "summary": "SUCCEEDED"}
    assert first["result"] == EXPECTED
    with placement.engine(database_url, tmp_path) as engine:
        stored = placement.keys(engine)
        assert len(stored) == 3  # table, kinds and summary (over 64 bytes)
        here = engine.run(load_flow(f"{tmp_path / 'cached_flow.py'}:cached"))
        for key in ("table", "kinds"):
            task = here.tasks[key]
            assert task.state == "CACHED" and task.result is not None
            assert task.result["ref"].startswith(f"{first['id']}/{key}/1")
            assert task.result.get("store", "database") == placement.name
        assert here.result() == EXPECTED
        assert engine.verify(here.id, results=True).ok
    third = run_elsewhere(database_url, tmp_path, placement)
    assert third["states"] == {"table": "CACHED", "kinds": "CACHED", "summary": "SUCCEEDED"}
    assert third["result"] == EXPECTED
    with placement.engine(database_url, tmp_path) as engine:
        report = engine.gc_results(timedelta(0), execute=True)
        assert report.orphans == () and report.ok
        assert stored <= placement.keys(engine)  # every result a run refers to is still there
        assert engine.get_run(here.id).result() == EXPECTED
