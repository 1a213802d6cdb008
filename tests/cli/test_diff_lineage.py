"""``ledgerflow diff`` and ``ledgerflow lineage`` in-process (CliRunner), on SQLite and PostgreSQL."""

import io
from pathlib import Path
from textwrap import dedent

import orjson
import pytest
from rich.console import Console

import ledgerflow as lf
from ledgerflow.cli.audit_diff_commands import lineage_tree
from ledgerflow.replay import lineage

from .conftest import Invoke
from .test_commands import run_id_of

MAPS = dedent(
    """
    import ledgerflow as lf


    @lf.task
    def numbers(n: int) -> list[int]:
        return list(range(n))


    @lf.task
    def scale(x: int, factor: int) -> int:
        return x * factor


    @lf.task
    def title(name: str) -> str:
        return name.title()


    @lf.task
    def report(values: list[int], heading: str) -> str:
        return f"{heading}: {sum(values)}"


    @lf.flow
    def scaled(n: int = 3, factor: int = 2, name: str = "totals"):
        return report(scale.map(numbers(n), factor=lf.unmapped(factor)), title(name))
    """
)


@pytest.fixture
def maps_file(tmp_path: Path) -> Path:
    """A flow ``scaled``: a dynamic map over ``numbers(n)``, times the parameter ``factor``."""
    path = tmp_path / "maps.py"
    path.write_text(MAPS)
    return path


def started(cli: Invoke, maps_file: Path, *options: str) -> str:
    result = cli("run", f"{maps_file}:scaled", *options)
    assert result.exit_code == 0, result.output
    return run_id_of(result.stdout)


def test_diff_shows_the_changed_parameter_first_and_tasks_side_by_side(cli: Invoke, maps_file: Path) -> None:
    a = started(cli, maps_file, "-p", "factor=2")
    b = started(cli, maps_file, "-p", "factor=3")
    result = cli("diff", a, b)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert a in out and b in out
    assert "factor = 2 -> 3" in out
    assert "graph       same" in out
    lines = {line.split()[1]: line for line in out.splitlines() if line.startswith("│")}
    assert lines["numbers"].rstrip(" │").endswith("no")
    assert lines["title"].rstrip(" │").endswith("no")
    assert "result" in lines["scale[2]"] and "result" in lines["report"]
    assert "what changed first:" in out
    assert "1. parameter: parameters 'factor': 2 -> 3" in out
    assert "2. result: result of task 'scale[1]' differs" in out


def test_diff_json_is_for_programs(cli: Invoke, maps_file: Path) -> None:
    a = started(cli, maps_file, "-p", "n=2")
    b = started(cli, maps_file, "-p", "n=2", "-p", "name=sums")
    result = cli("diff", a, b, "--json")
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.stdout)
    assert (data["run_a"], data["run_b"]) == (a, b)
    assert data["parameters"]["changed"] == {"name": {"a": "totals", "b": "sums"}}
    assert [(c["kind"], c["subject"]) for c in data["first_changes"]] == [
        ("parameter", "name"),
        ("result", "title"),
    ]
    differs = {row["key"] for row in data["tasks"] if not row["same"]}
    assert differs == {"title", "report"}


def test_lineage_tree_of_a_mapped_child(cli: Invoke, maps_file: Path) -> None:
    run_id = started(cli, maps_file, "-p", "n=3")
    result = cli("lineage", run_id, "scale[1]")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"run {run_id} (scaled)"
    assert lines[1].startswith("scale[1]  SUCCEEDED  task scale  code ")
    assert "attempt 1" in lines[1] and "worker " in lines[1]
    source = next(line for line in lines if "numbers (element [1])" in line)
    assert source.startswith("└── ")
    data = orjson.loads(cli("lineage", run_id, "numbers", "--json").stdout)
    assert data["tasks"][0]["result_hash"][:12] in source
    assert lines[-1].strip(" └─│") == 'parameters {"factor":2,"n":3,"name":"totals"}'


def test_lineage_json_is_for_programs(cli: Invoke, maps_file: Path) -> None:
    run_id = started(cli, maps_file)
    result = cli("lineage", run_id, "report", "--json")
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.stdout)
    assert [task["key"] for task in data["tasks"]] == ["report", "scale", "numbers", "title"]
    assert data["tasks"][1]["map_count"] == 3 and data["tasks"][1]["state"] == "MAPPED"


def test_bad_input_is_bad_usage(cli: Invoke, maps_file: Path) -> None:
    run_id = started(cli, maps_file)
    missing = "20000101-000000-deadbeef"
    cases = {
        ("diff", run_id, missing): f"no run with id '{missing}'",
        ("diff", missing, run_id): f"no run with id '{missing}'",
        ("lineage", missing, "report"): f"no run with id '{missing}'",
        ("lineage", run_id, "scale[7]"): f"run {run_id} has no task 'scale[7]'",
        ("lineage", run_id, "reprot"): "did you mean 'report'",
    }
    for args, message in cases.items():
        result = cli(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.output


def test_many_identical_mapped_children_are_one_row_unless_expanded(cli: Invoke, maps_file: Path) -> None:
    a = started(cli, maps_file, "-p", "n=25")
    b = started(cli, maps_file, "-p", "n=25", "-p", "name=sums")
    out = cli("diff", a, b).stdout
    assert "scale[…] (25 the same)" in out
    assert "scale[3]" not in out
    expanded = cli("diff", a, b, "--expand").stdout
    assert "scale[3]" in expanded and "the same)" not in expanded


def test_a_log_without_code_hashes_shows_unknown(
    cli: Invoke, maps_file: Path, database_url: str, tmp_path: Path
) -> None:
    run_id = started(cli, maps_file)
    with lf.Engine(database_url, home=tmp_path) as engine:
        events = engine.events(run_id)
    created = events[0]
    payload = {key: value for key, value in created.payload.items() if key != "code"}
    old = [created._replace(payload=payload), *events[1:]]
    buffer = io.StringIO()
    Console(width=200, file=buffer).print(lineage_tree(lineage(old, "scale[0]")))
    text = buffer.getvalue()
    assert "scale[0]  SUCCEEDED  task scale  code unknown  attempt 1" in text
    assert "numbers (element [0])  SUCCEEDED  task numbers  code unknown" in text
