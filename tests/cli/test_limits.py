"""``ledgerflow limits`` and ``ledgerflow limits set TAG N`` on SQLite and PostgreSQL."""

from pathlib import Path

import pytest

from ledgerflow.engine.core.events import NewEvent
from ledgerflow.storage import open_storage

from .conftest import Invoke


def table_rows(output: str) -> list[list[str]]:
    """The body rows of a Rich table, as cells."""
    lines = [line for line in output.splitlines() if line.startswith("│")]
    return [[cell.strip() for cell in line.strip("│").split("│")] for line in lines]


def test_limits_set_and_show(cli: Invoke) -> None:
    empty = cli("limits")
    assert empty.exit_code == 0 and "no concurrency limits" in empty.output
    for tag, n in [("db", "2"), ("gpu", "0"), ("db", "3")]:
        done = cli("limits", "set", tag, n)
        assert done.exit_code == 0, done.output
    assert done.output.strip() == "limit of 'db' set to 3"
    rows = table_rows(cli("limits").output)
    assert rows == [["db", "3", "0", "0", ""], ["gpu", "0 (paused)", "0", "0", ""]]


@pytest.mark.parametrize("value", ["-1", "two", "1.5"])
def test_a_limit_must_be_an_integer_of_at_least_zero(cli: Invoke, value: str) -> None:
    refused = cli("limits", "set", "db", value)
    assert refused.exit_code == 2
    assert "no concurrency limits" in cli("limits").output


def test_waiting_tasks_are_shown_with_their_tag(cli: Invoke, database_url: str, tmp_path: Path) -> None:
    with open_storage(database_url, tmp_path) as storage:
        storage.log.append("r1", 0, [NewEvent(None, "run.created", {"flow": "f"})])
        storage.log.take_over("r1", "driver", 60)
        storage.limits.set_limit("db", 1)
        tasks = [("load[0]", ["db"]), ("load[1]", ["db"])]
        assert storage.limits.try_acquire_many("r1", tasks, "driver") == {"load[0]"}
    shown = cli("limits")
    assert shown.exit_code == 0, shown.output
    assert table_rows(shown.output) == [["db", "1", "1", "1", "r1 load[1]"]]
