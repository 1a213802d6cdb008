"""A driver process SIGKILLed right after an unpersisted result was recorded, before the task
that needs it ran: the resume runs the producer again (the log says why), the consumer gets
the value, and every body that ran is one the log asked for."""

from pathlib import Path
from textwrap import dedent

import pytest

import ledgerflow as lf

from .checks import crash_of, ran
from .processes import Spawn, drive
from .scripts import RECORDING

UNPERSISTED = dedent(
    """

    @lf.task(persist_result=False)
    def load(n: int) -> list[int]:
        record()
        return list(range(n))


    @lf.task(persist_result=False)
    def shape(values: list[int]) -> list[int]:
        record()
        return [value * 2 for value in values]


    @lf.task
    def consume(values: list[int]) -> int:
        record()
        return sum(values)


    @lf.flow
    def lost(n: int = 500):
        return consume(shape(load(n)))
    """
)
EXPECTED = 2 * sum(range(500))


@pytest.mark.parametrize(
    ("killed_after", "again"),
    [
        ("load", {"load": "result not persisted", "shape": "input not persisted"}),
        (
            "shape",
            {
                "load": "result not persisted",
                "shape": "result not persisted",
                "consume": "input not persisted",
            },
        ),
    ],
)
def test_a_resume_runs_the_unpersisted_producers_the_rest_of_the_run_needs(
    database_url: str, crash_dir: Path, spawn: Spawn, killed_after: str, again: dict[str, str]
) -> None:
    (crash_dir / "unpersisted.py").write_text(RECORDING + UNPERSISTED)
    child = drive(
        spawn,
        crash_dir,
        database_url,
        "unpersisted.py:lost",
        CRASH_MODE="after-event",
        CRASH_TARGET=killed_after,
    )
    run_id = child.wait_for(lambda line: line.startswith("appended ")).split()[1]
    assert child.wait() == -9  # it killed itself right after the task.succeeded of killed_after
    with lf.Engine(database_url, home=crash_dir) as engine:
        crash = crash_of(engine, run_id)
        assert killed_after in crash.succeeded and "consume" not in crash.succeeded
        run = engine.resume(run_id)
        assert run.state == "SUCCEEDED" and run.result() == EXPECTED
        events = engine.events(run_id)
        assert engine.verify(run_id).ok and [e.seq for e in events] == list(range(1, len(events) + 1))
        history = [(e.seq, e.hash) for e in crash.events]
        assert [(e.seq, e.hash) for e in events[: len(history)]] == history  # appended to, never rewritten
        reasons = {e.task_key: e.payload["reason"] for e in events if e.type == "task.pending"}
        assert reasons == again
        produced = [e for e in events if e.type == "task.succeeded" and e.task_key == killed_after]
        assert [e.payload["result"]["persisted"] for e in produced] == [False, False]
        assert produced[0].payload["result"]["sha256"] == produced[1].payload["result"]["sha256"]
    assert ran(crash_dir, "load") == [1, 2]  # once per drive: the resume needed it again
    assert ran(crash_dir, "consume") == [run.tasks["consume"].attempts]  # its body ran once, in the resume
