"""Fixtures of the storage tests beside the shared ones (tests/conftest.py)."""

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from ledgerflow.storage import create_db_engine


@pytest.fixture
def empty_engine(empty_database_url: str, tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine on an empty database (no schema), for tests of migrations."""
    engine = create_db_engine(empty_database_url, tmp_path)
    try:
        yield engine
    finally:
        engine.dispose()
