"""One suite for every executor: outcomes of successes, failures, skips and timeouts."""

import os
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC
from typing import Any

import cloudpickle
import pytest

from ledgerflow.executors import (
    Executor,
    Invocation,
    Outcome,
    OutcomeStatus,
    Skip,
    Upstream,
    Value,
    context,
)
from ledgerflow.executors.body import outcome_value

# The workers cannot import this test package: ship its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


def run_one(executor: Executor, fn: Callable[..., Any], *args: Any, **options: Any) -> Outcome:
    invocation = Invocation("run-1", options.pop("key", "t"), 1, fn, args, {}, **options)
    return executor.submit_many([invocation])[0].result(timeout=30)


def plain_data() -> dict[str, Any]:
    return {"a": [1, 2.5, None], "b": "text"}


def a_set() -> set[int]:
    return {1, 2}


def boom() -> None:
    raise ValueError("boom")


def raise_key_error() -> None:
    raise KeyError("k")


def skip() -> None:
    raise Skip("nothing to do")


def wait_on(event: threading.Event | None) -> None:
    (event or threading.Event()).wait(30)


def a_lock() -> Any:
    return threading.Lock()


def a_generator() -> Any:
    return (i for i in range(3))


def whoami() -> list[Any]:
    found = context()
    return [found.run_id, found.task_key, found.attempt, found.idempotency_key]


def pid() -> int:
    return os.getpid()


def identity(*args: Any, **kwargs: Any) -> list[Any]:
    return [list(args), kwargs]


def double(x: int) -> int:
    return 2 * x


def test_success_with_a_json_result(executor: Executor) -> None:
    outcome = run_one(executor, plain_data)

    assert outcome.status is OutcomeStatus.SUCCEEDED
    assert outcome.result is not None and outcome.result.format == "json"
    assert outcome_value(outcome) == plain_data()
    assert outcome.started_at.tzinfo is UTC and outcome.finished_at >= outcome.started_at
    assert outcome.worker and outcome.has_run  # its times are its body's, where it ran


def test_success_with_a_pickled_result(executor: Executor) -> None:
    outcome = run_one(executor, a_set)

    assert outcome.result is not None and outcome.result.format == "pickle"
    assert outcome_value(outcome) == {1, 2}


def test_failure_carries_type_message_and_traceback(executor: Executor) -> None:
    outcome = run_one(executor, boom)

    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.error is not None
    assert outcome.error.type == "builtins.ValueError"
    assert outcome.error.message == "boom"
    assert "in boom" in outcome.error.traceback and "ValueError: boom" in outcome.error.traceback
    assert outcome.is_retryable  # the default retry_on is (Exception,)
    assert outcome.has_run


@pytest.mark.parametrize(("retry_on", "is_retryable"), [((KeyError,), True), ((ValueError, OSError), False)])
def test_retry_on_decides_is_retryable(
    executor: Executor, retry_on: tuple[type[BaseException], ...], is_retryable: bool
) -> None:
    outcome = run_one(executor, raise_key_error, retry_on=retry_on)

    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.is_retryable is is_retryable


def test_skip_ends_skipped_with_its_reason(executor: Executor) -> None:
    outcome = run_one(executor, skip)

    assert outcome.status is OutcomeStatus.SKIPPED
    assert outcome.skip_reason == "nothing to do"
    assert outcome.error is None


@pytest.fixture
def never_set() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()  # lets the abandoned thread (threads executor) return


def test_timeout_fails_the_attempt(executor: Executor, never_set: threading.Event) -> None:
    # On Dask the event cannot travel: the worker's body waits on its own event.
    event = never_set if executor.__class__.__name__ == "ThreadExecutor" else None

    outcome = run_one(executor, wait_on, event, key="slow", timeout=0.2, retry_on=(KeyError,))

    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.error is not None and outcome.error.type == "ledgerflow.TaskTimeout"
    assert "'slow'" in outcome.error.message and "0.2 s" in outcome.error.message
    assert not outcome.is_retryable
    assert run_one(executor, wait_on, event, timeout=0.2).is_retryable  # TaskTimeout is one


@pytest.mark.parametrize(("fn", "type_name"), [(a_lock, "lock"), (a_generator, "generator")])
def test_unserializable_result_fails_clearly(
    executor: Executor, fn: Callable[[], Any], type_name: str
) -> None:
    outcome = run_one(executor, fn, key="odd")

    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.error is not None
    assert outcome.error.type == "ledgerflow.ResultNotSerializable"
    assert "'odd'" in outcome.error.message and type_name in outcome.error.message
    assert not outcome.is_retryable


def test_context_names_run_task_and_attempt(executor: Executor) -> None:
    invocation = Invocation("run-7", "who[2]", 3, whoami, (), {})

    outcome = executor.submit_many([invocation])[0].result(timeout=30)

    assert outcome_value(outcome) == ["run-7", "who[2]", 3, "run-7:who[2]:3"]


def test_upstream_placeholders_resolve_with_index_and_nesting(executor: Executor) -> None:
    (upstream,) = executor.submit_many([Invocation("run-1", "up", 1, identity, (10, 20), {})])
    args = (Upstream("up", 0), [Upstream("up"), (Upstream("v"),)])
    kwargs = {"k": {"x": Upstream("up", 1)}}
    inputs = {"up": upstream, "v": Value("hi")}
    downstream = Invocation("run-1", "down", 1, identity, args, kwargs, inputs=inputs)

    outcome = executor.submit_many([downstream])[0].result(timeout=30)

    up_value = [[10, 20], {}]
    assert outcome_value(outcome) == [[[10, 20], [up_value, ("hi",)]], {"k": {"x": {}}}]
    executor.release("run-1")


def test_a_batch_of_tiny_invocations_keeps_per_task_outcomes(executor: Executor) -> None:
    invocations = [Invocation("run-b", f"double[{i}]", 1, double, (i,), {}) for i in range(1000)]

    futures = executor.submit_many(invocations)

    outcomes = [future.result(timeout=30) for future in futures]
    assert [outcome.task_key for outcome in outcomes] == [f"double[{i}]" for i in range(1000)]
    assert [outcome_value(outcome) for outcome in outcomes] == [2 * i for i in range(1000)]
    executor.release("run-b")
