"""Shared fixtures: every storage test runs on SQLite and on a fresh PostgreSQL database."""

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import distributed
import pytest
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from ledgerflow.storage import Storage, open_storage
from ledgerflow.storage.database import normalize_url

POSTGRES_ENV = "LEDGERFLOW_TEST_POSTGRES_URL"
DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_server(tmp_path: Path) -> sa.URL:
    return sa.make_url(normalize_url(os.environ.get(POSTGRES_ENV, DEFAULT_POSTGRES_URL), tmp_path))


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database: a SQLite file, or a fresh PostgreSQL database (dropped after)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledgerflow-test.db'}"
        return
    server = _postgres_server(tmp_path)
    name = f"lf_test_{secrets.token_hex(6)}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
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


@pytest.fixture
def storage(database_url: str, tmp_path: Path) -> Iterator[Storage]:
    """Opened storage (schema created) on the parametrized database."""
    opened = open_storage(database_url, tmp_path)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture(scope="session")
def dask_client() -> Iterator[distributed.Client]:
    """A client of a LocalCluster of two single-threaded worker processes, one per session."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client
