"""Dependencies point one way, and no module imports itself back through others.

The layers, from the top: ``cli/`` and ``ui/`` (``cli`` may start ``ui``; ``ui`` never
imports ``cli``) above ``engine/`` (its API above the runtime) above ``replay/`` and
``storage/`` (the ports and their backends), which sit above ``executors/``: a task body
runs without any storage module. ``results/`` sits below them all: the result codec, result
references, integrity checks and object stores, importing only the root error of the package
(``engine/core/errors.py``: the core imports nothing else of ledgerflow),
so the executors encode results and storage stores and decodes them with the one codec.
Formatting the CLI and the web UI share lives in the engine (``engine/durations.py``).
``flow.run()`` finds the default engine through a provider the API registers with
``engine/flow.py``, so the flow module does not import the API back.

Every import counts, including those inside functions. The layer rules count imports under
``if TYPE_CHECKING:`` too; the cycle check does not, since they never run.
"""

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "ledgerflow"
NOT_PACKAGE = {"tests", "benchmarks", "examples", "scripts", "docs"}


def _modules() -> dict[str, Path]:
    """Every module of the package by dotted name (a package by its ``__init__``)."""
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[0] in NOT_PACKAGE:
            continue
        if len(parts) > 1 and not (ROOT / parts[0] / "__init__.py").exists():
            continue  # not a subpackage: build/, a virtualenv, *.egg-info
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join((PACKAGE, *parts))] = path
    return found


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The package module that ``name`` (a module or a name inside one) belongs to."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _is_type_checking(node: ast.AST) -> bool:
    """True for ``if TYPE_CHECKING:`` (or ``if typing.TYPE_CHECKING:``)."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    name = test.attr if isinstance(test, ast.Attribute) else getattr(test, "id", None)
    return name == "TYPE_CHECKING"


def _nodes(tree: ast.AST, typing_only: bool) -> Iterator[ast.AST]:
    """Every node of ``tree``; the bodies of ``if TYPE_CHECKING:`` only if ``typing_only``."""
    for node in ast.iter_child_nodes(tree):
        yield node
        if _is_type_checking(node) and not typing_only:
            assert isinstance(node, ast.If)
            for branch in node.orelse:
                yield branch
                yield from _nodes(branch, typing_only)
        else:
            yield from _nodes(node, typing_only)


def _imported(module: str, path: Path, typing_only: bool) -> Iterator[str]:
    """The names of package modules that ``module`` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    here = module.split(".") if is_package else module.split(".")[:-1]
    for node in _nodes(ast.parse(path.read_text(), str(path)), typing_only):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*here[: len(here) - node.level + 1], *filter(None, [node.module])])
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for name in names:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                owner = _owner(name)
                if owner is not None and owner != module:
                    yield owner


GRAPH = {module: set(_imported(module, path, True)) for module, path in MODULES.items()}
RUNTIME_GRAPH = {module: set(_imported(module, path, False)) for module, path in MODULES.items()}


def _folder(module: str) -> str:
    return module.split(".")[1] if "." in module else ""


def _cycle() -> list[str] | None:
    """One import cycle among the package's modules, as a closed path, or None."""
    done: set[str] = set()
    for start in sorted(RUNTIME_GRAPH):
        path: list[str] = []
        on_path: set[str] = set()
        stack = [(start, iter(sorted(RUNTIME_GRAPH[start])))]
        if start in done:
            continue
        path.append(start)
        on_path.add(start)
        while stack:
            node, targets = stack[-1]
            target = next(targets, None)
            if target is None:
                stack.pop()
                path.pop()
                on_path.discard(node)
                done.add(node)
            elif target in on_path:
                return [*path[path.index(target):], target]
            elif target not in done:
                stack.append((target, iter(sorted(RUNTIME_GRAPH[target]))))
                path.append(target)
                on_path.add(target)
    return None


def test_the_walk_sees_the_package() -> None:
    assert "ledgerflow.engine.api" in MODULES
    assert "ledgerflow.storage" in GRAPH["ledgerflow.engine.api"] or any(
        _folder(target) == "storage" for target in GRAPH["ledgerflow.engine.api"]
    )


def test_no_import_cycle() -> None:
    cycle = _cycle()
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


ROOT_ERROR = {f"{PACKAGE}.engine.core.errors", f"{PACKAGE}.engine.core", f"{PACKAGE}.engine"}
"""The root error's module and the packages above it: every layer may import the root error."""

FORBIDDEN = [
    ("results", {"executors", "storage", "engine", "replay", "cli", "ui"}),
    ("executors", {"storage", "engine", "replay", "cli", "ui"}),
    ("ui", {"cli"}),
    ("engine", {"cli", "ui"}),
    ("storage", {"cli", "ui"}),
    ("replay", {"cli", "ui"}),
]


@pytest.mark.parametrize(("layer", "above"), FORBIDDEN, ids=[layer for layer, _ in FORBIDDEN])
def test_a_layer_imports_nothing_above_it(layer: str, above: set[str]) -> None:
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if _folder(module) == layer
        for target in targets
        if _folder(target) in above and target not in ROOT_ERROR
    )
    assert wrong == []


def test_no_two_modules_share_a_name_that_hides_their_role() -> None:
    for name in ("notify", "signals"):
        holders = sorted(module for module in MODULES if module.rpartition(".")[2] == name)
        assert len(holders) <= 1, holders


ENGINE_API = {
    f"{PACKAGE}.engine.{name}" for name in ("api", "worker", "schedule_runner", "audit_api", "archive")
}


def test_the_runtime_is_below_the_engines_api() -> None:
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if module.startswith(f"{PACKAGE}.engine.runtime")
        for target in targets
        if target in ENGINE_API
    )
    assert wrong == []


def test_storage_knows_only_the_engines_core() -> None:
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if _folder(module) == "storage"
        for target in targets
        if _folder(target) == "engine" and not target.startswith(f"{PACKAGE}.engine.core")
    )
    assert wrong == []


def test_results_import_nothing_of_the_package_but_the_root_error() -> None:
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in GRAPH.items()
        if _folder(module) == "results"
        for target in targets
        if _folder(target) != "results" and target not in ROOT_ERROR
    )
    assert wrong == []
