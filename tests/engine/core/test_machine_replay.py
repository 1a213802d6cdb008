"""Recorded runs replayed through today's machine hand out the same events in the same order.

The golden logs (tests/replay/golden/) were written by real runs on threads and SQLite; the
replayer (``replayer.py``) rebuilds what each drive was told from what it recorded. A
failure means today's machine decides differently from the one that wrote the log.
"""

import pytest

from ledgerflow.engine.core.policy import TaskPolicy
from ledgerflow.engine.retry import RetryPolicy

from ...replay.make_golden import GOLDEN
from ...replay.test_golden import events_of
from .replayer import recorded, replay

PLAIN = TaskPolicy(retry=RetryPolicy())
# What the flows of tests/replay/make_golden.py tell the machine of their tasks.
GOLDEN_POLICIES = {
    "map_success.jsonl": {"numbers": PLAIN, "double": PLAIN, "total": PLAIN},
    "failure_with_retries.jsonl": {
        "unreliable": TaskPolicy(retry=RetryPolicy(retries=2)), "double": PLAIN, "double-1": PLAIN,
    },
    "cached.jsonl": {"square": TaskPolicy(retry=RetryPolicy(), is_cacheable=True), "double": PLAIN},
    "restarted.jsonl": {"step": PLAIN, "double": PLAIN},
}  # fmt: skip


def test_every_golden_log_is_replayed() -> None:
    assert sorted(path.name for path in GOLDEN.glob("*.jsonl")) == sorted(GOLDEN_POLICIES)


@pytest.mark.parametrize("name", sorted(GOLDEN_POLICIES))
def test_a_golden_log_replays_to_the_same_events(name: str) -> None:
    events = events_of(GOLDEN / name)
    handed_out = replay(events, GOLDEN_POLICIES[name], has_cache=True)
    assert recorded(handed_out) == recorded(events[1:])


def test_a_replay_tells_a_different_decision() -> None:
    events = events_of(GOLDEN / "failure_with_retries.jsonl")
    fewer = {
        **GOLDEN_POLICIES["failure_with_retries.jsonl"],
        "unreliable": TaskPolicy(retry=RetryPolicy(retries=1)),
    }
    handed_out = recorded(replay(events, fewer))
    assert handed_out != recorded(events[1:])
    assert ("unreliable", "task.failed", 2) in [
        (key, type_, payload.get("attempt")) for key, type_, payload in handed_out
    ]
