"""Capture of what task attempts print and log: on threads and Dask, per attempt, bounded."""

import contextlib
import io
import logging
import sys
import threading
from collections.abc import Callable
from datetime import UTC
from typing import Any

import cloudpickle
import pytest

from ledgerflow.executors import Executor, Invocation, LogLine, Outcome, OutcomeStatus, ThreadExecutor
from ledgerflow.executors.body import run_invocation
from ledgerflow.executors.capture import STDOUT, AttemptLog

# The workers cannot import this test package: ship its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

LOGGER = "ledgerflow_tests.capture"


def run_one(executor: Executor, fn: Callable[..., Any], *args: Any, **options: Any) -> Outcome:
    invocation = Invocation("run-1", options.pop("key", "t"), 1, fn, args, {}, **options)
    return executor.submit_many([invocation])[0].result(timeout=30)


def chatty(x: int) -> int:
    log = logging.getLogger(LOGGER)
    log.setLevel(logging.DEBUG)  # the logger's own level lets DEBUG through; capture takes INFO+
    print("hello", x)
    print("no newline at the end", end="")
    sys.stderr.write("to stderr\n")
    log.debug("not captured: below INFO")
    log.info("computing %s", x)
    try:
        raise ValueError("inner")
    except ValueError:
        log.exception("caught it")
    return 2 * x


def chatty_then_fail() -> None:
    print("about to fail")
    raise RuntimeError("failed")


def simple(lines: tuple[LogLine, ...]) -> list[tuple[str, str | None, str]]:
    return [(line.stream, line.level, line.message.splitlines()[0]) for line in lines]


def test_prints_and_log_records_come_back_with_the_outcome(executor: Executor) -> None:
    outcome = run_one(executor, chatty, 21)

    assert outcome.status is OutcomeStatus.SUCCEEDED
    assert simple(outcome.logs) == [
        ("stdout", None, "hello 21"),
        ("stderr", None, "to stderr"),
        ("log", "INFO", "computing 21"),
        ("log", "ERROR", "caught it"),
        ("stdout", None, "no newline at the end"),  # a pending partial line ends the attempt
    ]
    assert all(line.ts.tzinfo is UTC for line in outcome.logs)
    assert outcome.logs[2].logger == LOGGER
    assert "ValueError: inner" in outcome.logs[3].message  # the traceback is part of the record


def test_a_failed_attempt_keeps_its_output(executor: Executor) -> None:
    outcome = run_one(executor, chatty_then_fail)

    assert outcome.status is OutcomeStatus.FAILED
    assert simple(outcome.logs) == [("stdout", None, "about to fail")]


def test_prints_still_reach_the_real_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    with ThreadExecutor() as threads:
        outcome = run_one(threads, chatty, 1)
    captured = capsys.readouterr()
    assert "hello 1" in captured.out and "to stderr" in captured.err
    assert ("stdout", None, "hello 1") in simple(outcome.logs)
    assert type(sys.stdout).__name__ != "_TeeStream"  # put back once no attempt runs


def marker_printer(marker: str, barrier: threading.Barrier, count: int) -> None:
    log = logging.getLogger(LOGGER)
    log.setLevel(logging.INFO)
    barrier.wait(10)
    for i in range(count):
        print(marker, i)
        log.info("%s log %d", marker, i)
        sys.stderr.write(f"{marker} err {i}\n")


def test_concurrent_attempts_in_one_process_do_not_see_each_others_lines() -> None:
    count = 300
    barrier = threading.Barrier(3)  # two tasks and a thread that is no task at all
    with ThreadExecutor(max_workers=2) as threads:
        futures = threads.submit_many(
            [
                Invocation("run-1", f"t{n}", 1, marker_printer, (f"marker-{n}", barrier, count), {})
                for n in (1, 2)
            ]
        )
        barrier.wait(10)
        for i in range(count):
            print("bystander", i)
        outcomes = [future.result(timeout=30) for future in futures]

    for n, outcome in enumerate(outcomes, start=1):
        assert len(outcome.logs) == 3 * count
        assert all(line.message.startswith(f"marker-{n} ") for line in outcome.logs)
        assert [line.message for line in outcome.logs if line.stream == "stdout"] == [
            f"marker-{n} {i}" for i in range(count)
        ]


