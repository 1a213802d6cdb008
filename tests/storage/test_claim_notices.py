"""Runs that become claimable wake listening workers on PostgreSQL: a submitted run, in the
transaction that creates it, runs whose leases were let lapse or given up, and the slots of
limited flows that runs let go. SQLite polls."""

from pathlib import Path

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.storage import RunAppend, Storage
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


def announced(listener: ClaimListener) -> set[str]:
    """The notifications that arrive until none comes for 0.3 s (the first within 10 s)."""
    payloads = listener.claimable_runs(timeout=10)
    while more := listener.claimable_runs(timeout=0.3):
        payloads |= more
    return payloads


def test_a_released_or_handed_back_run_of_a_limited_flow_announces_its_free_slot(storage: Storage) -> None:
    if not can_listen(storage.database):
        return
    assert storage.database is not None
    storage.limits.set_limit("flow:set", 2)  # its runs recorded no limit
    for run_id, payload in (("limited", {"max_concurrent_runs": 1}), ("free", {}), ("set", {})):
        storage.log.append(run_id, 0, [NewEvent(None, "run.created", {"flow": run_id, **payload})])
        storage.log.take_over(run_id, "w", TTL)
    with ClaimListener(storage.database) as listener:
        storage.log.release_many(["free", "limited", "set"], "w")
        assert announced(listener) == {"flow:limited", "flow:set"}
        for run_id in ("limited", "free"):
            storage.log.take_over(run_id, "w", TTL)
        storage.log.release("free", "w")  # an unlimited flow: nothing to announce
        storage.log.hand_back("limited", "w")  # claimable at once, and its slot is free
        assert announced(listener) == {"limited", "flow:limited"}
        storage.log.take_over("limited", "w", TTL)
        storage.log.release("limited", "w")
        assert announced(listener) == {"flow:limited"}
        for run_id in ("limited", "free"):  # a driver's last batch gives its lease up
            storage.log.take_over(run_id, "w", TTL)
        ended = [NewEvent(None, "run.succeeded", {})]
        storage.log.append_many([RunAppend(r, 1, ended, "w", release=True) for r in ("limited", "free")])
        assert announced(listener) == {"flow:limited"}
        for run_id in ("limited", "free"):  # so does it after a head its driver knows
            storage.log.take_over(run_id, "w", TTL)
        last = {run_id: storage.log.read(run_id)[-1] for run_id in ("limited", "free")}
        for run_id, event in last.items():
            storage.log.append_many(
                [RunAppend(run_id, 2, ended, "w", head=(event.hash, event.ts), release=True)]
            )
        assert announced(listener) == {"flow:limited"}
        assert [storage.log.run(run_id).owner for run_id in ("limited", "free")] == [None, None]
