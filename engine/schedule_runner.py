"""Turn schedules into runs: define a schedule, claim its due fire times, backfill a range.

Exactly once per (schedule, fire time): a fire time is claimed by inserting its
``schedule_fires`` row, whose primary key lets one process in; the claim carries a run
id derived from (schedule, creation time, fire time), and the run is created by
appending its first event at expected seq 0, which fails with ``AppendConflict`` if the
run exists. The claim and the run are two transactions: a process that dies between them
leaves the claim pending, and the next ``run_once`` of any process (or a repeated
backfill) creates the run under the same id, so no fire time is lost or run twice.

The fire time reaches the flow as the parameter named by the schedule's
``fire_time_param`` (by default ``fire_time``, when the flow declares it): an ISO-8601
string on the schedule's wall clock, with its UTC offset (``2026-03-29T03:30:00+02:00``).

A secret parameter (``lf.Secret``) is stored as its keyed hash, as ``run.created`` records
it (see ``engine.secrets``): the process that creates a schedule's runs and the worker
that drives them both take its value from ``LEDGERFLOW_SECRET_<NAME>``.
"""

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..storage import AppendConflict, FireRecord, ScheduleRecord
from ..storage.names import check_name
from .core.errors import LedgerflowError
from .core.fire_times import DEFAULT_GRACE, Catchup, InvalidSchedule, due_fire_times, fire_run_id
from .errors import FlowDefinitionError, InvalidParameter
from .flow import Flow
from .flow_ref import load_flow
from .queueing import submitted_terms
from .schedules import Timing, parse_interval, time_zone
from .secret_restore import scheduled
from .secrets import is_marker, protect

if TYPE_CHECKING:
    from .api import Engine

logger = logging.getLogger(__name__)

DEFAULT_FIRE_TIME_PARAM = "fire_time"
DEFAULT_MAX_BACKFILL = 1000
BACKFILL_YEARS = (1900, 8999)
"""The years a backfill range may touch: clear of the calendar's ends, where time arithmetic overflows."""


@dataclass(frozen=True, slots=True)
class BackfillReport:
    """What a backfill did: every fire time of the range, and the runs it created."""

    schedule: str
    fire_times: list[datetime]
    created: list[str]  # run ids created now
    existing: int  # fire times that had a run (or a claim) already


def timing_of(record: ScheduleRecord) -> Timing:
    """The stored schedule's timing."""
    return Timing(record.cron, record.interval_seconds, record.tz)


def run_id_for(record: ScheduleRecord, fire_time: datetime) -> str:
    """The run id of a fire time of the schedule (the same in every process)."""
    return fire_run_id(record.name, record.created_at, fire_time)


def define_schedule(
    name: str, flow: Flow[..., Any], *, cron: str | None = None, interval: str | int | None = None,
    tz: str = "UTC", parameters: Mapping[str, Any] | None = None, catchup: str = "latest",
    fire_time_param: str | None = None, now: datetime | None = None, home: Path,
    queue: str | None = None, priority: int | None = None,
) -> ScheduleRecord:  # fmt: skip
    """A checked new schedule record; raises ``InvalidName`` (see ``storage.names``),
    ``InvalidSchedule`` or ``InvalidParameter``.

    ``interval`` is seconds or text such as ``15m``; the flow gets the fire time as
    ``fire_time_param`` (default ``fire_time`` when it declares one, else not at all).
    Secret parameters are recorded as their keyed hashes under the key of ``home``. Its
    runs go to ``queue`` with ``priority`` (None: the flow's own, when each run is created).
    """
    check_name("schedule name", name)
    try:
        timing = Timing(cron, _interval_seconds(interval), tz)
        policy = Catchup.parse(catchup)
        submitted_terms(flow.run_terms, queue, priority)
    except (InvalidSchedule, ValueError) as exc:
        raise InvalidSchedule(name, str(exc)) from None
    param = _fire_time_param(name, flow, fire_time_param)
    given = dict(parameters or {})
    if param is not None and param in given:
        raise InvalidSchedule(name, f"parameter {param!r} is set by the schedule to the fire time")
    placeholder = {param: datetime.now(UTC).isoformat()} if param is not None else {}
    bound = flow.bind({**given, **placeholder})  # every required parameter given, all JSON
    stored = {key: bound[key] for key in given}
    now = now or datetime.now(UTC)
    return ScheduleRecord(
        name=name, flow_ref=flow.ref, parameters=protect(flow, stored, home).recorded(stored),
        cron=timing.cron, interval_seconds=timing.interval_seconds, tz=timing.tz,
        fire_time_param=param, catchup=str(policy), is_paused=False,
        created_at=now, updated_at=now, considered_until=now, queue=queue, priority=priority,
    )  # fmt: skip


