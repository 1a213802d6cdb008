"""Fixtures of the CLI tests: an isolated LEDGERFLOW_HOME, flows files, a CLI invoker, and
runs whose driver died."""

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from textwrap import dedent

import pytest
from typer.testing import CliRunner, Result

import ledgerflow as lf
from ledgerflow.cli import app
from ledgerflow.engine.flow_ref import load_flow

from ..crashing import CrashingExecutor

FLOWS = dedent(
    '''
    import ledgerflow as lf


    @lf.task
    def double(x: int) -> int:
        return 2 * x


    @lf.task
    def total(values: list[int], offset: int, negate: bool) -> int:
        value = sum(values) + offset
        return -value if negate else value


    @lf.task
    def describe(n, xs, negate) -> str:
        return " ".join(type(value).__name__ for value in (n, xs, *xs, negate))


    @lf.task
    def explode(x: int) -> int:
        raise RuntimeError(f"kaboom {x}")


    @lf.flow
    def arithmetic(n: int, xs: list[int], negate: bool = False, label: str | None = None):
        return {"total": total(double.map(xs), n, negate), "kinds": describe(n, xs, negate)}


    @lf.flow
    def wide(n: int = 25):
        return total(double.map(list(range(n))), 0, False)


    @lf.flow
    def failing(x: int = 1):
        return double(explode(x))


    not_a_flow = 42
    '''
)

STEPS = dedent(
    '''
    from pathlib import Path

    import ledgerflow as lf

    HERE = Path(__file__).parent


    @lf.task
    def step(x: int, name: str) -> int:
        with (HERE / "ran.txt").open("a") as out:
            out.write(name + "\\n")
        if (HERE / f"fail-{name}").exists():
            raise RuntimeError(f"asked to fail {name}")
        return x + 1


    @lf.flow
    def steps(n: int = 4):
        value = 0
        for i in range(n):
            value = step(value, f"s{i}")
        return value
    '''
)

Invoke = Callable[..., Result]
CrashAt = Callable[..., str]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """LEDGERFLOW_HOME in tmp_path, no database URL from the environment, logging restored."""
    home = tmp_path / "home"
    monkeypatch.setenv("LEDGERFLOW_HOME", str(home))
    monkeypatch.delenv("LEDGERFLOW_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    logger = logging.getLogger("ledgerflow")
    level, handlers = logger.level, list(logger.handlers)
    yield home
    logger.setLevel(level)
    logger.handlers[:] = handlers


@pytest.fixture
def flows_file(tmp_path: Path) -> Path:
    """A file of flows: arithmetic (typed parameters), wide (a 25-way map), failing."""
    path = tmp_path / "flows.py"
    path.write_text(FLOWS)
    return path


@pytest.fixture
def cli(database_url: str) -> Invoke:
    """Invoke the CLI in-process against the parametrized database (``--database URL``)."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(app, [*args, "--database", database_url])

    return invoke


@pytest.fixture
def steps_file(tmp_path: Path) -> Path:
    """A chain ``step`` -> ``step-1`` -> ... whose tasks append their name (s0, s1, ...) to
    ``ran.txt`` beside the file, and fail while a file ``fail-<name>`` exists there."""
    folder = tmp_path / "steps"
    folder.mkdir()
    path = folder / "steps_flow.py"
    path.write_text(STEPS)
    return path


def ran(steps_file: Path) -> list[str]:
    """The names of the step bodies that ran, in order."""
    ledger = steps_file.with_name("ran.txt")
    return ledger.read_text().split() if ledger.exists() else []


@pytest.fixture
def crash_at(database_url: str, steps_file: Path, tmp_path: Path) -> CrashAt:
    """Run ``steps`` until its driver dies on submitting task ``fatal``; returns the run id."""

    def crash(fatal: str, n: int = 4) -> str:
        with lf.Engine(database_url, CrashingExecutor(fatal), home=tmp_path) as engine:
            with pytest.raises(SystemExit):
                engine.run(load_flow(f"{steps_file}:steps"), n=n)
            return engine.runs()[0].run_id

    return crash
