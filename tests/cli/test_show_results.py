"""``ledgerflow show`` says where each result is (a store's URL and key, the database, or
inline in the log), its size, format and sha256, and loads a value on request through the
checked path: an altered, missing or unreadable result is named (exit 1), never shown."""

import ast
import hashlib
from dataclasses import dataclass
from pathlib import Path
from textwrap import dedent
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

import ledgerflow as lf
from ledgerflow.cli.result_view import MAX_LINES
from ledgerflow.engine.result_details import human_size
from ledgerflow.storage import create_db_engine

from .conftest import Invoke
from .locked_store import lock, locked_store
from .test_commands import run_id_of
from .test_limits import table_rows

FLOWS = dedent(
    """
    import ledgerflow as lf


    class Box:
        def __init__(self, n):
            self.n = n

        def __repr__(self):
            return f"Box({self.n})"


    @lf.task
    def rows(n: int) -> list[int]:
        return list(range(n))  # more than 1 KiB of JSON: stored, referenced by its event


    @lf.task
    def box(n: int) -> Box:
        return Box(n)  # not JSON: a signed pickle


    @lf.task
    def count(values: list[int]) -> int:
        return len(values)  # a few bytes of JSON: inline in its event


    @lf.flow
    def table(n: int = 500):
        values = rows(n)
        return {"count": count(values), "box": box(n), "rows": values}
    """
)
STORES = ["file", "database"]


@pytest.fixture
def flows(tmp_path: Path) -> Path:
    path = tmp_path / "show_flows.py"
    path.write_text(FLOWS)
    return path


def run_table(cli: Invoke, flows: Path, store: str | None) -> str:
    """A run of ``table`` (results in ``store``, or the database); its id."""
    options = [] if store is None else ["--result-storage", store]
    ran = cli("run", f"{flows}:table", *options)
    assert ran.exit_code == 0, ran.output
    return run_id_of(ran.stdout)


def store_of(kind: str, tmp_path: Path) -> str | None:
    return f"file://{tmp_path}/results" if kind == "file" else None


@dataclass(frozen=True)
class Stored:
    """A finished run of ``table``: its results in a ``file`` store or the ``database``."""

    run_id: str
    kind: str
    store: str | None
    payloads: dict[str, dict[str, Any]]


@pytest.fixture(params=STORES)
def stored(
    request: pytest.FixtureRequest, cli: Invoke, flows: Path, tmp_path: Path, database_url: str
) -> Stored:
    store = store_of(request.param, tmp_path)
    run_id = run_table(cli, flows, store)
    return Stored(run_id, request.param, store, recorded(database_url, tmp_path, run_id))


def recorded(database_url: str, tmp_path: Path, run_id: str) -> dict[str, dict[str, Any]]:
    """Each task's result payload as its event recorded it."""
    with lf.Engine(database_url, home=tmp_path) as engine:
        return {key: dict(task.result or {}) for key, task in engine.get_run(run_id).tasks.items()}


def shown_json(cli: Invoke, *args: str, exit_code: int = 0) -> dict[str, Any]:
    shown = cli("show", *args, "--json")
    assert shown.exit_code == exit_code, shown.output
    found = orjson.loads(shown.stdout)
    assert isinstance(found, dict)
    return found


def tamper(
    kind: str, database_url: str, tmp_path: Path, payload: dict[str, Any], delete: bool = False
) -> bytes:
    """Edit (or delete) the stored bytes of ``payload``'s result behind ledgerflow's back; the
    bytes now stored (empty if deleted)."""
    if kind == "file":
        path = tmp_path / "results" / payload["ref"]
        if delete:
            path.unlink()
            return b""
        path.write_bytes(path.read_bytes().replace(b"499", b"999"))
        return path.read_bytes()
    engine = create_db_engine(database_url, tmp_path)
    try:
        with engine.begin() as connection:
            if delete:
                connection.execute(sa.text("DELETE FROM results WHERE ref = :ref"), {"ref": payload["ref"]})
                return b""
            select = sa.text("SELECT data FROM results WHERE ref = :ref")
            data = bytes(connection.execute(select, {"ref": payload["ref"]}).one()[0]).replace(b"499", b"999")
            update = sa.text("UPDATE results SET data = :data WHERE ref = :ref")
            connection.execute(update, {"ref": payload["ref"], "data": data})
            return data
    finally:
        engine.dispose()


