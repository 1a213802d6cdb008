"""The command line on database URLs that cannot work, and on databases without a schema:
one line on stderr, exit 2, nothing created."""

import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner, Result

from ledgerflow.cli import app
from ledgerflow.storage import create_db_engine

from ..conftest import _postgres_server


def invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


def assert_one_line(result: Result, starts: str) -> None:
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: {starts}"), result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("sqlite:///", "it names no file"),
        ("postgresql://", "it names no database"),
        ("mysql://someone@db.example.com/app", "supported databases: sqlite"),
        ("postgresql+psycopg://db.example.com:abc/x", "its port is not a number"),
    ],
)
def test_a_url_that_cannot_work_is_one_line(url: str, said: str, flows_file: Path) -> None:
    for args in (["run", f"{flows_file}:wide"], ["runs"]):
        result = invoke(*args, "--database", url)
        assert_one_line(result, f"invalid database URL {url!r}")
        assert said in result.stderr
        assert "SUCCEEDED" not in result.stdout


def test_a_typo_in_the_folder_of_a_sqlite_file_is_an_error(
    flows_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = invoke("run", f"{flows_file}:wide", "--database", "sqlite:///nonexistent-dir/x.db")
    assert_one_line(result, "invalid database URL 'sqlite:///nonexistent-dir/x.db'")
    assert "the folder nonexistent-dir does not exist" in result.stderr
    assert not (tmp_path / "nonexistent-dir").exists()


def test_a_missing_ledgerflow_home_is_created(flows_file: Path, isolated: Path) -> None:
    assert not isolated.exists()
    result = invoke("run", f"{flows_file}:wide", "-p", "n=2")
    assert result.exit_code == 0, result.output
    assert (isolated / "ledgerflow.db").exists()


def test_a_missing_postgresql_database_is_one_line_naming_it(tmp_path: Path) -> None:
    name = f"lf_missing_{secrets.token_hex(4)}"
    url = _postgres_server(tmp_path).set(database=name).render_as_string(hide_password=False)
    assert_one_line(invoke("runs", "--database", url), f"database '{name}' does not exist")


READING = [
    ["runs"],
    ["show", "r1"],
    ["events", "r1"],
    ["logs", "r1"],
    ["verify", "--all"],
    ["verify", "r1"],
    ["export", "r1"],
    ["replay", "r1", "--at", "1"],
    ["diff", "r1", "r2"],
    ["lineage", "r1", "t"],
    ["watch", "r1"],
    ["workers"],
    ["limits"],
    ["schedule", "list"],
    ["schedule", "pause", "s"],
    ["cancel", "r1"],
    ["resume", "r1"],
    ["restart", "r1"],
    ["archive", "--older-than", "1d", "--to", "out"],
    ["archive", "verify", "r1", "--file", "r1.jsonl"],
]


def test_commands_on_recorded_runs_never_create_the_schema(empty_database_url: str) -> None:
    for args in READING:
        result = invoke(*args, "--database", empty_database_url)
        assert_one_line(result, "no ledgerflow database at")
        assert "ledgerflow db upgrade" in result.stderr
    engine = create_db_engine(empty_database_url, Path("."))
    try:
        assert sa.inspect(engine).get_table_names() == []
    finally:
        engine.dispose()


def test_reading_the_default_database_before_any_run(isolated: Path) -> None:
    assert_one_line(invoke("runs"), "no ledgerflow database at sqlite:///")
    assert not (isolated / "ledgerflow.db").exists()
