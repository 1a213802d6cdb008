"""A driver SIGKILLed after a failure was recorded but before its alert went out: the resumed
run sends each alert exactly once and records it.

With a task hook the kill lands after task.failed while another task still runs, the run still
RUNNING (the resumed driver delivers); with a flow hook only, after run.failed (``resume`` of
the ended run delivers)."""

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from textwrap import dedent

import pytest

import ledgerflow as lf
from ledgerflow.engine.core.fold import fold

from ..engine.test_hooks import Receiver
from .processes import PYTHON, Spawn

# The child kills itself the moment its driver takes an owed delivery from the outbox (on the
# driver's thread, right after the flush that recorded the trigger): before any request.
ALERTING = dedent(
    """
    import os
    import signal
    import sys
    import time
    from pathlib import Path

    import ledgerflow as lf
    from ledgerflow.engine.core import hook_outbox

    URL = {url!r}


    @lf.task(on_failure=lf.notify.slack(URL + "/task") if {task_hook!r} else None)
    def explode() -> int:
        raise RuntimeError("kaboom")


    @lf.task
    def hold() -> None:  # runs until the test lets it end, after the kill
        while not (Path(__file__).parent / "released").exists():
            time.sleep(0.02)


    @lf.flow(on_failure=lf.notify.slack(URL + "/run"))
    def alerting() -> object:
        return (explode(), hold()) if {task_hook!r} else explode()


    take = hook_outbox.HookOutbox.take


    def take_or_die(outbox):
        owed = take(outbox)
        if owed:
            print("delivering", flush=True)
            os.kill(os.getpid(), signal.SIGKILL)
        return owed


    if __name__ == "__main__":
        hook_outbox.HookOutbox.take = take_or_die
        with lf.Engine(sys.argv[1], home=Path(__file__).parent) as engine:
            engine.run(alerting)
    """
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    opened = Receiver()
    yield opened
    opened.close()


@pytest.mark.parametrize(("task_hook", "state_at_kill"), [(True, "RUNNING"), (False, "FAILED")])
def test_alerts_owed_at_a_sigkill_are_sent_once_by_the_resumed_run(
    database_url: str, crash_dir: Path, spawn: Spawn, receiver: Receiver, task_hook: bool,
    state_at_kill: str,
) -> None:  # fmt: skip
    (crash_dir / "alerting.py").write_text(ALERTING.format(url=receiver.url, task_hook=task_hook))
    child = spawn(PYTHON, "alerting.py", database_url, name="alerting")
    child.wait_for(lambda line: line == "delivering")
    assert child.wait() == -signal.SIGKILL
    assert receiver.requests == []
    (crash_dir / "released").touch()
    with lf.Engine(database_url, home=crash_dir) as engine:
        [summary] = engine.runs()
        events = engine.events(summary.run_id)
        assert not [e for e in events if e.type.startswith("hook.")]
        assert fold(events).state == state_at_kill
        run = engine.resume(summary.run_id)
        assert run.state == "FAILED"
        events = engine.events(run.id)
        sent = [e for e in events if e.type.startswith("hook.")]
        expected = ["flow.on_failure:slack:0", "task.on_failure:slack:0"][: 1 + task_hook]
        assert sorted(e.payload["hook"] for e in sent) == expected
        assert all(e.type == "hook.sent" for e in sent)
        assert engine.verify(run.id).ok
        assert engine.resume(run.id).state == "FAILED"  # nothing is owed any more
    [(run_message,)] = [tuple(b.values()) for b in receiver.bodies("/run")]
    assert run_message.startswith(f"ledgerflow: flow alerting run {run.id} FAILED: task explode failed:")
    assert run_message.endswith(f"RuntimeError: kaboom — inspect: ledgerflow show {run.id}")
    assert len(receiver.bodies("/task")) == task_hook
    assert len(receiver.requests) == 1 + task_hook


def test_a_worker_delivers_the_alerts_of_an_ended_run_whose_driver_died(
    database_url: str, crash_dir: Path, spawn: Spawn, receiver: Receiver
) -> None:
    script = ALERTING.format(url=receiver.url, task_hook=False)
    script = script.replace("home=Path(__file__).parent)", "home=Path(__file__).parent, lease_ttl=1.0)")
    (crash_dir / "alerting.py").write_text(script)
    child = spawn(PYTHON, "alerting.py", database_url, name="alerting")
    child.wait_for(lambda line: line == "delivering")
    assert child.wait() == -signal.SIGKILL
    with lf.Worker(database_url, home=crash_dir, poll_interval=0.05, lease_ttl=5.0) as worker:
        [summary] = worker.engine.runs()
        assert summary.state == "FAILED" and summary.owner is not None  # ended, lease never let go
        deadline = time.monotonic() + 30
        while not worker.run_once():  # claimable once the dead driver's 1 s lease expires
            assert time.monotonic() < deadline, "no worker took the ended run"
            time.sleep(0.05)
        events = worker.engine.events(summary.run_id)
        assert [e.payload["hook"] for e in events if e.type == "hook.sent"] == ["flow.on_failure:slack:0"]
        after = worker.engine.storage.log.run(summary.run_id)
        assert (after.state, after.owner) == ("FAILED", None)
        assert worker.run_once() == []  # nothing is owed any more
    assert len(receiver.bodies("/run")) == 1 and len(receiver.requests) == 1
