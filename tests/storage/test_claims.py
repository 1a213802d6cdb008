"""A batch claim is one UPDATE whatever its size (one more each time runs of a limited flow
were passed over), on SQLite and PostgreSQL; the claim order and limits are the contract
suite's (tests/storage/contract/test_flow_limits.py, test_queues.py)."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from ledgerflow.storage import Storage

from .builders import TTL
from .contract.test_queues import LATER, submitted


@contextmanager
def statements(storage: Storage) -> Iterator[list[str]]:
    """The first words of the SQL statements run meanwhile (BEGIN and lock checks included)."""
    assert storage.database is not None
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    sa.event.listen(storage.database, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(storage.database, "before_cursor_execute", note)


def test_claiming_a_batch_is_one_update(storage: Storage) -> None:
    for i in range(150):
        submitted(storage, f"r{i:03d}", i, flow=f"f{i % 3}", **({"max_concurrent_runs": 60} if i % 3 else {}))
    with statements(storage) as seen:
        claimed = storage.log.claim_scheduled("w", TTL, limit=120, now=LATER)
    assert claimed == [f"r{i:03d}" for i in range(120)]  # f1's and f2's 40 runs each fit their limits
    assert seen.count("WITH") == 1  # the UPDATE, after its candidates (WITH ... UPDATE ... RETURNING)
    assert len(seen) <= 3  # and at most a BEGIN and the check for the flow slots' lock


def test_runs_passed_over_cost_one_more_update(storage: Storage) -> None:
    for i in range(10):
        submitted(storage, f"f{i}", i, max_concurrent_runs=2)
        submitted(storage, f"g{i}", 10 + i, flow="g")
    with statements(storage) as seen:
        claimed = storage.log.claim_scheduled("w", TTL, limit=10, now=LATER)
    assert claimed == ["f0", "f1", *(f"g{i}" for i in range(8))]
    assert seen.count("WITH") == 2
