"""Write the golden logs of tests/replay/golden/: signed exports of representative runs.

    python -m tests.replay.make_golden      # from the repository root

Each run is made with threads on a fresh SQLite database and exported with
``GOLDEN_KEY``: a dynamic map that succeeds, a failure after retries with its downstream
UPSTREAM_FAILED, a run whose task is CACHED from an earlier run, and a failed run that
was restarted and succeeded. ``test_golden.py`` checks that every file still verifies
and folds to the states it lists.

Run it only to add the logs of a new version (as new files, beside the old ones),
never to make a failing golden test pass: logs written by earlier versions must stay
readable, so a payload change ships with an upcaster instead.
"""

import sys
import tempfile
from pathlib import Path
from typing import Any

import ledgerflow as lf

GOLDEN = Path(__file__).with_name("golden")
GOLDEN_KEY = b"ledgerflow golden logs"


@lf.task
def numbers(n: int) -> list[int]:
    return list(range(n))


@lf.task
def double(x: int) -> int:
    return 2 * x


@lf.task
def total(xs: list[int]) -> int:
    return sum(xs)


@lf.task(retries=2, retry_delay=0.0)
def unreliable(x: int) -> int:
    raise ConnectionError(f"service down for {x}")


@lf.task(cache_key=lf.inputs_hash)
def square(x: int) -> int:
    return x * x


_BROKEN = {"step": True}


@lf.task
def step(x: int) -> int:
    if _BROKEN["step"]:
        raise RuntimeError("step is not fixed yet")
    return x + 1


@lf.flow(name="mapped")
def mapped(n: int = 3) -> Any:
    return total(double.map(numbers(n)))


@lf.flow(name="failing")
def failing(x: int = 1) -> Any:
    return {"after": double(unreliable(x)), "fine": double(x)}


@lf.flow(name="cached")
def cached(x: int = 4) -> Any:
    return double(square(x))


@lf.flow(name="restarted")
def restarted(x: int = 1) -> Any:
    return double(step(x))


def write(engine: lf.Engine, name: str, run: lf.Run) -> None:
    """Export ``run`` as golden/<name>.jsonl, signed."""
    summary = engine.export(run.id, GOLDEN / f"{name}.jsonl", key=GOLDEN_KEY)
    print(f"{name}: run {run.id} {run.state}, {summary.events} events", file=sys.stderr)


def main() -> None:
    GOLDEN.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as home, lf.Engine(None, "threads", home=home) as engine:
        engine.owner = "make_golden"  # recorded in run.running instead of this host's name
        write(engine, "map_success", engine.run(mapped, n=3))
        write(engine, "failure_with_retries", engine.run(failing, x=1))
        engine.run(cached, x=4)
        write(engine, "cached", engine.run(cached, x=4))
        failed = engine.run(restarted, x=1)
        _BROKEN["step"] = False
        write(engine, "restarted", engine.restart(failed.id))


if __name__ == "__main__":
    # Run the flows of this module as imported, not of __main__: the runs then record an
    # importable flow reference (tests.replay.make_golden:...), not this file's path.
    from tests.replay.make_golden import main as main_of_module

    main_of_module()
