"""``show`` and ``logs`` give the error of every attempt that raised, the retried ones too,
whole and wrapped at spaces (never cut mid-word); ``events`` keeps its seq column."""

from pathlib import Path
from textwrap import dedent

import pytest

import ledgerflow as lf
from ledgerflow.cli.attempt_errors import readable
from ledgerflow.engine.flow_ref import load_flow

from .conftest import Invoke

WORDS = " ".join(f"word{i}" for i in range(60))
FLAKY = dedent(
    f'''
    from pathlib import Path

    import ledgerflow as lf

    HERE = Path(__file__).parent


    @lf.task(retries=2)
    def flaky(x: int) -> int:
        attempts = HERE / "attempts"
        count = int(attempts.read_text()) + 1 if attempts.exists() else 1
        attempts.write_text(str(count))
        print(f"attempt {{count}} starts")
        if count < 3:
            raise ValueError(f"attempt {{count}} of many: {WORDS}")
        return x


    @lf.task(retries=1)
    def doomed(x: int) -> int:
        raise RuntimeError(f"doomed {{x}} [bold]not markup[/bold] {WORDS}")


    @lf.flow
    def recovers(x: int = 1):
        return flaky(x)


    @lf.flow
    def fails(x: int = 1):
        return doomed(x)
    '''
)


@pytest.fixture
def runs(database_url: str, tmp_path: Path) -> dict[str, str]:
    path = tmp_path / "flaky_flows.py"
    path.write_text(FLAKY)
    with lf.Engine(database_url, home=tmp_path) as engine:
        recovered = engine.run(load_flow(f"{path}:recovers")).id
        failed = engine.run(load_flow(f"{path}:fails")).id
    return {"recovered": recovered, "failed": failed}


def flat(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


def test_show_lists_each_attempts_error_whole(cli: Invoke, runs: dict[str, str]) -> None:
    shown = cli("show", runs["recovered"])
    assert shown.exit_code == 0, shown.output
    assert "SUCCEEDED" in shown.stdout
    text = flat(shown.stdout)
    assert "flaky 1 retried builtins.ValueError attempt 1 of many:" in text
    assert "flaky 2 retried builtins.ValueError attempt 2 of many:" in text
    for word in WORDS.split():
        assert f" {word} " in f"{text} "  # every word whole: none cut

    failed = flat(cli("show", runs["failed"]).stdout)
    assert "doomed 1 retried builtins.RuntimeError doomed 1 [bold]not markup[/bold]" in failed
    assert "doomed 2 failed builtins.RuntimeError" in failed


def test_logs_shows_each_attempts_error_after_its_output(cli: Invoke, runs: dict[str, str]) -> None:
    result = cli("logs", runs["recovered"])
    assert result.exit_code == 0, result.output
    text = flat(result.stdout)
    first = text.index("attempt 1 starts")
    raised = "attempt 1 raised builtins.ValueError (retried): attempt 1 of many: word0"
    assert text.index(raised, first) > first
    assert "attempt 3 starts" in text and "attempt 3 raised" not in text
    assert WORDS in text

    only_errors = flat(cli("logs", runs["failed"], "--task", "doomed").stdout)
    assert "doomed · attempt 1" in only_errors
    assert "attempt 2 raised builtins.RuntimeError (failed): doomed 1 [bold]not markup[/bold]" in only_errors


def test_events_keeps_the_seq_column(cli: Invoke, runs: dict[str, str]) -> None:
    rows = [line for line in cli("events", runs["failed"]).stdout.splitlines() if "task.retrying" in line]
    assert rows and rows[0].split("│")[1].strip().isdigit()


def test_readable_shortens_at_a_space() -> None:
    assert readable("short message  ") == "short message"
    assert readable("alpha beta gamma", limit=12) == "alpha beta …"
    assert readable("x" * 30, limit=10) == "x" * 10 + " …"
