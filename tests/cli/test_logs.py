"""``ledgerflow logs``, in-process, on SQLite and PostgreSQL."""

from pathlib import Path
from textwrap import dedent

import orjson

from .conftest import Invoke
from .test_commands import run_id_of

NOISY = dedent(
    '''
    import logging

    import ledgerflow as lf


    @lf.task(retries=1, retry_delay=0.01)
    def noisy(x: int) -> int:
        log = logging.getLogger("noisy.task")
        log.setLevel(logging.INFO)
        print(f"noisy prints {x} on attempt {lf.context().attempt}")
        log.info("noisy logs %s", x)
        if lf.context().attempt == 1:
            raise RuntimeError("first attempt fails")
        return x


    @lf.task
    def other(x: int) -> int:
        print("other prints")
        return x


    @lf.flow
    def noisy_flow(x: int = 3):
        return other(noisy(x))
    '''
)


def noisy_run(cli: Invoke, tmp_path: Path) -> str:
    path = tmp_path / "noisy_flows.py"
    path.write_text(NOISY)
    result = cli("run", f"{path}:noisy_flow", "-p", "x=7")
    assert result.exit_code == 0, result.output
    return run_id_of(result.stdout)


def test_logs_are_grouped_by_task_and_attempt(cli: Invoke, tmp_path: Path) -> None:
    run_id = noisy_run(cli, tmp_path)

    result = cli("logs", run_id)
    assert result.exit_code == 0, result.output
    out = result.stdout
    order = [
        "noisy · attempt 1",
        "stdout    noisy prints 7 on attempt 1",
        "INFO      noisy.task: noisy logs 7",
        "noisy · attempt 2",
        "noisy prints 7 on attempt 2",
        "other · attempt 1",
        "other prints",
    ]
    positions = [out.index(text) for text in order]
    assert positions == sorted(positions), out


def test_logs_of_one_task_as_json(cli: Invoke, tmp_path: Path) -> None:
    run_id = noisy_run(cli, tmp_path)

    result = cli("logs", run_id, "--task", "other", "--json")
    assert result.exit_code == 0, result.output
    (line,) = [orjson.loads(text) for text in result.stdout.splitlines()]
    assert line["run_id"] == run_id and line["task_key"] == "other" and line["attempt"] == 1
    assert (line["seq"], line["stream"], line["message"]) == (0, "stdout", "other prints")
    assert line["ts"].endswith("+00:00")


def test_unknown_run_or_task_is_bad_usage(cli: Invoke, tmp_path: Path) -> None:
    assert cli("logs", "no-such-run").exit_code == 2
    run_id = noisy_run(cli, tmp_path)
    unknown = cli("logs", run_id, "--task", "nope")
    assert unknown.exit_code == 2 and "nope" in unknown.output
    assert cli("logs", run_id, "--task", "other").exit_code == 0
