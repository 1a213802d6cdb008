"""``ledgerflow health``: exit 0 when the database (and the Dask scheduler, if named) answer,
1 naming each one that does not; and ``ledgerflow --version``."""

import socket
from pathlib import Path

import distributed
from typer.testing import CliRunner

import ledgerflow as lf
from ledgerflow.cli import app
from ledgerflow.storage import create_db_engine, upgrade
from ledgerflow.storage.migrate import head_revision


def _closed_port() -> int:
    """A port nothing listens on (bound once, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_healthy_database_and_dask_scheduler(database_url: str, dask_client: distributed.Client) -> None:
    address = dask_client.scheduler.address
    done = CliRunner().invoke(app, ["health", "--database", database_url, "--dask-address", address])
    assert done.exit_code == 0, done.output
    database_line, dask_line = done.stdout.splitlines()
    assert database_line.startswith("database ") and database_line.endswith(
        f": ok (schema {head_revision()})"
    )
    assert dask_line == f"dask scheduler {address}: ok (2 workers)"


def test_an_empty_database_is_reachable_and_says_how_to_create_the_schema(empty_database_url: str) -> None:
    done = CliRunner().invoke(app, ["health", "--database", empty_database_url])
    assert done.exit_code == 0, done.output
    assert "ok (no ledgerflow schema yet: `ledgerflow db upgrade` creates it)" in done.stdout
    if empty_database_url.startswith("sqlite:///"):  # the probe created no file
        assert not Path(empty_database_url.removeprefix("sqlite:///")).exists()


def test_an_older_schema_is_reachable_and_says_to_upgrade(empty_database_url: str, tmp_path: Path) -> None:
    engine = create_db_engine(empty_database_url, tmp_path)
    try:
        upgrade(engine, "0012")  # the revision before the head this test was written at
    finally:
        engine.dispose()
    done = CliRunner().invoke(app, ["health", "--database", empty_database_url])
    assert done.exit_code == 0, done.output
    expected = f"ok (schema 0012, this ledgerflow's is {head_revision()}: run `ledgerflow db upgrade`)"
    assert expected in done.stdout


def test_an_unreachable_database_fails_and_is_named() -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/ledgerflow"
    done = CliRunner().invoke(app, ["health", "--database", url])
    assert done.exit_code == 1
    assert done.stdout.startswith(f"database {url}: UNREACHABLE (")
    assert "Connection refused" in done.stdout
    assert done.stderr.strip() == f"unhealthy: database {url} unreachable"


def test_an_unreachable_dask_scheduler_fails_and_is_named(database_url: str) -> None:
    address = f"tcp://127.0.0.1:{_closed_port()}"
    done = CliRunner().invoke(
        app, ["health", "--database", database_url, "--dask-address", address, "--timeout", "0.5"]
    )
    assert done.exit_code == 1
    assert f"dask scheduler {address}: UNREACHABLE (Timed out trying to connect" in done.stdout
    assert done.stderr.strip() == f"unhealthy: dask scheduler {address} unreachable"


def test_both_unreachable_are_both_named() -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/ledgerflow"
    address = f"tcp://127.0.0.1:{_closed_port()}"
    done = CliRunner().invoke(
        app,
        ["health", "--timeout", "0.5"],
        env={"LEDGERFLOW_DATABASE_URL": url, "LEDGERFLOW_DASK_ADDRESS": address},
    )
    assert done.exit_code == 1
    assert done.stderr.strip() == f"unhealthy: database {url} and dask scheduler {address} unreachable"


def test_a_peer_that_accepts_and_never_answers_fails(database_url: str) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()  # the kernel accepts connections; nothing ever answers
        address = f"tcp://127.0.0.1:{silent.getsockname()[1]}"
        done = CliRunner().invoke(
            app, ["health", "--database", database_url, "--dask-address", address, "--timeout", "0.5"]
        )
    assert done.exit_code == 1
    assert f"dask scheduler {address}: UNREACHABLE (" in done.stdout
    assert done.stderr.strip() == f"unhealthy: dask scheduler {address} unreachable"


def test_a_dask_worker_address_is_not_a_scheduler(database_url: str, dask_client: distributed.Client) -> None:
    worker = next(iter(dask_client.scheduler_info()["workers"]))
    done = CliRunner().invoke(app, ["health", "--database", database_url, "--dask-address", worker])
    assert done.exit_code == 1
    assert f"dask scheduler {worker}: UNREACHABLE (it answers as a Worker, not a scheduler)" in done.stdout


def test_version_prints_the_installed_version() -> None:
    done = CliRunner().invoke(app, ["--version"])
    assert done.exit_code == 0
    assert done.stdout == f"ledgerflow {lf.__version__}\n"