def _interval_seconds(interval: str | int | None) -> int | None:
    if interval is None or isinstance(interval, int):
        return interval
    return parse_interval(interval)


def _fire_time_param(name: str, flow: Flow[..., Any], wanted: str | None) -> str | None:
    declared = flow.signature.parameters
    if wanted is None:
        return DEFAULT_FIRE_TIME_PARAM if DEFAULT_FIRE_TIME_PARAM in declared else None
    if wanted not in declared:
        known = ", ".join(declared) or "none"
        reason = f"flow {flow.name!r} has no parameter {wanted!r} for the fire time (known: {known})"
        raise InvalidSchedule(name, reason)
    return wanted


def fire_parameters(record: ScheduleRecord, fire_time: datetime) -> dict[str, Any]:
    """The parameters of the run of ``fire_time``: the schedule's, and the fire time."""
    parameters = dict(record.parameters)
    if record.fire_time_param is not None:
        parameters[record.fire_time_param] = timing_of(record).local(fire_time).isoformat()
    return parameters


def create_run(engine: "Engine", record: ScheduleRecord, fire: FireRecord) -> str | None:
    """Create the run of a claimed fire time (SCHEDULED, for a worker) and mark the claim
    done; returns its id, or None if it existed already or cannot be created (the error
    is kept on the schedule and the claim stays pending, retried by the next poll)."""
    schedules = engine.storage.schedules
    try:
        flow = load_flow(record.flow_ref)
        _hash_clear_secrets(engine, record, flow)
        parameters = scheduled(record.name, flow, fire_parameters(record, fire.fire_time), engine.home)
        engine.submit_flow(flow, parameters, run_id=fire.run_id, queue=record.queue, priority=record.priority)
        created: str | None = fire.run_id
    except AppendConflict:  # created before a crash, or by a racing process
        created = None
    except (FlowDefinitionError, InvalidParameter) as exc:
        logger.error("schedule %s: cannot create the run of %s: %s", record.name, fire.fire_time, exc)
        schedules.record_error(record.name, f"{fire.fire_time.isoformat()}: {exc}")
        return None
    schedules.mark_created(fire)
    if record.last_error is not None:
        schedules.record_error(record.name, None)
    if created is not None:
        logger.info("schedule %s: created run %s for %s", record.name, created, fire.fire_time)
    return created


def _hash_clear_secrets(engine: "Engine", record: ScheduleRecord, flow: Flow[..., Any]) -> None:
    """A schedule stored before its secret parameters were recorded as keyed hashes holds
    their values: store the keyed hashes in their place."""
    clear = {name: value for name, value in record.parameters.items() if name in flow.secrets}
    clear = {name: value for name, value in clear.items() if not is_marker(value)}
    if clear:
        hashed = protect(flow, clear, engine.home).recorded(record.parameters)
        engine.storage.schedules.set_parameters(record.name, hashed)
        logger.warning("schedule %s: stored its secret parameters as keyed hashes", record.name)


