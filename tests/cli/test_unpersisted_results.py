"""Results that were not persisted, on the command line: ``verify RUN --results`` skips them
with a note; a finished run's summary says its result is not available."""

from pathlib import Path

import ledgerflow as lf

from .conftest import Invoke


@lf.task(persist_result=False)
def rows(n: int) -> list[int]:
    return list(range(n))


@lf.task
def biggest(values: list[int]) -> int:
    return max(values)


@lf.flow
def largest(n: int = 500):
    return biggest(rows(n))


@lf.flow
def all_rows(n: int = 5):
    return rows(n)


def test_verify_results_notes_the_results_that_were_not_persisted(
    cli: Invoke, database_url: str, tmp_path: Path
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run_id = engine.run(largest).id
    done = cli("verify", run_id, "--results")
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[1:] == [
        f"note: run {run_id}: skipped 1 result(s) that were not persisted (persist_result=False: "
        "only their size and sha256 are recorded): rows",
        f"OK: run {run_id}: 0 stored results match their recorded size and sha256",
    ]


def test_a_finished_run_s_summary_says_its_result_is_not_available(
    cli: Invoke, database_url: str, tmp_path: Path
) -> None:
    with lf.Engine(database_url, home=tmp_path) as engine:
        run_id = engine.run(largest).id  # the flow returns a persisted result: shown
    done = cli("resume", run_id)
    assert done.exit_code == 0 and "result: 499" in done.output
    with lf.Engine(database_url, home=tmp_path) as engine:
        run_id = engine.run(all_rows).id
    done = cli("resume", run_id)
    assert done.exit_code == 0, done.output
    assert f"result: <not available: run {run_id}, task 'rows': its result was not persisted" in done.output
