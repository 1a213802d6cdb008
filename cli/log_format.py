"""How the command's log records are written: human-readable (Rich) by default, or, with
``LEDGERFLOW_LOG_FORMAT=json``, one JSON object per line on stderr, for log shippers.

A JSON line has ``ts`` (UTC, ISO-8601), ``level``, ``logger``, ``message``, then ``run_id``,
``task_key`` and ``attempt`` where they apply: a record written inside a task body names its
attempt (``lf.context()``), one written while the runtime acts for a run names the run
(``engine.log_context``), and a record may give them itself (``extra=``); an exception adds
``exception`` (its traceback). In JSON mode every logger writes through the root logger
(user code and libraries too), and the status lines of ``worker``, ``scheduler`` and ``ui``
(``say``) are records of ``ledgerflow.cli`` at INFO.
"""

import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

import orjson
from rich.logging import RichHandler

from ..engine.log_context import current_run
from ..executors.context import current_task
from .errors import BadUsage
from .options import console
from .render import format_time

LOG_FORMAT_ENV = "LEDGERFLOW_LOG_FORMAT"
FORMATS = ("text", "json")
CLI_LOGGER = "ledgerflow.cli"
LOCATING_FIELDS = ("run_id", "task_key", "attempt")
ADOPTED_LOGGERS = ("distributed", "tornado", "bokeh")
"""Libraries that write to stderr through handlers of their own (Dask's ``distributed``
installs them on import): in JSON mode their records go through the root logger instead."""


class JsonLines(logging.Formatter):
    """Formats a record as one line of JSON (see the module's docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="microseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **_locating(record),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(entry, default=str).decode()


def _locating(record: logging.LogRecord) -> dict[str, Any]:
    """The run id, task key and attempt the record is about, where they apply."""
    task = current_task.get()
    if task is not None:
        found: dict[str, Any] = {"run_id": task.run_id, "task_key": task.task_key, "attempt": task.attempt}
    else:
        run_id = current_run()
        found = {} if run_id is None else {"run_id": run_id}
    for name in LOCATING_FIELDS:
        value = getattr(record, name, None)
        if value is not None:
            found[name] = value
    return found


def log_format() -> str:
    """The format ``LEDGERFLOW_LOG_FORMAT`` asks for ("text" unless set); another value is bad
    usage."""
    chosen = os.environ.get(LOG_FORMAT_ENV, "").strip().lower() or "text"
    if chosen not in FORMATS:
        raise BadUsage(f"{LOG_FORMAT_ENV}={chosen!r}: use one of {', '.join(FORMATS)}")
    return chosen


def is_json() -> bool:
    """Whether log records are written as JSON lines."""
    return os.environ.get(LOG_FORMAT_ENV, "").strip().lower() == "json"


def configure_logging(level: int) -> None:
    """Log ledgerflow's records from ``level`` on, in the format the environment asks for
    (once per process: a second call only changes the level)."""
    logger = logging.getLogger("ledgerflow")
    logger.setLevel(level)
    if log_format() == "json":
        root = logging.getLogger()
        if not any(isinstance(handler.formatter, JsonLines) for handler in root.handlers):
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(JsonLines())
            root.addHandler(handler)
        logging.getLogger(CLI_LOGGER).setLevel(min(level, logging.INFO))  # status lines
        return
    if not any(isinstance(handler, RichHandler) for handler in logger.handlers):
        logger.addHandler(RichHandler(console=console(stderr=True), show_path=False))


def adopt_library_loggers() -> None:
    """In JSON mode, route the records of libraries with handlers of their own (imported by
    now) through the root logger, keeping their levels."""
    if not is_json():
        return
    for name in ADOPTED_LOGGERS:
        library = logging.getLogger(name)
        for handler in list(library.handlers):
            library.removeHandler(handler)
        library.propagate = True


def say(message: str, **fields: str) -> None:
    """A status line of a long-running command on stderr: timestamped text, or in JSON mode a
    record of ``ledgerflow.cli`` (``fields``, such as ``run_id``, become its fields)."""
    if is_json():
        logging.getLogger(CLI_LOGGER).info(message, extra=fields)
        return
    console(stderr=True).print(
        f"{format_time(datetime.now(UTC))} {message}", highlight=False, markup=False, soft_wrap=True
    )
