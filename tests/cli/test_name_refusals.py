"""A tag or schedule name that cannot be meaningful is refused by the CLI: one line, exit 2."""

from pathlib import Path

import pytest

from .conftest import Invoke

FLOW = '''
import ledgerflow as lf


@lf.task
def one() -> int:
    return 1


@lf.flow
def hourly():
    return one()
'''


@pytest.mark.parametrize("name", ["../runs/RID/cancel", "..", "a\\b", "tab\there"])
def test_limits_set_refuses_a_tag_that_cannot_be_one(cli: Invoke, name: str) -> None:
    refused = cli("limits", "set", name, "5")
    assert refused.exit_code == 2, refused.output
    assert len(refused.output.strip().splitlines()) == 1 and "tag" in refused.output
    assert "Traceback" not in refused.output
    assert "no concurrency limits" in cli("limits").output


@pytest.mark.parametrize("name", ["a/b", ".", "new\nline"])
def test_schedule_add_refuses_a_name_that_cannot_be_one(cli: Invoke, tmp_path: Path, name: str) -> None:
    path = tmp_path / "hourly_flow.py"
    path.write_text(FLOW)
    refused = cli("schedule", "add", name, f"{path}:hourly", "--interval", "1h")
    assert refused.exit_code == 2, refused.output
    assert len(refused.output.strip().splitlines()) == 1 and "schedule name" in refused.output
    assert "no schedules" in cli("schedule", "list").output
