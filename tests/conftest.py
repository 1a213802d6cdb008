"""Shared fixtures: every storage test runs on SQLite and on a fresh PostgreSQL database."""

import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import distributed
import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from ledgerflow.storage import Storage, create_db_engine, ensure_schema, open_storage
from ledgerflow.storage.database import normalize_url

POSTGRES_ENV = "LEDGERFLOW_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_server(tmp_path: Path) -> sa.URL:
    return sa.make_url(normalize_url(os.environ.get(POSTGRES_ENV, DEFAULT_POSTGRES_URL), tmp_path))


@contextmanager
def postgres_database(tmp_path: Path, template: str | None = None) -> Iterator[str]:
    """A fresh PostgreSQL database (a copy of ``template`` if given), dropped after."""
    server = _postgres_server(tmp_path)
    name = f"lf_test_{secrets.token_hex(6)}"
    admin = sa.create_engine(  # pre-ping: some tests restart the server meanwhile
        server, isolation_level="AUTOCOMMIT", pool_pre_ping=True, connect_args={"connect_timeout": 5}
    )
    copy = f' TEMPLATE "{template}"' if template else ""
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"{copy}')
    except sa_exc.OperationalError as exc:
        admin.dispose()
        pytest.fail(
            f"PostgreSQL at {server.render_as_string(hide_password=True)} is unreachable "
            f"({exc.orig}); start it or point {POSTGRES_ENV} at a server (tests never skip it)",
            pytrace=False,
        )
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _migrate(url: str, home: Path) -> None:
    engine = create_db_engine(url, home)
    try:
        ensure_schema(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per session; each test gets a copy."""
    home = tmp_path_factory.mktemp("sqlite-template")
    _migrate(f"sqlite:///{home / 'template.db'}", home)
    return home / "template.db"


@pytest.fixture(scope="session")
def _postgres_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL database migrated once per session; each test gets a copy of it."""
    home = tmp_path_factory.mktemp("postgres-template")
    with postgres_database(home) as url:
        _migrate(url, home)
        yield str(sa.make_url(url).database)


@contextmanager
def fresh_store_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty store of ``backend`` with the current schema: an in-memory store of
    a new name ("memory"), a SQLite file ("sqlite"), or a fresh PostgreSQL database
    ("postgresql", dropped after). The databases are copies of one migrated once per session."""
    if backend == "memory":
        yield f"memory://test-{secrets.token_hex(6)}"
        return
    if backend == "sqlite":
        target = tmp_path / "ledgerflow-test.db"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), target)
        yield f"sqlite:///{target}"
        return
    template = request.getfixturevalue("_postgres_template")
    with postgres_database(tmp_path, template) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of a database with the current schema and no data: a SQLite file, or a fresh
    PostgreSQL database (dropped after). Both are copies of a database migrated once."""
    with fresh_store_url(request.param, request, tmp_path) as url:
        yield url


@pytest.fixture
def postgres_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh PostgreSQL database with the current schema, for what only PostgreSQL has
    (hardening, notifications)."""
    with fresh_store_url("postgresql", request, tmp_path) as url:
        yield url


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty store on every backend: in memory, SQLite and PostgreSQL."""
    with fresh_store_url(request.param, request, tmp_path) as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database (no schema), for tests of migrations."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledgerflow-empty.db'}"
        return
    with postgres_database(tmp_path) as url:
        yield url


@pytest.fixture
def storage(database_url: str, tmp_path: Path) -> Iterator[Storage]:
    """Opened storage (schema created) on the parametrized database."""
    with open_storage(database_url, tmp_path) as opened:
        yield opened


@contextmanager
def local_cluster(n_workers: int, threads_per_worker: int = 1) -> Iterator[distributed.Client]:
    """A client of a LocalCluster of worker processes (a nanny restarts a killed one)."""
    with (
        distributed.LocalCluster(
            n_workers=n_workers, threads_per_worker=threads_per_worker, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="session")
def dask_client() -> Iterator[distributed.Client]:
    """A client of a LocalCluster of two single-threaded worker processes, one per session."""
    with local_cluster(2) as client:
        yield client


SLOW_TESTS = (
    "tests/crash/",  # processes killed mid-run and resumed
    "tests/scaleout/test_cluster.py",  # Dask clusters and worker processes
    "tests/scaleout/test_schedule_race.py",  # scheduler processes racing
    "tests/storage/test_postgres_restart.py",  # restarts the PostgreSQL server
    "tests/ui/test_browser.py",  # a headless browser
    "tests/examples/",  # fits scikit-learn models
    "tests/engine/test_dask_runs.py::test_resources_become_dask_worker_resources",
)
"""Node id prefixes of the slow end-to-end tests: ``pytest -m "not slow"`` leaves them out
(other slow tests carry ``@pytest.mark.slow`` themselves)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    root = Path(__file__).parent.parent
    for item in items:
        node_id = f"{item.path.relative_to(root).as_posix()}::{item.name}"
        if node_id.startswith(SLOW_TESTS):
            item.add_marker(pytest.mark.slow)
