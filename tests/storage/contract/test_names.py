"""Tags of limits and names of schedules that would mean something else in a URL (or are
invisible) are refused where they are stored."""

from datetime import UTC, datetime

import pytest

from ledgerflow.storage import ScheduleRecord, Storage
from ledgerflow.storage.names import MAX_NAME_LENGTH, InvalidName

REFUSED = [
    ("../runs/RID/cancel", "slash"),
    ("a/b", "slash"),
    ("a\\b", "slash"),
    (".", "'.' or '..'"),
    ("..", "'.' or '..'"),
    ("", "empty"),
    ("tab\there", "control"),
    ("new\nline", "control"),
    ("nul\x00", "control"),
    ("zero\u200bwidth", "invisible"),
    (" gpu", "whitespace"),
    ("gpu ", "whitespace"),
    ("x" * (MAX_NAME_LENGTH + 1), f"{MAX_NAME_LENGTH + 1} characters"),
]


def _schedule(name: str) -> ScheduleRecord:
    now = datetime.now(UTC)
    return ScheduleRecord(
        name=name, flow_ref="flows.py:f", parameters={}, cron=None, interval_seconds=60, tz="UTC",
        fire_time_param=None, catchup="latest", is_paused=False, created_at=now, updated_at=now,
        considered_until=now,
    )  # fmt: skip


def test_storage_refuses_such_tags_and_schedule_names(storage: Storage) -> None:
    for name, _ in REFUSED:
        with pytest.raises(InvalidName, match="tag"):
            storage.limits.set_limit(name, 5)
        with pytest.raises(InvalidName, match="schedule name"):
            storage.schedules.add(_schedule(name))
    assert storage.limits.limits() == [] and storage.schedules.schedules() == []
    storage.limits.set_limit("%2F..%2Fruns", 5)
    storage.schedules.add(_schedule("a?b#c"))
    assert [usage.tag for usage in storage.limits.limits()] == ["%2F..%2Fruns"]
    assert [record.name for record in storage.schedules.schedules()] == ["a?b#c"]
