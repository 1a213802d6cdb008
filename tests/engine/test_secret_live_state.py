"""For a run with secrets, what the driver folds is what the log stores: events are
redacted before they are folded, so the live state is the fold of the stored log."""

import textwrap
from pathlib import Path
from typing import Any

import pytest

import ledgerflow as lf
from ledgerflow.engine import api
from ledgerflow.engine.core.fold import RunView, fold
from ledgerflow.engine.flow_ref import load_flow

SECRET = "hunter2-5f2b9c1e"
FLOW_SOURCE = textwrap.dedent(
    """
    import ledgerflow as lf

    @lf.task(retries=1, retry_delay=0)
    def reject(token: str) -> int:
        raise PermissionError(f"no access with {token}")

    @lf.flow
    def guarded(token: lf.Secret[str]):
        return reject(token)
    """
)


def test_the_drivers_state_equals_the_fold_of_the_redacted_log(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "guarded_flow.py").write_text(FLOW_SOURCE)
    driven: list[RunView] = []
    drive = api.drive_run

    def keep(*args: Any) -> RunView:
        driven.append(drive(*args))
        return driven[-1]

    monkeypatch.setattr(api, "drive_run", keep)
    with lf.Engine(database_url, home=tmp_path) as engine:
        run = engine.run(load_flow(f"{tmp_path / 'guarded_flow.py'}:guarded"), token=SECRET)
        stored = fold(engine.events(run.id))
    assert driven == [stored] and run.view == stored
    error = stored.tasks["reject"].error
    assert error is not None and error["message"] == "no access with ***"
    assert stored.tasks["reject"].attempts == 2  # the retried attempt's error was redacted too
    assert SECRET not in repr(driven[0])
