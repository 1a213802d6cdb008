"""``ledgerflow watch``: follows a run another process drives until it ends, in real subprocesses.

A task of the watched run blocks reading a FIFO: opening it for writing returns once the
task is running, and closing it lets the run finish, so nothing waits on a clock.
"""

import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from textwrap import dedent

import pytest
import sqlalchemy as sa

import ledgerflow as lf
from ledgerflow.storage import create_db_engine
from ledgerflow.storage.schema import runs

from .conftest import CrashAt, Invoke
from .test_console_script import SCRIPT, script_env

GATED = dedent(
    """
    from pathlib import Path

    import ledgerflow as lf

    GATE = Path(__file__).with_name("gate")


    @lf.task
    def double(x: int) -> int:
        return 2 * x


    @lf.task
    def wait_gate(values: list[int]) -> int:
        word = GATE.read_text().strip()  # blocks until the test opens, writes and closes the FIFO
        if word == "fail":
            raise RuntimeError("asked to fail")
        return sum(values)


    @lf.flow
    def gated(n: int = 3):
        return wait_gate(double.map(list(range(n))))
    """
)


@pytest.fixture
def gated_file(tmp_path: Path) -> Path:
    folder = tmp_path / "gated"
    folder.mkdir()
    os.mkfifo(folder / "gate")
    path = folder / "gated_flow.py"
    path.write_text(GATED)
    return path


def start(home: Path, database_url: str, *args: str) -> "subprocess.Popen[str]":
    env = {**script_env(home, database_url), "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [str(SCRIPT), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def only_run_id(database_url: str, home: Path) -> str:
    with lf.Engine(database_url, home=home) as engine:
        (run,) = engine.runs()
        return run.run_id


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("word", "exit_code", "counts"), [
    ("go", 0, "tasks: 4 SUCCEEDED"),
    ("fail", 1, "tasks: 3 SUCCEEDED, 1 FAILED"),
])  # fmt: skip
def test_watch_follows_a_run_of_another_process_until_it_ends(
    tmp_path: Path, database_url: str, gated_file: Path, word: str, exit_code: int, counts: str
) -> None:
    driver = start(tmp_path, database_url, "run", f"{gated_file}:gated")
    with (gated_file.with_name("gate")).open("w") as gate:  # returns once wait_gate is running
        run_id = only_run_id(database_url, tmp_path)
        watcher = start(tmp_path, database_url, "watch", run_id, "--poll", "0.02")
        first = watcher.stdout.readline() if watcher.stdout else ""
        assert first.startswith(f"watching run {run_id} (flow gated): RUNNING"), first
        gate.write(word)
    out, err = watcher.communicate(timeout=90)
    driver.communicate(timeout=90)
    assert watcher.returncode == exit_code, err
    assert driver.returncode == exit_code
    assert counts in out
    assert f"state: {'SUCCEEDED' if exit_code == 0 else 'FAILED'}" in out
    assert "wait_gate" in out and "Traceback" not in err


def expire_lease(database_url: str, home: Path, run_id: str) -> None:
    engine = create_db_engine(database_url, home)
    try:
        with engine.begin() as connection:
            past = datetime.now(UTC) - timedelta(minutes=1)
            connection.execute(sa.update(runs).where(runs.c.run_id == run_id).values(lease_expires_at=past))
    finally:
        engine.dispose()


def test_watch_exits_1_on_a_crashed_run_when_asked(
    cli: Invoke, crash_at: CrashAt, database_url: str, tmp_path: Path
) -> None:
    run_id = crash_at("step-1")
    expire_lease(database_url, tmp_path, run_id)
    result = cli("watch", run_id, "--exit-on-crash", "--poll", "0.01")
    assert result.exit_code == 1
    assert "CRASHED: its driver's lease expired; stopped watching" in result.stdout
    assert "state: CRASHED" in result.stdout and "tasks: 2 PENDING, 1 RUNNING, 1 SUCCEEDED" in result.stdout


@pytest.mark.timeout(120)
def test_watch_waits_through_a_crash_for_the_resume(
    crash_at: CrashAt, database_url: str, tmp_path: Path, isolated: Path
) -> None:
    run_id = crash_at("step-1")
    expire_lease(database_url, tmp_path, run_id)
    watcher = start(isolated, database_url, "watch", run_id, "--poll", "0.02")
    assert watcher.stdout is not None
    lines = []
    while not lines or "CRASHED: its driver's lease expired" not in lines[-1]:
        line = watcher.stdout.readline()
        assert line, f"watch ended early: {''.join(lines)}"
        lines.append(line)
    with lf.Engine(database_url, home=tmp_path) as engine:
        assert engine.resume(run_id).state == "SUCCEEDED"
    out, err = watcher.communicate(timeout=90)
    assert watcher.returncode == 0, err
    assert "tasks: 4 SUCCEEDED" in out and "state: SUCCEEDED" in out


def test_watch_of_an_unknown_run_is_bad_usage(cli: Invoke) -> None:
    result = cli("watch", "no-such-run")
    assert result.exit_code == 2
    assert "no run with id 'no-such-run'" in result.stderr
