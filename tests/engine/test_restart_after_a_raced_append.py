"""Restart reads the log again once it holds the run, as resume does: an event another
process appended meanwhile (a hook's delivery) is folded in, not raced."""

import textwrap
from pathlib import Path

import pytest

import ledgerflow as lf
from ledgerflow.engine.core.events import NewEvent
from ledgerflow.engine.core.fold import fold
from ledgerflow.engine.flow_ref import load_flow

FLOW_SOURCE = textwrap.dedent(
    """
    import os
    from pathlib import Path
    import ledgerflow as lf

    FLAG = Path(os.environ["FAIL_FLAG"])

    @lf.task
    def fragile(x: int) -> int:
        if FLAG.exists():
            raise RuntimeError("asked to fail")
        return x + 1

    @lf.flow
    def once(x: int = 1):
        return fragile(x)
    """
)


def test_a_hook_record_appended_before_the_take_over_is_folded_in(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "once_flow.py").write_text(FLOW_SOURCE)
    flag = tmp_path / "fail"
    flag.touch()
    monkeypatch.setenv("FAIL_FLAG", str(flag))
    with lf.Engine(database_url, home=tmp_path) as engine:
        failed = engine.run(load_flow(f"{tmp_path / 'once_flow.py'}:once"))
        assert failed.state == "FAILED"
        flag.unlink()
        log = engine.storage.log
        take_over = log.take_over

        def delivered_then_taken(run_id: str, owner: str, ttl: float) -> None:
            # what another process settling the ended run's hooks appends meanwhile
            head = engine.events(run_id)[-1].seq
            record = {"hook": "notify", "trigger_seq": head, "attempts": 1}
            log.append(run_id, head, [NewEvent(None, "hook.sent", record)])
            take_over(run_id, owner, ttl)

        monkeypatch.setattr(log, "take_over", delivered_then_taken)
        again = engine.restart(failed.id)
        assert again.state == "SUCCEEDED" and again.result() == 2
        events = engine.events(failed.id)
        assert [e.type for e in events[4:7]] == ["run.failed", "hook.sent", "run.running"]
        assert again.view == fold(events) and engine.verify(failed.id).ok
