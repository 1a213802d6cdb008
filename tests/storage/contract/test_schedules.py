"""The schedules store: schedules, and fire times claimed once."""

from datetime import UTC, datetime, timedelta

import pytest

from ledgerflow.storage import (
    FireRecord,
    ScheduleExists,
    ScheduleNotFound,
    ScheduleRecord,
    Storage,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _record(name: str = "nightly", **changes: object) -> ScheduleRecord:
    values: dict[str, object] = {
        "name": name, "flow_ref": "flows:nightly", "parameters": {"region": "de", "alpha": 0.25},
        "cron": "30 2 * * *", "interval_seconds": None, "tz": "Europe/Berlin",
        "fire_time_param": "fire_time", "catchup": "backfill:3", "is_paused": False,
        "created_at": T0, "updated_at": T0, "considered_until": T0,
    }  # fmt: skip
    values.update(changes)
    return ScheduleRecord(**values)  # type: ignore[arg-type]


def _run_id(record: ScheduleRecord, fire_time: datetime) -> str:
    return f"{record.name}-{fire_time:%H%M}"


def _hours(*hours: int) -> list[datetime]:
    return [T0 + timedelta(hours=hour) for hour in hours]


def test_schedules_round_trip_and_list_by_name(storage: Storage) -> None:
    storage.schedules.add(_record("b", cron=None, interval_seconds=900, fire_time_param=None))
    storage.schedules.add(_record("a"))
    assert storage.schedules.get("a") == _record("a")
    assert [record.name for record in storage.schedules.schedules()] == ["a", "b"]
    assert storage.schedules.get("b").interval_seconds == 900


def test_a_taken_name_and_an_unknown_name_are_clear_errors(storage: Storage) -> None:
    storage.schedules.add(_record())
    with pytest.raises(ScheduleExists, match="'nightly' exists already"):
        storage.schedules.add(_record(flow_ref="other:flow"))
    for call in (
        lambda: storage.schedules.get("weekly"),
        lambda: storage.schedules.set_paused("weekly", True),
        lambda: storage.schedules.remove("weekly"),
        lambda: storage.schedules.claim("weekly", _hours(1), _run_id),
    ):
        with pytest.raises(ScheduleNotFound, match="no schedule named 'weekly'"):
            call()


def test_a_fire_time_is_claimed_once(storage: Storage) -> None:
    storage.schedules.add(_record())
    first = storage.schedules.claim("nightly", _hours(1, 2), _run_id, now=T0)
    again = storage.schedules.claim("nightly", _hours(2, 3, 3), _run_id, now=T0)
    assert [fire.fire_time for fire in first] == _hours(1, 2)
    assert again == [FireRecord("nightly", _hours(3)[0], "nightly-0300", T0, None)]
    assert [fire.fire_time for fire in storage.schedules.fires("nightly")] == _hours(3, 2, 1)


def test_claim_due_decides_with_the_locked_record_and_moves_considered_until(storage: Storage) -> None:
    storage.schedules.add(_record())
    seen: list[datetime] = []

    def decide(record: ScheduleRecord) -> list[datetime]:
        seen.append(record.considered_until)
        return _hours(1)

    now = T0 + timedelta(hours=5)
    claimed = storage.schedules.claim_due("nightly", decide, _run_id, now)
    assert [fire.run_id for fire in claimed] == ["nightly-0100"]
    assert storage.schedules.claim_due("nightly", decide, _run_id, now) == []  # considered already
    assert seen == [T0] and storage.schedules.get("nightly").considered_until == now
    storage.schedules.set_paused("nightly", True, now=now)
    assert storage.schedules.claim_due("nightly", decide, _run_id, now + timedelta(hours=1)) == []
    assert storage.schedules.claim_due("weekly", decide, _run_id, now) == []


def test_resuming_skips_the_paused_time_and_resuming_an_active_schedule_changes_nothing(
    storage: Storage,
) -> None:
    storage.schedules.add(_record())
    storage.schedules.set_paused("nightly", False, now=T0 + timedelta(days=1))
    assert storage.schedules.get("nightly").considered_until == T0
    storage.schedules.set_paused("nightly", True, now=T0 + timedelta(days=1))
    assert storage.schedules.get("nightly").is_paused
    storage.schedules.set_paused("nightly", False, now=T0 + timedelta(days=2))
    resumed = storage.schedules.get("nightly")
    assert (resumed.is_paused, resumed.considered_until) == (False, T0 + timedelta(days=2))


def test_pending_fires_are_marked_created_and_the_last_fire_is_listed(storage: Storage) -> None:
    storage.schedules.add(_record("a"))
    storage.schedules.add(_record("b"))
    a1, a2 = storage.schedules.claim("a", _hours(1, 2), _run_id, now=T0)
    storage.schedules.claim("b", _hours(7), _run_id, now=T0)
    storage.schedules.mark_created(a1, now=T0 + timedelta(minutes=1))
    pending = storage.schedules.fires(is_pending=True)
    assert [(fire.schedule, fire.run_id) for fire in pending] == [("b", "b-0700"), ("a", "a-0200")]
    assert [fire.run_created_at for fire in storage.schedules.fires("a", is_pending=False)] == [
        T0 + timedelta(minutes=1)
    ]
    last = storage.schedules.last_fires()
    assert {name: fire.run_id for name, fire in last.items()} == {"a": "a-0200", "b": "b-0700"}
    assert last["a"].is_pending and a2.is_pending


def test_errors_are_kept_and_cleared(storage: Storage) -> None:
    storage.schedules.add(_record())
    storage.schedules.record_error("nightly", "x" * 5000)
    assert storage.schedules.get("nightly").last_error == "x" * 2000
    storage.schedules.record_error("nightly", None)
    assert storage.schedules.get("nightly").last_error is None


def test_removing_a_schedule_deletes_its_claims(storage: Storage) -> None:
    storage.schedules.add(_record())
    storage.schedules.claim("nightly", _hours(1), _run_id)
    storage.schedules.remove("nightly")
    assert storage.schedules.schedules() == [] and storage.schedules.fires() == []
