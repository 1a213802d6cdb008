"""JSON log lines: one object per record, naming the run, task and attempt where they apply
(a real worker's JSON output: ``test_worker_metrics``)."""

import logging
import sys

import orjson
import pytest
from typer.testing import CliRunner

from ledgerflow.cli import app
from ledgerflow.cli.log_format import JsonLines
from ledgerflow.engine.log_context import in_run
from ledgerflow.executors.context import TaskContext, current_task


def _record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    logger = logging.getLogger("ledgerflow.test")
    return logger.makeRecord(logger.name, logging.WARNING, __file__, 1, message, args, None, extra=extra)


def _line(record: logging.LogRecord) -> dict[str, object]:
    text = JsonLines().format(record)
    assert "\n" not in text
    parsed = orjson.loads(text)
    assert isinstance(parsed, dict)
    return parsed


def test_a_record_is_one_line_of_json() -> None:
    line = _line(_record("claimed %d runs\nat once", 3))
    ts = line.pop("ts")
    assert isinstance(ts, str) and ts.endswith("+00:00")
    assert line == {"level": "WARNING", "logger": "ledgerflow.test", "message": "claimed 3 runs\nat once"}


def test_inside_a_task_body_a_record_names_the_run_task_and_attempt() -> None:
    token = current_task.set(TaskContext("r1", "train[3]", 2))
    try:
        line = _line(_record("fitting"))
    finally:
        current_task.reset(token)
    assert (line["run_id"], line["task_key"], line["attempt"]) == ("r1", "train[3]", 2)


def test_while_the_runtime_acts_for_a_run_a_record_names_the_run() -> None:
    line = in_run("r7", lambda: _line(_record("could not give back its slots")))
    assert line["run_id"] == "r7" and "task_key" not in line
    assert "run_id" not in _line(_record("between runs"))


def test_fields_given_with_the_record_win_and_an_exception_keeps_its_traceback() -> None:
    try:
        raise ValueError("bad value")
    except ValueError:
        record = _record("failed", run_id="r2", task_key="load")
        record.exc_info = sys.exc_info()
    line = in_run("r1", lambda: _line(record))
    assert (line["run_id"], line["task_key"]) == ("r2", "load")
    assert "Traceback" in str(line["exception"]) and "ValueError: bad value" in str(line["exception"])


@pytest.mark.parametrize("value", ["xml", "JSONL"])
def test_an_unknown_log_format_is_bad_usage(value: str) -> None:
    done = CliRunner().invoke(app, ["runs"], env={"LEDGERFLOW_LOG_FORMAT": value})
    assert done.exit_code == 2
    assert f"LEDGERFLOW_LOG_FORMAT='{value.lower()}': use one of text, json" in done.output
