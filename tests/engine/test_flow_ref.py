"""Flows load from a file or a module, in this process or another one."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ledgerflow as lf
from ledgerflow.engine.flow_ref import FlowNotFound, load_flow

FLOW_FILE = textwrap.dedent(
    """
    import ledgerflow as lf

    class Point:
        def __init__(self, x):
            self.x = x

    @lf.task
    def make(x: int) -> Point:
        return Point(x)

    @lf.flow
    def points(x: int = 1):
        return make(x)

    not_a_flow = 3
    """
)


def test_a_run_of_a_file_flow_is_read_back_by_another_process(
    database_url: str, tmp_path: Path
) -> None:
    flow_file = tmp_path / "pointy.py"
    flow_file.write_text(FLOW_FILE)
    script = (
        "import sys, ledgerflow as lf\n"
        "from ledgerflow.engine.flow_ref import load_flow\n"
        f"with lf.Engine({database_url!r}, home={str(tmp_path)!r}) as e:\n"
        f"    print(e.run(load_flow({str(flow_file) + ':points'!r}), x=4).id)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    run_id = done.stdout.strip().splitlines()[-1]
    with lf.Engine(database_url, home=tmp_path) as engine:
        run = engine.get_run(run_id)
        assert run.view.flow_ref == f"{flow_file.resolve()}:points"
        assert run.result().x == 4  # unpickled after importing the recorded flow file


def test_load_flow_from_a_module() -> None:
    assert load_flow("tests.engine.flows:chain").name == "chain"


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("no_colon", "must look like"),
        ("/nowhere/x.py:f", "no such file"),
        ("no_such_module_xyz:f", "cannot import module"),
        ("tests.engine.flows:missing", "has no attribute"),
        ("tests.engine.flows:inc", "not an @lf.flow"),
    ],
)
def test_bad_references_name_the_problem(ref: str, message: str) -> None:
    with pytest.raises(FlowNotFound, match=message):
        load_flow(ref)
