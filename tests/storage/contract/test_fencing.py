"""Owner fencing: an append names its driver, and a driver whose run was taken over stops."""

import pytest

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.storage import AppendConflict, Storage

from ..builders import created, task_events


def driven_by(storage: Storage, run_id: str, owner: str) -> None:
    storage.log.append(run_id, 0, [created()])
    storage.log.append(run_id, 1, [NewEvent(None, "run.running", {"owner": owner})])
    storage.log.take_over(run_id, owner, 30.0)


def test_the_holder_appends_and_a_taken_over_driver_is_refused(storage: Storage) -> None:
    driven_by(storage, "r1", "old")
    storage.log.append("r1", 2, task_events(1), owner="old")
    storage.log.take_over("r1", "new", 30.0)
    with pytest.raises(AppendConflict, match="no longer holds") as info:
        storage.log.append("r1", 3, task_events(1, start=1), owner="old")
    assert (info.value.run_id, info.value.expected_seq) == ("r1", 3)
    storage.log.append("r1", 3, task_events(1, start=1), owner="new")
    assert storage.log.run("r1").head_seq == 4


def test_a_released_run_fences_its_old_driver(storage: Storage) -> None:
    driven_by(storage, "r1", "old")
    storage.log.release("r1", "old")
    with pytest.raises(AppendConflict):
        storage.log.append("r1", 2, task_events(1), owner="old")
    storage.log.append("r1", 2, task_events(1))  # an unfenced append (a creator, a canceller)
    assert storage.log.run("r1").head_seq == 3


def test_a_run_running_event_names_the_owner_of_the_read_model(storage: Storage) -> None:
    driven_by(storage, "r1", "w1")
    storage.log.append("r1", 2, [NewEvent(None, "run.succeeded", {})], owner="w1")
    summary = storage.log.run("r1")
    assert (summary.state, summary.owner) == ("SUCCEEDED", "w1")
