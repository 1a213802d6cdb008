"""Logs written by earlier versions (tests/replay/golden/) still verify and fold to their states.

A failure here means this version can no longer read what an earlier one wrote: add an
upcaster for the changed payload, never regenerate the files (see make_golden.py).
"""

from datetime import datetime
from pathlib import Path

import orjson
import pytest

from ledgerflow.engine.core.events import Event
from ledgerflow.engine.core.fold import fold
from ledgerflow.replay import SignatureStatus, verify_export

from .make_golden import GOLDEN, GOLDEN_KEY

# file: (run state, {task key: (state, attempts)})
EXPECTED = {
    "map_success.jsonl": ("SUCCEEDED", {
        "numbers": ("SUCCEEDED", 1), "double": ("MAPPED", 0), "double[0]": ("SUCCEEDED", 1),
        "double[1]": ("SUCCEEDED", 1), "double[2]": ("SUCCEEDED", 1), "total": ("SUCCEEDED", 1),
    }),
    "failure_with_retries.jsonl": ("FAILED", {
        "unreliable": ("FAILED", 3), "double": ("UPSTREAM_FAILED", 0), "double-1": ("SUCCEEDED", 1),
    }),
    "cached.jsonl": ("SUCCEEDED", {"square": ("CACHED", 0), "double": ("SUCCEEDED", 1)}),
    "restarted.jsonl": ("SUCCEEDED", {"step": ("SUCCEEDED", 2), "double": ("SUCCEEDED", 1)}),
}  # fmt: skip


def events_of(path: Path) -> list[Event]:
    """The events of an export, as the log would read them back."""
    lines = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    fields = ("run_id", "seq", "task_key", "type", "payload", "ts", "prev_hash", "hash")
    return [
        Event(**{**{name: line[name] for name in fields}, "ts": datetime.fromisoformat(line["ts"])})
        for line in lines
        if line["kind"] == "event"
    ]


def test_every_golden_log_has_its_expected_states() -> None:
    assert sorted(path.name for path in GOLDEN.glob("*.jsonl")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_golden_log_verifies_offline(name: str) -> None:
    report = verify_export(GOLDEN / name, key=GOLDEN_KEY)
    assert report.ok, report
    assert report.signature is SignatureStatus.VALID
    assert report.checkpoint is not None and report.chain.events_checked == report.checkpoint.seq


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_golden_log_folds_to_its_recorded_state(name: str) -> None:
    run_state, tasks = EXPECTED[name]
    view = fold(events_of(GOLDEN / name))
    assert view.state == run_state
    assert {key: (task.state, task.attempts) for key, task in view.tasks.items()} == tasks
