"""A driver SIGKILLed between a task's write of its result and the append of the event that
refers to it leaves a stored result no event refers to. The resumed run gives the task a new
attempt (a new key) and succeeds; ``ledgerflow gc --results`` then lists exactly that orphan,
and with ``--execute`` removes it and nothing else. Results in a file:// store (written by the
task's thread, which the driver holds right after the write) and in the database (written by
the driver, which dies right after)."""

import signal
from datetime import timedelta
from pathlib import Path

import pytest

import ledgerflow as lf
from ledgerflow.results.objects import ObjectStore

from .checks import check_recovered, crash_of, ran
from .processes import LEDGERFLOW_CLI, Child, Spawn, drive
from .scripts import expected_result

TARGET = "step-7"  # its result (> 1 KiB) is stored, not inline


def killed_after_the_write(
    child: Child, placement: str, database_url: str, crash_dir: Path
) -> tuple[str, str]:
    """SIGKILL the driver once the target's result is stored; returns (run id, its key)."""
    if placement == "file":
        key = child.wait_for(lambda line: line.startswith("stored ")).split()[1]
        assert child.kill() == -signal.SIGKILL, "the driver ended before the kill"
        return key.partition("/")[0], key
    assert child.wait() == -signal.SIGKILL  # it killed itself right after storing the result
    with lf.Engine(database_url, home=crash_dir) as engine:
        (summary,) = engine.runs()
    return summary.run_id, f"{summary.run_id}/{TARGET}/1"


def referenced(engine: lf.Engine, run_id: str) -> set[str]:
    """The keys of the stored results the run's events refer to."""
    return {
        e.payload["result"]["ref"]
        for e in engine.events(run_id)
        if e.type in ("task.succeeded", "task.cached") and "ref" in e.payload["result"]
    }


def gc(spawn: Spawn, database_url: str, crash_dir: Path, *flags: str) -> str:
    """``ledgerflow gc --results --older-than 0s`` in a process of its own; its output."""
    child = spawn(
        LEDGERFLOW_CLI, "gc", "--results", "--older-than", "0s", *flags, "--database", database_url,
        name=f"gc{'-'.join(flags)}", LEDGERFLOW_HOME=str(crash_dir), COLUMNS="250",
    )  # fmt: skip
    output = "\n".join(child.rest())
    assert child.wait() == 0, child.describe()
    return output


@pytest.mark.parametrize("placement", ["file", "database"])
def test_the_orphan_of_a_killed_driver_is_found_and_removed(
    database_url: str, crash_dir: Path, spawn: Spawn, placement: str
) -> None:
    store = f"file://{crash_dir}/results" if placement == "file" else None
    mode = "after-object" if placement == "file" else "after-result"
    settings = {"LEDGERFLOW_RESULT_STORAGE": store} if store else {}
    child = drive(spawn, crash_dir, database_url, CRASH_MODE=mode, CRASH_TARGET=TARGET, **settings)
    run_id, orphan = killed_after_the_write(child, placement, database_url, crash_dir)

    with lf.Engine(database_url, home=crash_dir, result_storage=store) as engine:
        crash = crash_of(engine, run_id)
        assert crash.running == {TARGET: 1} and orphan not in referenced(engine, run_id)
        engine.resume(run_id)
        run = check_recovered(engine, run_id, crash, crash_dir)
        assert ran(crash_dir, TARGET) == [1, 2]  # re-run under a new attempt
        recorded = run.tasks[TARGET].result
        assert recorded is not None and recorded["ref"].startswith(f"{run_id}/{TARGET}/2")
        kept = referenced(engine, run_id)
        assert len(kept) == 4 and orphan not in kept  # the four big steps
        report = engine.gc_results(older_than=timedelta(0))
        assert [(o.store, o.key) for o in report.orphans] == [(store or "database", orphan)]

    listed = gc(spawn, database_url, crash_dir)
    assert orphan in listed and "dry run: 1 orphan (" in listed
    assert not any(key in listed for key in kept)
    removed = gc(spawn, database_url, crash_dir, "--execute")
    assert orphan in removed and "removed 1 of 1 orphan (" in removed

    with lf.Engine(database_url, home=crash_dir, result_storage=store) as engine:
        after = engine.gc_results(older_than=timedelta(0))
        assert after.orphans == ()
        counts = next(scan for scan in after.stores if scan.store == (store or "database")).counts
        assert counts == {"referenced": 4}
        if store is not None:
            assert set(ObjectStore(store).keys()) == kept
        assert engine.verify(run_id, results=True).ok
        assert engine.get_run(run_id).result() == expected_result()
