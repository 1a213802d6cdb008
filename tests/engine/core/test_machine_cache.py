"""The cache as the machine asks it: a hit is recorded instead of a run, a miss runs the task
and records its key with the result, a task without a key runs saying why."""

from ledgerflow.engine.core.commands import Finished, LookUpCache, Submit, WakeAt
from ledgerflow.engine.core.policy import TaskPolicy
from ledgerflow.engine.core.states import RunState
from ledgerflow.engine.core.stimuli import CacheAnswered, CacheHit, CacheMiss, NotCached, Started, TimePassed
from ledgerflow.engine.retry import RetryPolicy

from ..builders import LogBuilder, chain_graph
from .machines import (
    NOW,
    OWNER,
    START,
    appended,
    event,
    failure,
    iso,
    later,
    machine_of,
    running,
    running_run,
    started,
    succeeded_payload,
    success,
)

CACHED = TaskPolicy(retry=RetryPolicy(retries=1), is_cacheable=True, cache_expiration=60.0)
FOREVER = TaskPolicy(retry=RetryPolicy(), is_cacheable=True)
HIT = CacheHit("key-a", {"inline": 1}, "run-0", "a")


def test_a_hit_is_recorded_and_its_downstream_starts() -> None:
    machine = machine_of(chain_graph("a", "b"), {"a": CACHED}, has_cache=True)
    assert machine.handle([START], NOW) == [appended(running_run()), LookUpCache(("a",))]
    hit = {"cache_key": "key-a", "result": {"inline": 1}, "source_run": "run-0", "source_task": "a"}
    assert machine.handle([CacheAnswered({"a": HIT})], NOW) == [
        appended(event("a", "task.cached", hit), running("b")),
        Submit(("b",)),
        WakeAt(None),
    ]


def test_a_miss_runs_the_task_and_records_its_key_and_expiry_with_the_result() -> None:
    machine = started(chain_graph("a", "b"), {"a": CACHED}, has_cache=True)
    assert machine.handle([CacheAnswered({"a": CacheMiss("key-a")})], NOW) == [
        appended(running("a", cache_key="key-a")),
        Submit(("a",)),
        WakeAt(None),
    ]
    at = later(1)
    stored = {**succeeded_payload(value=1), "cache_key": "key-a", "cache_expires_at": iso(later(61))}
    assert machine.handle([success("a", value=1), TimePassed()], at) == [
        appended(event("a", "task.succeeded", stored, at), running("b", at=at)),
        Submit(("b",)),
        WakeAt(None),
    ]


def test_an_entry_without_expiration_records_no_expiry() -> None:
    machine = started(chain_graph("a"), {"a": FOREVER}, has_cache=True)
    machine.handle([CacheAnswered({"a": CacheMiss("key-a")})], NOW)
    at = later(1)
    assert machine.handle([success("a"), TimePassed()], at) == [
        appended(
            event("a", "task.succeeded", {**succeeded_payload(), "cache_key": "key-a"}, at),
            event(None, "run.succeeded", at=at),
        ),
        Finished(RunState.SUCCEEDED),
    ]


def test_a_task_without_a_key_runs_and_says_why() -> None:
    machine = started(chain_graph("a"), {"a": FOREVER}, has_cache=True)
    reason = "not cached: cache_key returned None"
    assert machine.handle([CacheAnswered({"a": NotCached(reason)})], NOW) == [
        appended(running("a", cache=reason)),
        Submit(("a",)),
        WakeAt(None),
    ]
    at = later(1)
    assert machine.handle([success("a")], at)[0] == appended(
        event("a", "task.succeeded", succeeded_payload(), at), event(None, "run.succeeded", at=at)
    )


def test_a_task_not_looked_up_runs_without_a_note() -> None:
    machine = started(chain_graph("a"), {"a": FOREVER}, has_cache=True)
    assert machine.handle([CacheAnswered({"a": NotCached()})], NOW) == [
        appended(running("a")),
        Submit(("a",)),
        WakeAt(None),
    ]


def test_only_cacheable_tasks_are_looked_up_and_the_others_wait_for_the_answer() -> None:
    machine = machine_of(chain_graph("a"), has_cache=True)
    assert machine.handle([START], NOW) == [
        appended(running_run(), running("a")),
        Submit(("a",)),
        WakeAt(None),
    ]
    machine = machine_of(chain_graph("a"), {"a": CACHED})  # no cache index to ask
    assert machine.handle([START], NOW) == [
        appended(running_run(), running("a")),
        Submit(("a",)),
        WakeAt(None),
    ]


def test_a_retry_keeps_the_key_its_first_attempt_was_given() -> None:
    machine = started(chain_graph("a"), {"a": CACHED}, has_cache=True)
    machine.handle([CacheAnswered({"a": CacheMiss("key-a")})], NOW)
    machine.handle([failure("a", is_retryable=True), TimePassed()], later(1))
    at = later(2)
    assert machine.handle([success("a", attempt=2)], at)[0] == appended(
        event(
            "a",
            "task.succeeded",
            {**succeeded_payload(attempt=2), "cache_key": "key-a", "cache_expires_at": iso(later(62))},
            at,
        ),
        event(None, "run.succeeded", at=at),
    )


def _resumed_after_a_miss() -> LogBuilder:
    log = LogBuilder(chain_graph("a"))
    log.add(None, "run.running", {"owner": "dead"})
    log.add("a", "task.running", {"attempt": 1, "cache_key": "key-a"})
    return log


def test_a_resumed_retry_keeps_the_key_its_log_records() -> None:
    log = _resumed_after_a_miss()
    log.add("a", "task.retrying", {"attempt": 1, "retry_at": "2026-01-01T00:30:00+00:00"})
    machine = machine_of(log, {"a": CACHED}, has_cache=True)
    assert machine.handle([Started(OWNER, "resume")], NOW) == [
        appended(
            event(None, "run.running", {"owner": OWNER, "reason": "resume"}),
            running("a", 2, cache_key="key-a"),
        ),
        Submit(("a",)),
        WakeAt(None),
    ]
    at = later(1)
    stored = {**succeeded_payload(attempt=2), "cache_key": "key-a", "cache_expires_at": iso(later(61))}
    assert machine.handle([success("a", attempt=2)], at)[0] == appended(
        event("a", "task.succeeded", stored, at), event(None, "run.succeeded", at=at)
    )


def test_an_orphaned_attempt_records_the_key_its_log_records() -> None:
    machine = machine_of(_resumed_after_a_miss(), {"a": CACHED}, has_cache=True)
    machine.handle([Started(OWNER, "resume")], NOW)
    at = later(1)
    stored = {**succeeded_payload(attempt=2), "cache_key": "key-a", "cache_expires_at": iso(later(61))}
    assert machine.handle([success("a", attempt=2)], at)[0] == appended(
        event("a", "task.succeeded", stored, at), event(None, "run.succeeded", at=at)
    )
