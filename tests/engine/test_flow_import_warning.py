"""Loading a flow from a script whose top-level code starts a run (resume, restart and
workers import the script) warns clearly; a script that guards that code does not."""

import warnings
from pathlib import Path
from textwrap import dedent

import pytest

import ledgerflow as lf
from ledgerflow.engine.flow_ref import FlowImportStartedRun, load_flow

SCRIPT = dedent(
    """
    import ledgerflow as lf


    @lf.task
    def inc(x: int) -> int:
        return x + 1


    @lf.flow(name="guarded")
    def guarded(x: int = 1):
        return inc(x)


    {main}with lf.Engine() as engine:
    {indent}engine.run(guarded, x=2)
    """
)


def script(tmp_path: Path, *, is_guarded: bool) -> Path:
    main, indent = ('if __name__ == "__main__":\n    ', "        ") if is_guarded else ("", "    ")
    path = tmp_path / ("guarded.py" if is_guarded else "unguarded.py")
    path.write_text(SCRIPT.format(main=main, indent=indent))
    return path


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGERFLOW_HOME", str(tmp_path))
    monkeypatch.delenv("LEDGERFLOW_DATABASE_URL", raising=False)


def test_a_script_that_starts_a_run_when_imported_is_warned_about(tmp_path: Path) -> None:
    path = script(tmp_path, is_guarded=False)
    with pytest.warns(FlowImportStartedRun, match=r'started a new run.*if __name__ == "__main__"') as caught:
        flow = load_flow(f"{path}:guarded")
    assert flow.name == "guarded"
    assert [Path(w.filename).name for w in caught] == ["unguarded.py"]  # points at the user's line
    with lf.Engine() as engine:
        assert [summary.state for summary in engine.runs()] == ["SUCCEEDED"]  # the unwanted run


def test_resuming_a_run_of_a_guarded_script_starts_no_other_run(tmp_path: Path) -> None:
    path = script(tmp_path, is_guarded=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FlowImportStartedRun)
        flow = load_flow(f"{path}:guarded")
        with lf.Engine() as engine:
            run = engine.run(flow, x=5)  # not an import: no warning
            assert engine.resume(run.id).result() == 6
            assert [summary.id for summary in engine.runs()] == [run.id]
