"""Tags of limits and names of schedules that would mean something else in a URL (or are
invisible) are refused where they are stored, with the reason; every other name is kept."""

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
ALLOWED = ["gpu", "my tag", "...", "a.b", "%2F..%2Fruns", "a?b#c", "ünïcødé", "x" * MAX_NAME_LENGTH]


def _schedule(name: str) -> ScheduleRecord:
    now = datetime.now(UTC)
    return ScheduleRecord(
        name=name, flow_ref="flows.py:f", parameters={}, cron=None, interval_seconds=60, tz="UTC",
        fire_time_param=None, catchup="latest", is_paused=False, created_at=now, updated_at=now,
        considered_until=now,
    )  # fmt: skip


def test_storage_refuses_such_tags_and_schedule_names(storage: Storage) -> None:
    for name, reason in REFUSED:
        with pytest.raises(InvalidName, match="tag .*" + reason) as refused:
            storage.limits.set_limit(name, 5)
        assert isinstance(refused.value, ValueError)
        assert "\n" not in str(refused.value)
        with pytest.raises(InvalidName, match="schedule name .*" + reason):
            storage.schedules.add(_schedule(name))
    assert storage.limits.limits() == [] and storage.schedules.schedules() == []


def test_storage_keeps_every_other_name(storage: Storage) -> None:
    for name in ALLOWED:
        storage.limits.set_limit(name, 5)
        storage.schedules.add(_schedule(name))
    assert sorted(usage.tag for usage in storage.limits.limits()) == sorted(ALLOWED)
    assert sorted(record.name for record in storage.schedules.schedules()) == sorted(ALLOWED)
