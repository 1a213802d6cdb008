"""Fixtures of the CLI tests: an isolated LEDGERFLOW_HOME, a flows file, and a CLI invoker."""

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from textwrap import dedent

import pytest
from typer.testing import CliRunner, Result

from ledgerflow.cli import app

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

Invoke = Callable[..., Result]


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
