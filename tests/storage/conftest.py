"""Fixtures of the storage tests below the ports: an engine on an empty database."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledgerflow.storage import create_db_engine


@pytest.fixture
def engine(empty_database_url: str, tmp_path: Path) -> Iterator[sa.Engine]:
    """A SQLAlchemy engine on an empty database (no schema yet), for tests of migrations."""
    engine = create_db_engine(empty_database_url, tmp_path)
    try:
        yield engine
    finally:
        engine.dispose()
