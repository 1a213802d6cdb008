"""Text with lone surrogates (an undecodable byte of a file name, as ``os.listdir`` gives it)
in what a task prints, logs, raises or skips with: stored readable, the run ends as it
should, on SQLite and PostgreSQL."""

import io
import logging
import sys
from typing import Any

import pytest

import ledgerflow as lf
from ledgerflow.executors.body import error_info
from ledgerflow.executors.text import exception_text, readable_text

NAME = "caf\udce9.txt"  # os.listdir's name for the bytes b"caf\xe9.txt" on a UTF-8 system


@lf.task
def listing() -> int:
    print(NAME)
    logging.getLogger("ledgerflow_tests.undecodable").warning("found %s", NAME)
    return 1


@lf.task
def opening(count: int) -> int:
    raise ValueError(f"cannot open {NAME} (\udcff)")


@lf.task
def skipping() -> None:
    raise lf.Skip(f"nothing to do for {NAME}")


def notify(ctx: Any) -> None:
    raise RuntimeError(f"no route to \udcff {ctx.run_id}")


@lf.flow(on_failure=[notify])
def undecodable() -> Any:
    skipping()
    return opening(listing())


def test_surrogates_in_output_errors_and_reasons_are_stored_escaped(
    engine: lf.Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    console = io.StringIO()  # takes any text, as a terminal in the POSIX locale does
    monkeypatch.setattr(sys, "stdout", console)  # here: pytest resets it after fixtures
    run = engine.run(undecodable)

    assert run.state == "FAILED"
    assert run.tasks["listing"].state == "SUCCEEDED"
    assert run.tasks["skipping"].state == "SKIPPED"
    error = run.tasks["opening"].error
    assert error is not None
    assert error["message"] == "cannot open caf\\udce9.txt (\\udcff)"
    assert "ValueError: cannot open caf\\udce9.txt (\\udcff)" in error["traceback"]
    events = engine.events(run.id)
    skipped = next(e for e in events if e.type == "task.skipped")
    assert skipped.payload["reason"] == "nothing to do for caf\\udce9.txt"
    hook = next(e for e in events if e.type == "hook.failed")
    assert hook.payload["reason"].startswith("RuntimeError: no route to \\udcff")
    lines = [(line.stream, line.message) for line in engine.logs(run.id, "listing")]
    assert lines == [("stdout", "caf\\udce9.txt"), ("log", "found caf\\udce9.txt")]
    assert NAME in console.getvalue()  # the console got what the task printed, unchanged
    assert engine.verify(run.id).ok


def test_readable_text_escapes_only_lone_surrogates() -> None:
    assert readable_text("plain") == "plain"
    assert readable_text("naïve ☃") == "naïve ☃"
    assert readable_text(NAME) == "caf\\udce9.txt"
    assert readable_text(NAME).encode("utf-8") == b"caf\\udce9.txt"


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no")


def test_an_exception_that_cannot_say_itself_is_still_described() -> None:
    assert exception_text(Unprintable()) == "<Unprintable: str() failed>"
    try:
        raise Unprintable()
    except Unprintable as exc:
        info = error_info(exc)
    assert info.message == "<Unprintable: str() failed>"
    assert "Unprintable" in info.traceback
