"""Concurrency limits by tag: all-or-none slots with leases."""

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from ledgerflow.storage import ConcurrencyLimits, Storage, TagUsage

from ..builders import driven, try_acquire


def usage(limits: ConcurrencyLimits) -> dict[str, tuple[int, int, list[str]]]:
    """tag -> (limit, in use, waiting task keys)."""
    return {u.tag: (u.limit, u.in_use, [w.task_key for w in u.waiting]) for u in limits.limits()}


def test_a_task_takes_every_limited_tag_or_none(storage: Storage) -> None:
    limits = storage.limits
    driven(storage, "r1", "w")
    limits.set_limit("a", 1)
    limits.set_limit("b", 2)
    assert try_acquire(limits, "r1", "t1", ["b", "a", "unlimited"], "w")
    assert not try_acquire(limits, "r1", "t2", ["a", "b"], "w")
    assert usage(limits) == {"a": (1, 1, ["t2"]), "b": (2, 1, [])}  # t2 took no slot of b
    assert try_acquire(limits, "r1", "t3", ["b"], "w")
    assert usage(limits)["b"] == (2, 2, [])
    limits.release("r1", "t1", "t3")
    assert try_acquire(limits, "r1", "t2", ["a", "b"], "w")
    assert usage(limits) == {"a": (1, 1, []), "b": (2, 1, [])}


def test_many_tasks_take_slots_in_their_order_in_one_call(storage: Storage) -> None:
    limits = storage.limits
    driven(storage, "r1", "w")
    limits.set_limit("db", 2)
    limits.set_limit("gpu", 1)
    tasks = [("t1", ["db"]), ("t2", ["db", "gpu"]), ("t3", ["db"]), ("t4", ["gpu"]), ("t5", ["free"])]
    assert limits.try_acquire_many("r1", tasks, "w") == {"t1", "t2", "t5"}
    assert usage(limits) == {"db": (2, 2, ["t3"]), "gpu": (1, 1, ["t4"])}
    limits.release("r1", "t1")
    assert limits.try_acquire_many("r1", [("t3", ["db"]), ("t4", ["gpu"])], "w") == {"t3"}
    assert usage(limits) == {"db": (2, 2, []), "gpu": (1, 1, ["t4"])}


def test_tags_without_a_limit_are_unlimited(storage: Storage) -> None:
    driven(storage, "r1", "w")
    assert all(try_acquire(storage.limits, "r1", f"t{i}", ["free"], "w") for i in range(20))
    assert try_acquire(storage.limits, "r1", "t", [], "w")
    assert storage.limits.limits() == []


def test_limit_zero_pauses_a_tag_until_raised(storage: Storage) -> None:
    limits = storage.limits
    driven(storage, "r1", "w")
    limits.set_limit("db", 0)
    assert not try_acquire(limits, "r1", "t1", ["db"], "w")
    assert not try_acquire(limits, "r1", "t1", ["db"], "w")  # still one waiting row
    [tag] = limits.limits()
    assert tag == TagUsage("db", 0, 0, tag.waiting) and [w.task_key for w in tag.waiting] == ["t1"]
    assert tag.waiting[0].run_id == "r1" and tag.waiting[0].since.tzinfo is not None
    limits.set_limit("db", 1)
    assert try_acquire(limits, "r1", "t1", ["db"], "w")
    assert usage(limits) == {"db": (1, 1, [])}


def test_set_limit_rejects_bad_values(storage: Storage) -> None:
    for tag, value in [("db", -1), ("db", True), ("db", 1.5), ("", 1), ("x" * 256, 1)]:
        with pytest.raises(ValueError):
            storage.limits.set_limit(tag, value)  # type: ignore[arg-type]
    assert storage.limits.limits() == []


def test_a_slot_comes_back_when_its_holders_lease_expires(storage: Storage) -> None:
    limits = storage.limits
    driven(storage, "r1", "dead", ttl=5)
    driven(storage, "r2", "live")
    limits.set_limit("db", 1)
    assert try_acquire(limits, "r1", "t", ["db"], "dead")
    assert not try_acquire(limits, "r2", "t", ["db"], "live")
    later = datetime.now(UTC) + timedelta(seconds=10)
    assert [u.in_use for u in limits.limits(now=later)] == [0]  # lapsed: not counted
    assert try_acquire(limits, "r2", "t", ["db"], "live", now=later)
    assert usage(limits) == {"db": (1, 1, [])}


def test_a_taken_over_run_no_longer_holds_the_old_drivers_slots(storage: Storage) -> None:
    limits = storage.limits
    driven(storage, "r1", "old")
    limits.set_limit("db", 1)
    assert try_acquire(limits, "r1", "t", ["db"], "old")
    storage.log.take_over("r1", "new", 60)
    assert usage(limits) == {"db": (1, 0, [])}
    assert try_acquire(limits, "r1", "t", ["db"], "new")  # the same task, a new driver
    limits.release_run("r1", owner="old")
    assert usage(limits) == {"db": (1, 1, [])}
    limits.release_run("r1")
    assert usage(limits) == {"db": (1, 0, [])}


def test_concurrent_acquirers_never_exceed_the_limit(storage: Storage) -> None:
    limits = storage.limits
    limits.set_limit("db", 3)
    runs = [driven(storage, f"r{i}", f"w{i}") for i in range(8)]
    lock = threading.Lock()
    holding, peak, taken = [0], [0], [0]

    def work(run_id: str, owner: str) -> None:
        for n in range(6):
            while not try_acquire(limits, run_id, f"t{n}", ["db"], owner):
                time.sleep(0.005)
            with lock:
                holding[0] += 1
                peak[0] = max(peak[0], holding[0])
                taken[0] += 1
            time.sleep(0.01)
            with lock:
                holding[0] -= 1
            limits.release(run_id, f"t{n}")

    threads = [threading.Thread(target=work, args=(run_id, f"w{i}")) for i, run_id in enumerate(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert taken[0] == 48 and 1 <= peak[0] <= 3
    assert usage(limits) == {"db": (3, 0, [])}
