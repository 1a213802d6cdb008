"""``runs --json`` (listed or archived runs) names each run's id ``id``, as ``Run.id`` does,
and keeps ``run_id``; so does ``show --json`` of an archived run (its tombstone)."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

import ledgerflow as lf

from .conftest import Invoke
from .test_commands import run_id_of


def test_runs_json_has_id_and_run_id(cli: Invoke, flows_file: Path) -> None:
    run_id = run_id_of(cli("run", f"{flows_file}:wide", "-p", "n=1").stdout)
    listed = orjson.loads(cli("runs", "--json").stdout)
    assert [(run["id"], run["run_id"]) for run in listed] == [(run_id, run_id)]


def test_archived_runs_json_has_id_and_run_id(
    cli: Invoke, flows_file: Path, database_url: str, isolated: Path, tmp_path: Path
) -> None:
    run_id = run_id_of(cli("run", f"{flows_file}:wide", "-p", "n=1").stdout)
    with lf.Engine(database_url, home=isolated) as engine:
        later = datetime.now(UTC) + timedelta(days=1)
        engine.archive(engine.plan_archive(timedelta(0), now=later), tmp_path / "archive")
    listed = orjson.loads(cli("runs", "--json", "--archived").stdout)
    assert [(run["id"], run["run_id"]) for run in listed] == [(run_id, run_id)]
    shown = orjson.loads(cli("show", run_id, "--json").stdout)
    assert (shown["archived"], shown["id"], shown["file"]) == (True, run_id, f"{run_id}.jsonl")
