"""The storage contract suite: every test here runs on each backend (in memory, SQLite and
PostgreSQL) through the ports only, so the backends keep one behaviour."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from ledgerflow.storage import Storage, open_storage


@pytest.fixture
def storage(store_url: str, tmp_path: Path) -> Iterator[Storage]:
    """An open, empty store on the parametrized backend (overrides the SQL-only fixture)."""
    with open_storage(store_url, tmp_path) as opened:
        yield opened
