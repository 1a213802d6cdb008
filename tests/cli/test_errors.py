"""Errors that need no database: unreachable or malformed URLs, help, the default database."""

import pytest
from typer.testing import CliRunner

from ledgerflow.cli import app


def test_an_unreachable_database_is_one_line_with_the_password_masked(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LEDGERFLOW_DB_RETRY_SECONDS", "0")
    url = "postgresql://someone:s3cret@127.0.0.1:1/nothing"
    result = CliRunner().invoke(app, ["runs", "--database", url])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot reach the database at")
    assert result.stderr.count("\n") == 1
    assert "s3cret" not in result.output and "***" in result.stderr
    assert "Traceback" not in result.output


def test_a_malformed_url_is_bad_usage() -> None:
    result = CliRunner().invoke(app, ["runs", "--database", "nosuchdialect://x"])
    assert result.exit_code == 2
    assert "invalid database URL" in result.stderr


def test_the_environment_names_the_database(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'from-env.db'}"
    monkeypatch.setenv("LEDGERFLOW_DATABASE_URL", url)
    result = CliRunner().invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0
    assert "from-env.db" in result.stdout
    assert (tmp_path / "from-env.db").exists()


def test_the_default_database_lives_in_ledgerflow_home(isolated) -> None:
    assert CliRunner().invoke(app, ["db", "upgrade"]).exit_code == 0
    result = CliRunner().invoke(app, ["runs", "--json"])
    assert result.exit_code == 0
    assert result.stdout.strip() == "[]"
    assert (isolated / "ledgerflow.db").exists()


@pytest.mark.parametrize(
    "command", ["run", "runs", "show", "events", "verify", "replay", "resume", "restart", "worker"]
)
def test_every_command_documents_database(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "--database" in result.stdout
    assert "LEDGERFLOW_DATABASE_URL" in result.stdout
