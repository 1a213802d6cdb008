"""An engine on each database (SQLite and PostgreSQL), with threads or on the session's Dask cluster."""

from collections.abc import Iterator
from pathlib import Path

import distributed
import pytest

import ledgerflow as lf


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[lf.Engine]:
    with lf.Engine(database_url, executor="threads", home=tmp_path) as opened:
        yield opened


@pytest.fixture
def dask_engine(
    database_url: str, tmp_path: Path, dask_client: distributed.Client
) -> Iterator[lf.Engine]:
    with lf.Engine(database_url, lf.DaskExecutor(client=dask_client), home=tmp_path) as engine:
        yield engine