def test_a_timed_out_attempt_keeps_what_it_printed_before_the_timeout() -> None:
    release = threading.Event()

    def slow() -> None:
        print("started")
        release.wait(10)

    invocation = Invocation("run-1", "slow", 1, slow, (), {}, timeout=0.2)
    try:
        outcome = run_invocation(invocation, (), {})
    finally:
        release.set()
    assert outcome.error is not None and outcome.error.type == "ledgerflow.TaskTimeout"
    assert simple(outcome.logs) == [("stdout", None, "started")]


def test_memory_is_bounded_with_a_note_for_the_dropped_lines() -> None:
    buffer = AttemptLog(head=3, tail=2, max_chars=10)
    for i in range(10):  # what the stream proxy passes on for each print
        buffer.write(STDOUT, f"line {i}\n")
    buffer.write(STDOUT, "x" * 25 + "\n")
    lines = buffer.lines()

    messages = [line.message for line in lines]
    assert messages[:3] == ["line 0", "line 1", "line 2"]
    assert messages[-2:] == ["line 9", "xxxxxxxxxx... [15 characters cut]"]
    note = lines[3]
    assert note.stream == "log" and note.level == "WARNING" and note.logger == "ledgerflow.capture"
    assert note.message.startswith("6 line(s) dropped")
    assert len(lines) == 6


def test_the_default_bounds_keep_an_attempt_small() -> None:
    def flood() -> None:
        for i in range(5000):
            print("flood", i)

    outcome = run_invocation(Invocation("run-1", "flood", 1, flood, (), {}), (), {})
    assert len(outcome.logs) == 2001
    assert outcome.logs[0].message == "flood 0" and outcome.logs[-1].message == "flood 4999"
    assert outcome.logs[1000].message.startswith("3000 line(s) dropped")


def test_a_stream_replaced_while_an_attempt_runs_is_captured_by_the_next_attempt() -> None:
    """A test runner or ``redirect_stdout`` may swap sys.stdout while an attempt (say, one
    abandoned after its timeout) still runs: later attempts capture anyway, and the proxy
    is pointed at the new stream rather than stacked on it."""
    started, release = threading.Event(), threading.Event()

    def lingering() -> None:
        started.set()
        release.wait(10)

    abandoned = threading.Thread(
        target=run_invocation, args=(Invocation("run-1", "slow", 1, lingering, (), {}), (), {})
    )
    abandoned.start()
    started.wait(10)
    swapped = io.StringIO()
    try:
        with contextlib.redirect_stdout(swapped):
            for n in range(3):
                outcome = run_invocation(
                    Invocation("run-1", f"t{n}", 1, print, (f"line {n}",), {}), (f"line {n}",), {}
                )
                assert simple(outcome.logs) == [("stdout", None, f"line {n}")]
            proxy: Any = sys.stdout
            assert type(proxy).__name__ == "_TeeStream" and proxy.target is swapped
    finally:
        release.set()
        abandoned.join(10)
    assert swapped.getvalue() == "line 0\nline 1\nline 2\n"
    assert type(sys.stdout).__name__ != "_TeeStream"


def test_a_stream_that_wraps_the_proxy_does_not_loop() -> None:
    class Wrapper(io.TextIOBase):
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def write(self, text: str) -> int:
            return self.inner.write(text)

    def wrap_and_print() -> None:
        sys.stdout = Wrapper(sys.stdout)  # wraps the proxy of this attempt
        try:
            print("wrapped")
            inner = run_invocation(Invocation("run-1", "inner", 1, print, ("inner",), {}), ("inner",), {})
            assert simple(inner.logs) == [("stdout", None, "inner")]
        finally:
            sys.stdout = sys.stdout.inner

    outcome = run_invocation(Invocation("run-1", "outer", 1, wrap_and_print, (), {}), (), {})
    assert outcome.status is OutcomeStatus.SUCCEEDED, outcome.error


def test_warnings_outside_tasks_still_reach_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    run_invocation(Invocation("run-1", "t", 1, chatty, (1,), {}), (1,), {})  # handler installed
    logger = logging.getLogger("ledgerflow_tests.unhandled")
    logger.propagate = False  # no handler anywhere: logging's last resort prints it
    try:
        logger.warning("shown anyway")
    finally:
        logger.propagate = True
    assert "shown anyway" in capsys.readouterr().err
