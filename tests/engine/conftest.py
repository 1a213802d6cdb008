"""An engine on each database (SQLite and PostgreSQL), with threads."""

from collections.abc import Iterator
from pathlib import Path

import pytest

import ledgerflow as lf


@pytest.fixture
def engine(database_url: str, tmp_path: Path) -> Iterator[lf.Engine]:
    with lf.Engine(database_url, executor="threads", home=tmp_path) as opened:
        yield opened
