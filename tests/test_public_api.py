"""The public surface: ``lf`` keeps the curated names, ``lf.errors`` names every error."""

import importlib
import inspect
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import ledgerflow as lf
import ledgerflow.errors
from ledgerflow.errors import LedgerflowError

ROOT = Path(__file__).resolve().parents[1]

CURATED = {
    "Cancelled", "DaskExecutor", "Engine", "Event", "EventType", "Flow", "FlowDefinitionError",
    "HookContext", "InvalidParameter", "LedgerflowError", "ResultCorrupted", "Run", "RunFailed",
    "RunState", "Secret", "Skip", "Task", "TaskState", "ThreadExecutor", "Trigger", "Worker",
    "__version__", "checkpoint", "context", "errors", "flow", "inputs_hash", "notify", "task",
    "unmapped",
}
NOT_IMPORTABLE = {"ledgerflow.storage.migrations.env"}  # an alembic script, run by alembic only


def package_errors() -> set[type[BaseException]]:
    """Every ledgerflow error class defined in a module of the package (tests excluded)."""
    found: set[type[BaseException]] = set()
    for module_info in pkgutil.walk_packages(lf.__path__, "ledgerflow."):
        name = module_info.name
        if name.startswith("ledgerflow.tests") or name in NOT_IMPORTABLE:
            continue
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, LedgerflowError)
                and value.__module__ == name
            ):
                found.add(value)
    return found


def test_every_ledgerflow_error_is_importable_from_errors() -> None:
    errors = package_errors()
    assert len(errors) > 30
    for error in errors:
        assert getattr(ledgerflow.errors, error.__name__) is error, error.__qualname__
        assert error.__name__ in ledgerflow.errors.__all__


def test_errors_all_resolves_to_exception_classes() -> None:
    for name in ledgerflow.errors.__all__:
        error = getattr(ledgerflow.errors, name)
        assert inspect.isclass(error) and issubclass(error, BaseException), name
        assert error.__name__ == name
    assert sorted(ledgerflow.errors.__all__) == sorted(dir(ledgerflow.errors))


def test_errors_named_in_the_design_are_there() -> None:
    named = (
        "AppendConflict GraphChanged InvalidDatabaseURL InvalidEvent InvalidName InvalidParameter"
        " InvalidTransition DatabaseNotFound ExportWriteFailed FlowDefinitionError RunFailed"
        " ResultNotLoadable RunNotFinished RunNotFound SchemaMissing StorageError"
        " StorageUnavailable TaskResultUsedAsValue UnknownTask"
    )
    for name in named.split():
        assert issubclass(getattr(ledgerflow.errors, name), LedgerflowError), name
    assert issubclass(ledgerflow.errors.Cancelled, BaseException)


def test_importing_errors_pulls_in_only_the_root_error_of_the_core() -> None:
    code = (
        "import sys, types\n"
        "package = types.ModuleType('ledgerflow'); package.__path__ = [sys.argv[1]]\n"
        "sys.modules['ledgerflow'] = package\n"
        "import ledgerflow.errors\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('ledgerflow.'))\n"
        "core = ['ledgerflow.engine', 'ledgerflow.engine.core', 'ledgerflow.engine.core.errors']\n"
        "assert loaded == [*core, 'ledgerflow.errors'], loaded\n"
        "assert ledgerflow.errors.GraphChanged.__module__ == 'ledgerflow.engine.errors'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(ROOT)],
        capture_output=True, text=True,
    )
    assert done.returncode == 0, done.stderr


def test_top_level_all_is_the_curated_list() -> None:
    assert set(lf.__all__) == CURATED
    assert len(lf.__all__) == len(CURATED)
    for name in lf.__all__:
        assert getattr(lf, name) is not None, name


def test_the_errors_users_catch_most_are_top_level_and_the_same_classes() -> None:
    caught = ("LedgerflowError", "InvalidParameter", "FlowDefinitionError", "RunFailed", "ResultCorrupted")
    for name in caught:
        assert getattr(lf, name) is getattr(ledgerflow.errors, name)
    assert lf.errors is ledgerflow.errors


def test_internals_are_reachable_from_their_modules_not_the_top_level() -> None:
    from ledgerflow.engine.core.fold import RunView, TaskView
    from ledgerflow.engine.schedule_runner import ScheduleRunner

    for internal in (RunView, TaskView, ScheduleRunner):
        assert not hasattr(lf, internal.__name__)


def test_every_lf_name_in_the_readme_code_blocks_exists() -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^```[a-z]*\n(.*?)^```", readme, flags=re.MULTILINE | re.DOTALL)
    names = {m for block in blocks for m in re.findall(r"\blf\.([A-Za-z_]\w*)", block)}
    assert names  # the README shows code that uses lf
    assert not {name for name in names if not hasattr(lf, name)}
