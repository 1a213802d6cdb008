"""The figures a metrics scrape reads of the whole store: the same on every backend (one
indexed statement each on a database, the ports in memory)."""

from datetime import UTC, datetime, timedelta

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.storage import Storage, TagSlots
from ledgerflow.storage.figures import SILENT_WORKER_HORIZON

NOW = datetime.now(UTC).replace(microsecond=0)
TTL = 60.0


def created(storage: Storage, run_id: str, **payload: object) -> None:
    storage.log.append(run_id, 0, [NewEvent(None, "run.created", {"flow": "f", **payload}, NOW)])


def running(storage: Storage, run_id: str, owner: str | None, taken: datetime = NOW) -> None:
    """A RUNNING run whose lease ``owner`` took at ``taken`` (None: no lease at all)."""
    created(storage, run_id)
    storage.log.append(run_id, 1, [NewEvent(None, "run.running", {"owner": owner or "gone"}, NOW)])
    if owner is not None:
        storage.log.take_over(run_id, owner, TTL, now=taken)


def test_runs_in_progress_are_the_running_runs_listed_as_running(storage: Storage) -> None:
    running(storage, "live", "w1")
    running(storage, "unleased", None)  # its creator had not taken a lease: listed RUNNING
    running(storage, "dead", "w0", taken=NOW - timedelta(hours=1))  # listed CRASHED
    created(storage, "pending")
    created(storage, "scheduled", state="SCHEDULED")
    assert storage.figures().runs_in_progress(NOW) == 2
    assert storage.figures().runs_in_progress(NOW + timedelta(seconds=TTL + 1)) == 1


def test_runs_waiting_are_the_unclaimed_scheduled_runs_by_queue(storage: Storage) -> None:
    for run_id, queue in (("a", "default"), ("b", "default"), ("c", "gpu"), ("d", "cpu"), ("e", "io")):
        created(storage, run_id, state="SCHEDULED", queue=queue)
    assert storage.log.claim_scheduled("w1", TTL, now=NOW, queues=["cpu"]) == ["d"]
    lapsed = NOW - timedelta(hours=1)
    assert storage.log.claim_scheduled("w0", TTL, now=lapsed, queues=["io"]) == ["e"]  # it died
    running(storage, "r", "w1")
    assert storage.figures().runs_waiting(NOW) == {"default": 2, "gpu": 1, "io": 1}


def test_tag_slots_count_the_slots_and_waiters_of_live_drivers(storage: Storage) -> None:
    storage.limits.set_limit("db", 2, now=NOW)
    storage.limits.set_limit("gpu", 1, now=NOW)
    storage.limits.set_limit("idle", 0, now=NOW)
    storage.limits.set_limit("flow:f", 3, now=NOW)  # a flow's run limit: not a tag's
    running(storage, "gone", "w0", taken=NOW - timedelta(hours=1))  # its driver died holding a slot
    storage.limits.set_limit("old", 1, now=NOW)
    assert storage.limits.try_acquire_many("gone", [("x", ["old"])], "w0", now=NOW - timedelta(hours=1))
    running(storage, "r", "w1")
    tasks = [("t1", ["db"]), ("t2", ["db", "gpu"]), ("t3", ["db"]), ("t4", ["gpu"])]
    assert storage.limits.try_acquire_many("r", tasks, "w1", now=NOW) == {"t1", "t2"}
    assert storage.figures().tag_slots(NOW) == [
        TagSlots("db", 2, 2, 1), TagSlots("gpu", 1, 1, 1), TagSlots("idle", 0, 0, 0), TagSlots("old", 1, 0, 0)
    ]


def test_heartbeats_are_those_of_the_running_workers(storage: Storage) -> None:
    storage.workers.register("w1", "host", 1, now=NOW - timedelta(seconds=30))
    storage.workers.register("w2", "host", 2, now=NOW - timedelta(seconds=60))
    assert storage.workers.heartbeat("w2", now=NOW - timedelta(seconds=5))
    storage.workers.register("w3", "host", 3, now=NOW)
    storage.workers.mark_stopped("w3", now=NOW)
    storage.workers.register("killed", "host", 4, now=NOW - SILENT_WORKER_HORIZON - timedelta(seconds=1))
    storage.workers.register("silent", "host", 5, now=NOW - SILENT_WORKER_HORIZON)
    expected = {"w1": NOW - timedelta(seconds=30), "w2": NOW - timedelta(seconds=5)}
    expected["silent"] = NOW - SILENT_WORKER_HORIZON
    assert storage.figures().heartbeats(NOW) == expected  # "killed" has been silent too long
