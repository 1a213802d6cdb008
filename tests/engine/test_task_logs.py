"""Task output captured by the engine: stored per attempt, on threads and Dask, both databases."""

import logging
import sys
from typing import Any

import cloudpickle
import pytest

import ledgerflow as lf
from ledgerflow.storage import RunNotFound, TaskLogLine

# pytest imports the tests under a name the workers cannot import: send them by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

LOGGER = "ledgerflow_tests.engine_logs"


@lf.task(retries=1, retry_delay=0.01, retry_on=(OSError,))
def noisy(x: int) -> int:
    log = logging.getLogger(LOGGER)
    log.setLevel(logging.INFO)
    attempt = lf.context().attempt
    print(f"attempt {attempt} of noisy({x})")
    log.info("working on %s", x)
    if attempt == 1:
        log.warning("first attempt fails")
        raise OSError("transient")
    return x + 1


@lf.task
def quiet(x: int) -> int:
    return 2 * x


@lf.task
def shout(x: int) -> int:
    print(f"shout {x}")
    return x


@lf.flow
def chatty(x: int = 1) -> Any:
    return quiet(noisy(x))


@lf.flow
def many(n: int = 20) -> Any:
    return shout.map(list(range(n)))


def by_attempt(lines: list[TaskLogLine]) -> dict[tuple[str, int], list[tuple[str, str]]]:
    grouped: dict[tuple[str, int], list[tuple[str, str]]] = {}
    for line in lines:
        grouped.setdefault((line.task_key, line.attempt), []).append((line.stream, line.message))
    return grouped


def check_chatty(engine: lf.Engine) -> None:
    run = engine.run(chatty, x=4)
    assert run.state == "SUCCEEDED" and run.result() == 10

    assert by_attempt(engine.logs(run.id)) == {
        ("noisy", 1): [
            ("stdout", "attempt 1 of noisy(4)"),
            ("log", "working on 4"),
            ("log", "first attempt fails"),
        ],
        ("noisy", 2): [("stdout", "attempt 2 of noisy(4)"), ("log", "working on 4")],
    }
    lines = engine.logs(run.id, "noisy")
    assert [line.seq for line in lines] == [0, 1, 2, 0, 1]
    warning = lines[2]
    assert (warning.level, warning.logger) == ("WARNING", LOGGER)
    assert engine.logs(run.id, "quiet") == []
    assert engine.verify(run.id).ok  # logs are beside the chain, not in it


def test_logs_of_each_attempt_on_threads(engine: lf.Engine) -> None:
    check_chatty(engine)


def test_logs_of_a_map_are_stored_per_child(engine: lf.Engine) -> None:
    run = engine.run(many, n=20)
    lines = engine.logs(run.id)
    assert sorted(line.message for line in lines) == sorted(f"shout {i}" for i in range(20))
    assert {line.task_key for line in lines} == {f"shout[{i}]" for i in range(20)}


def test_logs_of_an_unknown_run(engine: lf.Engine) -> None:
    with pytest.raises(RunNotFound):
        engine.logs("no-such-run")


def test_logs_of_each_attempt_on_dask_workers(dask_engine: lf.Engine) -> None:
    check_chatty(dask_engine)