def test_show_lists_where_each_result_is_with_size_format_and_short_hash(cli: Invoke, stored: Stored) -> None:
    run_id, rows, box = stored.run_id, stored.payloads["rows"], stored.payloads["box"]
    shown = cli("show", run_id)
    assert shown.exit_code == 0, shown.output
    results = {row[0]: row[1:] for row in table_rows(shown.stdout) if len(row) == 6}
    where = stored.store or "database"
    assert rows.get("store", "database") == where
    assert rows["ref"].startswith(f"{run_id}/rows/1")  # the database's key, or the object's
    assert results["rows"] == [
        where,
        rows["ref"],
        f"{rows['size'] / 1024:.1f} KiB",
        "json",
        rows["sha256"][:12],
    ]
    assert results["box"] == [
        where,
        box["ref"],
        f"{box['size']} B",
        "pickle (HMAC-signed)",
        box["sha256"][:12],
    ]
    assert results["count"] == ["inline in the log", "", "3 B", "json", ""]
    assert "'count': 500" in shown.stdout and "'box': Box(500)" in shown.stdout  # the run's result


def test_a_tasks_detail_and_json_carry_the_full_location_and_hash(cli: Invoke, stored: Stored) -> None:
    run_id, store, kind, rows = stored.run_id, stored.store, stored.kind, stored.payloads["rows"]
    detail = cli("show", run_id, "--task", "rows")
    assert detail.exit_code == 0, detail.output
    lines = [line.rstrip() for line in detail.stdout.splitlines()]
    assert f"sha256    {rows['sha256']}" in lines
    assert f"size      {rows['size'] / 1024:.1f} KiB ({rows['size']:,} bytes)" in lines
    assert f"key       {rows['ref']}" in lines
    url = f"{store}/{rows['ref']}" if kind == "file" else None
    assert f"result    {url or 'database'}" in lines
    assert "result: " not in detail.stdout  # a value only on request

    whole = shown_json(cli, run_id)
    assert "value" not in whole and whole["state"] == "SUCCEEDED"
    location = {task["key"]: task["result"] for task in whole["tasks"]}["rows"]
    assert location == {
        "kind": "store" if kind == "file" else "database", "store": store or "database", "key": rows["ref"],
        "url": url, "format": "json", "size": rows["size"], "size_text": f"{rows['size'] / 1024:.1f} KiB",
        "sha256": rows["sha256"], "compression": None, "where": store or "database",
    }  # fmt: skip
    one = shown_json(cli, run_id, "--task", "rows", "--value")
    assert one["task"]["result"] == location and one["value"] == list(range(500))
    assert shown_json(cli, run_id, "--task", "box", "--value")["value_repr"] == "Box(500)"
    assert shown_json(cli, run_id, "--task", "count", "--value")["value"] == 500


def test_a_value_is_shown_on_request_as_run_shows_results(cli: Invoke, flows: Path, tmp_path: Path) -> None:
    run_id = run_table(cli, flows, store_of("file", tmp_path))
    shown = cli("show", run_id, "--task", "rows", "--value")
    assert shown.exit_code == 0, shown.output
    value = shown.stdout[shown.stdout.index("result: ") + len("result: ") :]
    assert value.startswith("[\n  0, 1, 2, 3,") and len(value.splitlines()) <= MAX_LINES
    assert ast.literal_eval(value) == list(range(500))


