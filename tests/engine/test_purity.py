"""engine/core decides without I/O: it imports only the standard library, orjson and itself
(the root of every ledgerflow error lives in it, in ``errors``)."""

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2]
CORE = PACKAGE / "engine" / "core"
CORE_MODULES = sorted(path.stem for path in CORE.glob("*.py") if path.stem != "__init__")
ALLOWED_THIRD_PARTY = {"orjson"}
FORBIDDEN_STDLIB = {
    "logging", "random", "threading", "time", "socket", "os", "subprocess", "asyncio",
    "concurrent", "queue", "sqlite3", "urllib", "http", "shutil", "tempfile", "io",
}  # fmt: skip


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every import of the module, at any depth (inside functions too)."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


def test_the_core_holds_the_deciding_modules() -> None:
    expected = {"states", "transitions", "events", "graph", "fold", "frontier", "restart", "machine"}
    assert expected <= set(CORE_MODULES)


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_imports_only_stdlib_orjson_and_the_core(module: str) -> None:
    for level, name in _imports(CORE / f"{module}.py"):
        if level == 1:
            assert name.split(".")[0] in CORE_MODULES, f"engine/core/{module}.py imports {name!r}"
        else:
            assert level == 0, f"engine/core/{module}.py imports outside the core ({'.' * level}{name})"
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names or top in ALLOWED_THIRD_PARTY, (
                f"engine/core/{module}.py imports {name}"
            )
            why = "I/O, clock, threads"
            assert top not in FORBIDDEN_STDLIB, f"engine/core/{module}.py imports {name} ({why})"


def test_the_root_error_lives_in_the_core() -> None:
    from ledgerflow import LedgerflowError
    from ledgerflow.engine.core import errors

    assert LedgerflowError is errors.LedgerflowError
    assert not (PACKAGE / "error_root.py").exists()
