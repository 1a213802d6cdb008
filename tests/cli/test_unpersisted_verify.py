"""``ledgerflow verify RUN --results`` skips results that were not persisted, with a note."""

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
