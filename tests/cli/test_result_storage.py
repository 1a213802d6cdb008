"""``--result-storage`` on the commands that run or resume flows: the executor writes results
there and the log records their references; a bad URL is bad usage naming the problem."""

from pathlib import Path

import pytest

import ledgerflow as lf

from .conftest import Invoke
from .test_commands import run_id_of


def test_run_and_restart_write_results_to_the_given_store(
    cli: Invoke, flows_file: Path, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEDGERFLOW_INLINE_LIMIT", "0")  # every result to the store
    store = f"file://{tmp_path}/results"
    ran = cli("run", f"{flows_file}:arithmetic", "-p", "n=1", "-p", "xs=[1]", "--result-storage", store)
    assert ran.exit_code == 0, ran.output
    run_id = run_id_of(ran.stdout)
    with lf.Engine(database_url, home=tmp_path) as engine:
        described = engine.get_run(run_id).tasks["describe"].result
    assert described is not None and described["store"] == store
    assert (tmp_path / "results" / described["ref"]).read_bytes() == b'"int list int bool"'
    again = cli("restart", run_id, "--from", "total", "--result-storage", store)
    assert again.exit_code == 0, again.output


def test_a_store_of_no_known_protocol_is_refused(cli: Invoke, flows_file: Path) -> None:
    result = cli("run", f"{flows_file}:wide", "--result-storage", "nope://x")
    assert result.exit_code == 2
    assert "result storage 'nope://x': unknown protocol 'nope'" in result.output


def test_resume_and_worker_take_the_option_too(cli: Invoke) -> None:
    for command in (["worker", "--once"], ["resume", "no-such-run"]):
        result = cli(*command, "--result-storage", "nope://x")
        assert result.exit_code == 2
        assert "unknown protocol 'nope'" in result.output
