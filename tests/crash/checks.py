"""What a recovered run must look like: the log's history kept, each completion recorded
once, no body that the log says finished run again, and the result of an uncrashed run."""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import ledgerflow as lf
from ledgerflow.engine.core.fold import fold

from .scripts import expected_result, task_keys


@dataclass(frozen=True)
class Crash:
    """What the log said when the driver died."""

    events: list[lf.Event]
    succeeded: frozenset[str]  # tasks with task.succeeded in the log
    running: dict[str, int]  # tasks left RUNNING -> their attempts so far
    retrying: dict[str, int]  # tasks left waiting for a retry -> their attempts so far


def crash_of(engine: lf.Engine, run_id: str) -> Crash:
    """Read the log of a run whose driver was just killed."""
    events = engine.events(run_id)
    view = fold(events)
    assert not view.state.is_terminal, f"the run ended before the kill: {view.state}"
    running = {t.key: t.attempts for t in view.tasks.values() if t.state is lf.TaskState.RUNNING}
    retrying = {t.key: t.attempts for t in view.tasks.values() if t.state is lf.TaskState.RETRYING}
    succeeded = frozenset(e.task_key for e in events if e.type == "task.succeeded" and e.task_key)
    return Crash(events, succeeded, running, retrying)


def read_ledger(directory: Path) -> list[tuple[str, int]]:
    """(task key, attempt) of every task body that ran, in order."""
    path = directory / "ledger.txt"
    lines = path.read_text().splitlines() if path.exists() else []
    return [(key, int(attempt)) for key, attempt in (line.split() for line in lines)]


def ran(directory: Path, key: str) -> list[int]:
    """The attempts of ``key`` whose body ran."""
    return [attempt for task_key, attempt in read_ledger(directory) if task_key == key]


def check_log(engine: lf.Engine, run_id: str) -> list[lf.Event]:
    """Seqs gap-free from 1, the chain verifies, at most one task.succeeded per task."""
    events = engine.events(run_id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    report = engine.verify(run_id)
    assert report.ok, f"chain broken at seq {report.first_bad_seq}"
    succeeded = Counter(e.task_key for e in events if e.type == "task.succeeded")
    assert [key for key, count in succeeded.items() if count > 1] == []
    return events


def check_recovered(
    engine: lf.Engine,
    run_id: str,
    crash: Crash,
    directory: Path,
    *,
    keys: Sequence[str] = tuple(task_keys()),
    expected: object = expected_result(),
    drivers: Sequence[str] = ("start", "resume"),
) -> lf.Run:
    """The run finished as an uncrashed one would (``expected``), every task of ``keys``
    completed once, and no body the log had finished ran again; ``drivers``: the reasons
    of its run.running events (who drove it, in order)."""
    run = engine.get_run(run_id)
    assert run.state == "SUCCEEDED"
    assert run.result() == expected
    events = check_log(engine, run_id)
    history = [(e.seq, e.hash) for e in crash.events]
    assert [(e.seq, e.hash) for e in events[: len(history)]] == history  # appended to, never rewritten
    completions = {e.task_key: e.payload["attempt"] for e in events if e.type == "task.succeeded"}
    assert sorted(completions) == sorted(keys)  # every task completed, each recorded once
    ledger = read_ledger(directory)
    assert len(set(ledger)) == len(ledger), "an attempt's body ran twice"
    started = {(e.task_key, e.payload["attempt"]) for e in events if e.type == "task.running"}
    assert set(ledger) <= started, "a body ran under an attempt the log does not record"
    runs = Counter(key for key, _ in ledger)
    for key in keys:
        assert (key, completions[key]) in ledger  # the recorded result came from a body that ran
        if key in crash.succeeded:
            assert runs[key] == 1, f"{key} had succeeded before the crash but ran {runs[key]} times"
        elif key in crash.running:
            assert run.tasks[key].attempts == crash.running[key] + 1  # a new attempt, numbering on
        elif key in crash.retrying:
            assert run.tasks[key].attempts == runs[key] == crash.retrying[key] + 1
        else:
            assert run.tasks[key].attempts == 1 and runs[key] == 1
    reasons = [e.payload["reason"] for e in events if e.type == "run.running"]
    assert reasons == list(drivers)
    return run
