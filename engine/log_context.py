"""Which run the current thread is acting for, for the log records written meanwhile: the
runtime loop drives many runs in one thread and names the run of each action it carries out
(``in_run``), so a handler can attach the run id to a record (``LEDGERFLOW_LOG_FORMAT=json``).
Inside a task body, ``lf.context()`` says more (task key and attempt)."""

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

_current_run: ContextVar[str | None] = ContextVar("ledgerflow_logged_run", default=None)


def current_run() -> str | None:
    """The run the current thread acts for, or None."""
    return _current_run.get()


def in_run(run_id: str, action: Callable[..., Any], *args: Any) -> Any:
    """Call ``action(*args)`` acting for ``run_id``."""
    token = _current_run.set(run_id)
    try:
        return action(*args)
    finally:
        _current_run.reset(token)


def about(run_id: str) -> dict[str, str]:
    """The ``extra=`` of a log record about ``run_id`` written while acting for no run (or
    for several): a JSON log line names the run."""
    return {"run_id": run_id}
