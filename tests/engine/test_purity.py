"""The pure core imports only the standard library and itself."""

import ast
import sys
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parents[2] / "engine"
PURE_MODULES = [
    "states", "transitions", "events", "graph", "fold", "frontier", "errors", "restart",
    "bulk",
]
FORBIDDEN_STDLIB = {"logging", "random", "threading", "time", "socket", "os", "subprocess"}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(0, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.level, node.module or ""))
    return found


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_imports_only_stdlib_and_pure_siblings(module: str) -> None:
    for level, name in _imports(ENGINE / f"{module}.py"):
        if level == 1:
            assert name in PURE_MODULES, f"engine/{module}.py imports impure sibling {name}"
        elif level == 2:
            # the root error's module imports nothing of ledgerflow
            assert name == "error_root", f"engine/{module}.py imports ledgerflow.{name}"
        else:
            top = name.split(".")[0]
            assert top in sys.stdlib_module_names, f"engine/{module}.py imports {name}"
            assert top not in FORBIDDEN_STDLIB, f"engine/{module}.py imports {name} (I/O, clock)"
