"""``runs --json`` names each run's id ``id`` (as ``Run.id`` does) and keeps ``run_id``."""

from pathlib import Path

import orjson

from .conftest import Invoke
from .test_commands import run_id_of


def test_runs_json_has_id_and_run_id(cli: Invoke, flows_file: Path) -> None:
    run_id = run_id_of(cli("run", f"{flows_file}:wide", "-p", "n=1").stdout)
    listed = orjson.loads(cli("runs", "--json").stdout)
    assert [(run["id"], run["run_id"]) for run in listed] == [(run_id, run_id)]
