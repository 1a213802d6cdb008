"""Each storage interface is defined once, in storage/protocols.py; replay reads through the port."""

import ast
import inspect
from pathlib import Path

import pytest

from ledgerflow.storage import protocols

ROOT = Path(__file__).resolve().parents[2]
PROTOCOLS = [
    name for name, value in vars(protocols).items()
    if inspect.isclass(value) and getattr(value, "_is_protocol", False)
    and value.__module__ == protocols.__name__
]  # fmt: skip


def _class_names(folder: str) -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                found.add((str(path.relative_to(ROOT)), node.name))
    return found


@pytest.mark.parametrize("folder", ["engine", "replay", "cli", "ui", "executors"])
def test_no_storage_interface_is_defined_a_second_time(folder: str) -> None:
    again = {(path, name) for path, name in _class_names(folder) if name in PROTOCOLS}
    assert not again


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules.add(node.module)
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


def test_replay_reads_through_the_event_log_not_the_schema() -> None:
    for path in (ROOT / "replay").glob("*.py"):
        modules = _imported_modules(path)
        assert not {m for m in modules if m.endswith(("schema", "database", "stored_rows"))}, path


NEUTRAL = ("protocols.py", "records.py", "errors.py", "appends.py", "cache_entries.py", "lease_terms.py")
"""The storage modules every backend shares: the ports, their records and errors, and the rules
of appends, cache entries and leases."""


@pytest.mark.parametrize("name", NEUTRAL)
def test_the_ports_and_the_shared_rules_import_no_sql(name: str) -> None:
    drivers = {"sqlalchemy", "psycopg"}
    sql = {"schema", "database", "sql_log", "leases", "limits", "results", "schedules",
           "cancel_requests", "task_logs", "workers", "archive", "cache_index"}  # fmt: skip
    for node in ast.walk(ast.parse((ROOT / "storage" / name).read_text())):
        if isinstance(node, ast.Import):
            assert not {alias.name.split(".")[0] for alias in node.names} & drivers, name
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            assert module.split(".")[0] not in drivers, f"{name} imports {module}"
            if node.level == 1:  # a storage module (``..results`` is the neutral package)
                assert module.split(".")[0] not in sql, f"{name} imports storage.{module}"
