"""Queues and priorities of claims, and the runs read model that keeps them: a claim takes
only runs of its queues, higher priority first, then older; a run recorded before queues
existed is in the default queue with priority 0."""

from typing import Any

import pytest

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.storage import Storage
from ledgerflow.storage.names import InvalidName

from ..builders import TTL, at


def submitted(storage: Storage, run_id: str, seconds: float, **terms: Any) -> None:
    """A SCHEDULED run created at ``seconds`` whose run.created records ``terms``."""
    payload = {"flow": terms.pop("flow", "f"), "state": "SCHEDULED", **terms}
    storage.log.append(run_id, 0, [NewEvent(None, "run.created", payload, at(seconds))])


def left_running(storage: Storage, run_id: str, seconds: float, **terms: Any) -> None:
    """A RUNNING run created at ``seconds`` whose driver died (its lease expired after TTL)."""
    payload = {"flow": terms.pop("flow", "f"), **terms}
    storage.log.append(run_id, 0, [NewEvent(None, "run.created", payload, at(seconds))])
    storage.log.append(run_id, 1, [NewEvent(None, "run.running", {"owner": "dead"}, at(seconds))])
    storage.log.take_over(run_id, "dead", TTL, now=at(seconds))


LATER = at(1000)


def test_a_run_records_its_queue_and_priority_and_an_old_log_reads_as_the_defaults(
    storage: Storage,
) -> None:
    submitted(storage, "new", 0, queue="gpu", priority=7, max_concurrent_runs=2)
    submitted(storage, "old", 0)  # written before run.created recorded them
    submitted(storage, "odd", 0, queue="", priority=True, max_concurrent_runs="2")
    new, old, odd = (storage.log.run(run_id) for run_id in ("new", "old", "odd"))
    assert (new.queue, new.priority, new.max_concurrent_runs) == ("gpu", 7, 2)
    assert (old.queue, old.priority, old.max_concurrent_runs) == ("default", 0, None)
    assert (odd.queue, odd.priority, odd.max_concurrent_runs) == ("default", 0, None)


def test_runs_filter_by_queue(storage: Storage) -> None:
    submitted(storage, "g1", 0, queue="gpu")
    submitted(storage, "d1", 1)
    submitted(storage, "g2", 2, queue="gpu")
    assert [run.run_id for run in storage.log.runs(queue="gpu")] == ["g2", "g1"]
    assert [run.run_id for run in storage.log.runs(queue="default")] == ["d1"]
    assert storage.log.run_counts(queue="gpu") == {"SCHEDULED": 2}
    assert storage.log.runs(queue="cpu") == []


def test_a_claim_takes_only_runs_of_its_queues(storage: Storage) -> None:
    submitted(storage, "gpu-run", 0, queue="gpu")
    submitted(storage, "old-run", 1)
    submitted(storage, "cpu-run", 2, queue="cpu")
    left_running(storage, "gpu-crashed", 3, queue="gpu")
    assert storage.log.claim_crashed("w", TTL, limit=5, now=LATER) == []
    assert storage.log.claim_scheduled("w", TTL, limit=5, now=LATER) == ["old-run"]
    assert storage.log.claim_crashed("g", TTL, limit=5, now=LATER, queues=["gpu"]) == ["gpu-crashed"]
    assert storage.log.claim_scheduled("g", TTL, limit=5, now=LATER, queues=("cpu", "gpu")) == [
        "gpu-run",
        "cpu-run",
    ]


def test_scheduled_runs_are_claimed_by_priority_then_age(storage: Storage) -> None:
    for run_id, seconds, priority in (("low", 0, 0), ("neg", 1, -5), ("high", 2, 10), ("mid", 3, 5)):
        submitted(storage, run_id, seconds, priority=priority)
    submitted(storage, "mid-later", 4, priority=5)
    order = [storage.log.claim_scheduled("w", TTL, now=LATER) for _ in range(6)]
    assert order == [["high"], ["mid"], ["mid-later"], ["low"], ["neg"], []]


def test_a_batch_claim_comes_in_claim_order(storage: Storage) -> None:
    submitted(storage, "a", 0)
    submitted(storage, "b", 1, priority=3)
    left_running(storage, "c", 2)
    left_running(storage, "d", 3, priority=1)
    assert storage.log.claim_crashed("w", TTL, limit=5, now=LATER) == ["d", "c"]
    assert storage.log.claim_scheduled("w", TTL, limit=5, now=LATER) == ["b", "a"]


def test_claims_refuse_bad_queue_names(storage: Storage) -> None:
    with pytest.raises(InvalidName):
        storage.log.claim_scheduled("w", TTL, queues=["a/b"])
    with pytest.raises(ValueError, match="one or more queue"):
        storage.log.claim_scheduled("w", TTL, queues=[])
    with pytest.raises(ValueError, match="one or more queue"):
        storage.log.claim_crashed("w", TTL, queues="gpu")
