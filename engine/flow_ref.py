"""Load a flow from a reference: ``package.module:name`` or ``path/to/file.py:name``."""

import hashlib
import importlib
import importlib.util
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import cloudpickle

from .errors import FlowDefinitionError
from .flow import Flow


class FlowNotFound(FlowDefinitionError):
    """A flow reference does not lead to a flow."""


class FlowImportStartedRun(UserWarning):
    """Importing a flow's file or module, to load the flow, started a new run."""


_PACKAGE = str(Path(__file__).resolve().parents[1]) + "/"
_loading = threading.local()  # .targets: what load_flow is importing in this thread


def load_flow(ref: str) -> Flow[..., object]:
    """Import the module or file of ``ref`` and return the flow it names.

    A run created while the import runs the file's top-level code (code that is not under
    ``if __name__ == "__main__":``) is warned about with ``FlowImportStartedRun``.
    """
    target, sep, qualname = ref.rpartition(":")
    if not sep or not target or not qualname:
        raise FlowNotFound(f"flow reference {ref!r} must look like FILE.py:FLOW or MODULE:FLOW")
    with _importing(target):
        module = _load_file(target) if target.endswith(".py") else _import(target)
    found: object = module
    for part in qualname.split("."):
        found = getattr(found, part, None)
        if found is None:
            raise FlowNotFound(f"{target!r} has no attribute {qualname!r}")
    if not isinstance(found, Flow):
        raise FlowNotFound(f"{ref!r} is a {type(found).__name__}, not an @lf.flow")
    return found


def warn_if_importing_a_flow() -> None:
    """Warn if this thread creates a run while ``load_flow`` imports a flow's code."""
    targets: list[str] = getattr(_loading, "targets", [])
    if targets:
        warnings.warn(
            f"importing {targets[-1]} to load a flow (to resume, restart or drive a run of "
            "it) started a new run: its top-level code runs on every such import. Put the "
            'code that starts runs under `if __name__ == "__main__":`',
            FlowImportStartedRun,
            stacklevel=_caller_outside_ledgerflow(),
        )


@contextmanager
def _importing(target: str) -> Iterator[None]:
    targets: list[str] = _loading.__dict__.setdefault("targets", [])
    targets.append(target)
    try:
        yield
    finally:
        targets.pop()


def _caller_outside_ledgerflow() -> int:
    """The ``stacklevel`` of the nearest caller outside this package (the user's line)."""
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def _import(name: str) -> ModuleType:
    if "" not in sys.path and str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        return importlib.import_module(name)
    except Exception as exc:
        raise FlowNotFound(f"cannot import module {name!r}: {type(exc).__name__}: {exc}") from exc


def _load_file(path_text: str) -> ModuleType:
    path = Path(path_text).resolve()
    if not path.is_file():
        raise FlowNotFound(f"no such file: {path}")
    # The file's content is part of the name: an edited file is loaded afresh.
    digest = hashlib.sha256(str(path).encode() + path.read_bytes()).hexdigest()[:12]
    name = f"ledgerflow_user_{path.stem}_{digest}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    module.__ledgerflow_file__ = str(path)  # type: ignore[attr-defined]
    sys.modules[name] = module
    if str(path.parent) not in sys.path:
        sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise FlowNotFound(f"loading {path} failed: {type(exc).__name__}: {exc}") from exc
    # Workers of another process cannot import a file by this synthetic name: ship its
    # functions by value when they are pickled for Dask.
    cloudpickle.register_pickle_by_value(module)
    return module
