"""Runs that become claimable wake listening workers on PostgreSQL: a submitted run, in the
transaction that creates it, and runs whose leases were let lapse. SQLite polls."""

from pathlib import Path

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.storage import Storage
from ledgerflow.storage.claim_notices import ClaimListener, can_listen

from .builders import TTL


def created(state: str) -> list[NewEvent]:
    return [NewEvent(None, "run.created", {"flow": "f", "state": state})]


def test_submitted_and_lapsed_runs_are_announced(storage: Storage, tmp_path: Path) -> None:
    if not can_listen(storage.database):
        assert storage.database is not None and storage.database.dialect.name == "sqlite"
        return
    assert storage.database is not None
    with ClaimListener(storage.database) as listener:
        storage.log.append("pending", 0, created("PENDING"))  # its creator drives it: not announced
        storage.log.append("submitted", 0, created("SCHEDULED"))
        assert listener.claimable_runs(timeout=10) == {"submitted"}
        storage.log.take_over("pending", "w", TTL)
        storage.log.lapse_many(["pending"], "someone else")  # not the holder: nothing lapses
        storage.log.lapse_many(["pending", "submitted"], "w")
        assert listener.claimable_runs(timeout=10) == {"pending"}