class ScheduleRunner:
    """Creates the runs of due fire times of every schedule in the engine's database.

    Safe to run in several processes at once (see the module docstring). A fire time no
    older than ``grace`` (default the larger of 60 s and twice the poll interval) is on
    time; older ones were missed, and each schedule's catch-up policy decides.
    """

    def __init__(
        self, engine: "Engine", *, poll_interval: float = 5.0, grace: timedelta | None = None
    ) -> None:
        self.engine = engine
        self.poll_interval = poll_interval
        self.grace = grace if grace is not None else max(DEFAULT_GRACE, timedelta(seconds=2 * poll_interval))
        self.schedules = engine.storage.schedules
        self._stop = threading.Event()

    def run_once(self, now: datetime | None = None) -> list[str]:
        """Claim the fire times due at ``now`` (default: the current time) and create the
        runs of every pending claim, oldest first; returns the ids of the runs created."""
        now = now or datetime.now(UTC)
        records = {record.name: record for record in self.schedules.schedules()}
        for record in records.values():
            upcoming = timing_of(record).next_fire_time(record.considered_until)
            if not record.is_paused and upcoming is not None and upcoming <= now:  # else: no write
                self.schedules.claim_due(record.name, self._decider(now), run_id_for, now)
        return self._create_pending(records)

    def _decider(self, now: datetime) -> Callable[[ScheduleRecord], list[datetime]]:
        def decide(record: ScheduleRecord) -> list[datetime]:
            return due_fire_times(
                timing_of(record), record.considered_until, now, Catchup.parse(record.catchup), self.grace
            )

        return decide

    def _create_pending(self, records: Mapping[str, ScheduleRecord]) -> list[str]:
        created = []
        for fire in reversed(self.schedules.fires(is_pending=True)):
            record = records.get(fire.schedule) or self.schedules.get(fire.schedule)
            run_id = create_run(self.engine, record, fire)
            if run_id is not None:
                created.append(run_id)
        return created

    def tick(self) -> list[str]:
        """``run_once``, logging (not raising) a fault such as an unreachable database."""
        try:
            return self.run_once()
        except LedgerflowError as exc:
            logger.error("schedules: polling failed: %s", exc)
            return []

    def run(self) -> None:
        """Poll every ``poll_interval`` seconds until ``stop()`` is called."""
        while not self._stop.is_set():
            self.tick()
            self._stop.wait(self.poll_interval)

    def stop(self) -> None:
        """Ask ``run`` to return after the current poll."""
        self._stop.set()


def backfill(
    engine: "Engine", name: str, start: datetime, end: datetime, *, max_runs: int = DEFAULT_MAX_BACKFILL
) -> BackfillReport:
    """Create the runs of the schedule's fire times in ``[start, end]`` (naive times are on
    the schedule's wall clock), skipping those created before: repeating it is harmless,
    and it completes a backfill that died halfway. Works on a paused schedule too."""
    first, last = BACKFILL_YEARS
    if not all(first <= moment.year <= last for moment in (start, end)):
        raise InvalidSchedule(name, f"backfill times must be in the years {first} to {last}")
    schedules = engine.storage.schedules
    record = schedules.get(name)
    timing = timing_of(record)
    start, end = _aware(start, timing), _aware(end, timing)
    if start > end:
        raise InvalidSchedule(name, f"backfill range starts after it ends ({start} > {end})")
    fire_times = list(islice(timing.between(start - timedelta(microseconds=1), end), max_runs + 1))
    if len(fire_times) > max_runs:
        raise InvalidSchedule(
            name, f"{start.isoformat()} to {end.isoformat()} holds more than {max_runs} fire times: "
            "narrow the range or raise the maximum (--max-runs)",
        )  # fmt: skip
    claimed = schedules.claim(name, fire_times, run_id_for)
    in_range = set(fire_times)
    pending = [fire for fire in schedules.fires(name, is_pending=True) if fire.fire_time in in_range]
    created = [run_id for fire in _oldest_first(pending) if (run_id := create_run(engine, record, fire))]
    return BackfillReport(name, fire_times, created, len(fire_times) - len(claimed))


def _aware(moment: datetime, timing: Timing) -> datetime:
    """``moment`` in UTC; a naive one is read on the schedule's wall clock."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=time_zone(timing.tz))
    return moment.astimezone(UTC)


def _oldest_first(fires: Sequence[FireRecord]) -> list[FireRecord]:
    return sorted(fires, key=lambda fire: fire.fire_time)