def test_a_large_run_result_is_loaded_only_on_request(
    cli: Invoke, flows: Path, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = run_table(cli, flows, store_of("file", tmp_path))
    payloads = recorded(database_url, tmp_path, run_id)
    stored = payloads["rows"]["size"] + payloads["box"]["size"]
    monkeypatch.setattr("ledgerflow.cli.show_results.MAX_LOAD_BYTES", stored - 1)
    shown = cli("show", run_id)
    assert shown.exit_code == 0, shown.output
    size = f"{stored / 1024:.1f} KiB"
    assert (
        f"result: not loaded: its stored results take {size} (`ledgerflow show {run_id} --value` loads it)"
        in shown.stdout
    )
    asked = cli("show", run_id, "--value")
    assert asked.exit_code == 0 and "'count': 500" in asked.stdout


def test_a_tampered_result_is_named_corrupted_and_not_shown(
    cli: Invoke, stored: Stored, tmp_path: Path, database_url: str
) -> None:
    run_id, kind, rows = stored.run_id, stored.kind, stored.payloads["rows"]
    found = hashlib.sha256(tamper(kind, database_url, tmp_path, rows)).hexdigest()
    assert cli("show", run_id, "--task", "rows").exit_code == 0  # where it is: read from the log
    shown = cli("show", run_id, "--task", "rows", "--value")
    assert shown.exit_code == 1, shown.output
    assert "Traceback" not in shown.output and "result: [" not in shown.stdout
    assert (
        f"result: not shown: run {run_id}, task rows: stored result '{rows['ref']}' is corrupted"
        in shown.stdout
    )
    assert f"the event records sha256 {rows['sha256']}, the store holds {found}" in shown.stdout
    problem = shown_json(cli, run_id, "--task", "rows", "--value", exit_code=1)["value_problem"]
    assert (problem["kind"], problem["task_key"], problem["ref"]) == ("corrupted", "rows", rows["ref"])
    assert (problem["expected_sha256"], problem["found_sha256"]) == (rows["sha256"], found)
    whole = cli("show", run_id)  # the run's result holds it: not shown either
    assert whole.exit_code == 1 and "result: not shown: " in whole.stdout and "is corrupted" in whole.stdout


def test_a_missing_result_is_named_missing(
    cli: Invoke, stored: Stored, tmp_path: Path, database_url: str
) -> None:
    run_id, kind, box = stored.run_id, stored.kind, stored.payloads["box"]
    tamper(kind, database_url, tmp_path, box, delete=True)
    shown = cli("show", run_id, "--task", "box", "--value")
    assert shown.exit_code == 1 and "Traceback" not in shown.output
    assert f"nothing is stored under '{box['ref']}'" in shown.stdout
    problem = shown_json(cli, run_id, "--task", "box", "--value", exit_code=1)["value_problem"]
    assert (problem["kind"], problem["found_sha256"], problem["expected_sha256"]) == (
        "missing",
        None,
        box["sha256"],
    )


def test_a_store_this_process_cannot_read_is_named(
    cli: Invoke, flows: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = locked_store(monkeypatch)
    run_id = run_table(cli, flows, store)
    lock(monkeypatch)
    listed = cli("show", run_id, "--task", "rows")
    assert listed.exit_code == 0 and f"store     {store}" in listed.stdout
    shown = cli("show", run_id, "--task", "rows", "--value")
    assert shown.exit_code == 1 and "Traceback" not in shown.output
    assert (
        f"result: not shown: run {run_id}, task rows: cannot read stored result '{run_id}/rows/1-"
        in shown.stdout
    )
    assert f"from {store} here (PermissionError: Access Denied: no credentials" in shown.stdout
    problem = shown_json(cli, run_id, "--task", "rows", "--value", exit_code=1)["value_problem"]
    assert (problem["kind"], problem["store"]) == ("unreadable", store)


def test_a_map_of_many_results_is_one_row_and_a_task_without_one_says_so(
    cli: Invoke, flows_file: Path
) -> None:
    run_id = run_id_of(cli("run", f"{flows_file}:wide", "-p", "n=25").stdout)
    results = table_rows(cli("show", run_id).stdout)
    assert ["double[0..24] (25 results)", "inline in the log", "", "45 B", "json", ""] in results
    failed = run_id_of(cli("run", f"{flows_file}:failing").stdout)
    shown = cli("show", failed, "--task", "explode", "--value")
    assert shown.exit_code == 1
    assert f"result: not shown: task explode of run {failed} has no result: it is FAILED" in shown.stdout
    assert cli("show", failed, "--task", "nope").exit_code == 2


def test_sizes_read_in_binary_units() -> None:
    shown = [human_size(n) for n in (0, 1023, 1024, 1536, 5 * 1024**2 + 1, 3 * 1024**4, 2048 * 1024**5)]
    assert shown == ["0 B", "1023 B", "1.0 KiB", "1.5 KiB", "5.0 MiB", "3.0 TiB", "2048.0 PiB"]
