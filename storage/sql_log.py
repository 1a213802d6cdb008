"""The event log on SQLAlchemy Core: one implementation for SQLite and PostgreSQL."""

import logging
from collections.abc import Callable, Collection, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from functools import partial
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from ..engine.core.bulk import collector_paused
from ..engine.core.events import Event, EventType, NewEvent
from ..engine.core.run_terms import DEFAULT_QUEUE
from . import claims, leases, run_pages, schema, stored_rows
from .appends import Appended, CheckedAppend, chain_after, check_batch, check_head
from .cache_index import index_appended, lookup
from .claim_notices import announce_claimable
from .codec import GENESIS_HASH, canonical_payload
from .database import READ_ONLY, chunked, retry_unavailable, translated_errors
from .errors import AppendConflict, CorruptEvent, RunNotFound, StorageError
from .lease_terms import lease_expiry, new_lease, shown, utc_now
from .protocols import CacheEntry, RunSummary, StoredRun
from .records import RunAppend
from .run_pages import created_in, state_is
from .run_slots import check_queues
from .sql_appends import GroupAppender, insert_events, insert_run_and_events

logger = logging.getLogger(__name__)

_EVENT_TYPES = frozenset(t.value for t in EventType)
_EV = schema.events
_RUNS = schema.runs

_EVENT_COLUMNS = (
    _EV.c.run_id, _EV.c.seq, _EV.c.task_key, _EV.c.type,
    _EV.c.payload, _EV.c.ts, _EV.c.prev_hash, _EV.c.hash,
)  # fmt: skip


_new_event = tuple.__new__  # builds the named tuple without a Python-level __new__ call


def _decode(row: Any) -> Event:
    run_id, seq, task_key, event_type, payload, ts, prev_hash, digest = row
    if event_type not in _EVENT_TYPES:
        raise CorruptEvent(run_id, seq, f"unknown event type {event_type!r}")
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise CorruptEvent(run_id, seq, f"payload is not valid JSON ({exc})") from exc
    if not isinstance(parsed, dict):
        raise CorruptEvent(run_id, seq, f"payload is a {type(parsed).__name__}, not an object")
    return _new_event(Event, (run_id, seq, task_key, event_type, parsed, ts, prev_hash, digest))


def _summary(row: Any, now: datetime) -> RunSummary:
    """A runs row as a summary; a RUNNING run whose lease expired is shown as CRASHED."""
    return shown(RunSummary(**row._mapping), now)


class SqlEventLog:
    """An ``EventLog`` (with ``Leases`` and a ``CacheIndex``) on a SQLAlchemy engine.

    UNIQUE(run_id, seq) fences concurrent writers. Lease times are the caller's clock:
    ``now`` defaults to the current UTC time of this process (see ``storage.lease_terms``).
    """

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._groups = GroupAppender(engine, self._append_alone, self._is_stored)

    @property
    def engine(self) -> sa.Engine:
        """The engine this log writes to."""
        return self._engine

    def append(
        self, run_id: str, expected_seq: int, events: Sequence[NewEvent], owner: str | None = None,
        lease_ttl: float | None = None,
    ) -> list[Event]:  # fmt: skip
        """Append ``events`` after ``expected_seq`` in one transaction (see ``EventLog``).

        With ``owner``, the append is fenced: it is refused unless ``owner`` still holds
        the run's lease (a new run is created with ``owner``'s lease for ``lease_ttl`` s).
        Raises ``AppendConflict`` if another writer got there first or took the run over,
        ``RunNotFound`` for an unknown run, ``InvalidAppend`` for a malformed batch,
        ``PayloadNotJSON``.
        """
        batch = list(events)
        if not batch:
            return []
        check_batch(run_id, expected_seq, batch)
        payloads = [canonical_payload(new.payload) for new in batch]
        attempts: list[list[Event] | None] = []
        lease = new_lease(owner, lease_ttl) if expected_seq == 0 else {}
        return self._append_retrying(run_id, expected_seq, batch, payloads, attempts, owner, lease)

    @retry_unavailable
    def _append_retrying(
        self, run_id: str, expected_seq: int, batch: list[NewEvent],
        payloads: list[bytes], attempts: list[list[Event] | None], owner: str | None,
        lease: dict[str, Any],
    ) -> list[Event]:  # fmt: skip
        attempts.append(None)
        try:
            return self._append_once(run_id, expected_seq, batch, payloads, attempts, owner, lease)
        except AppendConflict:
            # An earlier attempt may have committed before its connection died: if the
            # stored rows are exactly what it computed, that append succeeded.
            for earlier in attempts[:-1]:
                if earlier is not None and self._is_stored(earlier):
                    logger.info("run %s: append after seq %d had committed", run_id, expected_seq)
                    return earlier
            raise

    def _append_once(
        self, run_id: str, expected_seq: int, batch: list[NewEvent],
        payloads: list[bytes], attempts: list[list[Event] | None], owner: str | None,
        lease: dict[str, Any],
    ) -> list[Event]:  # fmt: skip
        with translated_errors(self._engine), self._engine.begin() as connection:
            prev_hash, last_ts = self._lock_head(connection, run_id, expected_seq, owner)
            chained, changes = chain_after(run_id, expected_seq, prev_hash, last_ts, batch, payloads)
            attempts[-1] = chained
            last = chained[-1]
            head = {"head_seq": last.seq, "head_hash": last.hash, "updated_at": last.ts}
            try:
                if expected_seq == 0:
                    run = {"run_id": run_id, "created_at": chained[0].ts, **head, **changes, **lease}
                    insert_run_and_events(connection, run, chained, payloads)
                else:
                    insert_events(connection, chained, payloads)
            except sa_exc.IntegrityError as exc:
                raise AppendConflict(run_id, expected_seq) from exc
            if expected_seq > 0:
                connection.execute(_RUNS.update().where(_RUNS.c.run_id == run_id).values(**head, **changes))
            elif changes.get("state") == "SCHEDULED":  # submitted: wake a listening worker
                announce_claimable(connection, [run_id])
            index_appended(connection, chained)
        return chained

    def append_many(self, appends: Sequence[RunAppend]) -> list[list[Event] | StorageError]:
        """Append the batches of distinct runs after their heads in one transaction (see
        ``EventLog`` and ``GroupAppender``): per batch, its events or the error that refused
        it alone."""
        return self._groups.append_many(appends)

    def _append_alone(self, append: CheckedAppend) -> Appended:
        try:
            appended = self.append(append.run_id, append.expected_seq, append.events, append.owner)
            if (owner := append.releases) is not None:
                self.release_many([append.run_id], owner)
        except StorageError as exc:
            return exc
        return appended

    def _lock_head(
        self, connection: sa.Connection, run_id: str, expected_seq: int, owner: str | None
    ) -> tuple[str, datetime | None]:
        """Lock the run's row, check its head and lease holder: (head hash, last ts)."""
        if expected_seq == 0:
            return GENESIS_HASH, None
        query = (
            sa.select(_RUNS.c.head_seq, _RUNS.c.head_hash, _RUNS.c.updated_at, _RUNS.c.owner)
            .where(_RUNS.c.run_id == run_id)
            .with_for_update()
        )
        row = connection.execute(query).first()
        if row is None:
            raise RunNotFound(run_id)
        check_head(run_id, expected_seq, row.head_seq, row.owner, owner)
        return row.head_hash, row.updated_at

    def _is_stored(self, chained: list[Event]) -> bool:
        run_id, first, last = chained[0].run_id, chained[0].seq, chained[-1].seq
        query = (
            sa.select(_EV.c.seq, _EV.c.hash)
            .where(_EV.c.run_id == run_id, _EV.c.seq.between(first, last))
            .order_by(_EV.c.seq)
        )
        with translated_errors(self._engine), self._read() as connection:
            stored = [(seq, digest) for seq, digest in connection.execute(query)]
        return stored == [(event.seq, event.hash) for event in chained]

    def _read(self) -> sa.Connection:
        return self._engine.connect().execution_options(**{READ_ONLY: True})

    def _select_rows(self, run_id: str, after_seq: int, upto_seq: int | None) -> Sequence[Any]:
        query = sa.select(*_EVENT_COLUMNS).where(_EV.c.run_id == run_id, _EV.c.seq > after_seq)
        if upto_seq is not None:
            query = query.where(_EV.c.seq <= upto_seq)
        with translated_errors(self._engine), self._read() as connection:
            rows = connection.execute(query.order_by(_EV.c.seq)).all()
            if not rows and not self._exists(connection, run_id):
                raise RunNotFound(run_id)
        return rows

    @staticmethod
    def _exists(connection: sa.Connection, run_id: str) -> bool:
        in_runs = sa.select(_RUNS.c.run_id).where(_RUNS.c.run_id == run_id)
        in_events = sa.select(_EV.c.run_id).where(_EV.c.run_id == run_id).limit(1)
        return connection.execute(in_runs).first() is not None or (
            connection.execute(in_events).first() is not None
        )

    @retry_unavailable
    def read(self, run_id: str, after_seq: int = 0, upto_seq: int | None = None) -> list[Event]:
        """The events with after_seq < seq <= upto_seq in seq order.

        Raises ``RunNotFound`` for an unknown run and ``CorruptEvent`` for a row that
        does not decode (unknown type, payload not a JSON object).
        """
        with collector_paused():  # thousands of small acyclic objects at once
            return [_decode(row) for row in self._select_rows(run_id, after_seq, upto_seq)]

    @retry_unavailable
    def read_many(self, run_ids: Collection[str]) -> dict[str, list[Event]]:
        """The whole logs of those of ``run_ids`` that have events, by run id, in one query per
        500 runs (``CorruptEvent`` as ``read``)."""
        logs: dict[str, list[Event]] = {}
        with translated_errors(self._engine), self._read() as connection, collector_paused():
            for chunk in chunked(sorted(set(run_ids))):
                query = (
                    sa.select(*_EVENT_COLUMNS)
                    .where(_EV.c.run_id.in_(chunk))
                    .order_by(_EV.c.run_id, _EV.c.seq)
                )
                for row in connection.execute(query):
                    event = _decode(row)
                    logs.setdefault(event.run_id, []).append(event)
        return logs

    @retry_unavailable
    def runs(
        self, limit: int | None = None, now: datetime | None = None, *, flow: str | None = None,
        states: Collection[str] | None = None, since: datetime | None = None,
        until: datetime | None = None, before: str | None = None, queue: str | None = None,
    ) -> list[RunSummary]:  # fmt: skip
        """Summaries of runs, newest first (CRASHED: RUNNING with a lease expired at ``now``).

        Filters, all in SQL: ``flow`` name, run ``states`` (CRASHED and RUNNING as shown),
        created at or after ``since`` and before ``until``, ``queue``; ``before``: only the
        runs listed after that run (the next page; ``RunNotFound`` if it does not exist).
        """
        now = utc_now(now)
        newest_first = sa.select(_RUNS).order_by(_RUNS.c.created_at.desc(), _RUNS.c.run_id.desc())
        query = created_in(newest_first, flow, since, until, queue)
        if states is not None:
            query = query.where(sa.or_(sa.false(), *(state_is(state, now) for state in states)))
        if limit is not None:
            query = query.limit(limit)
        with translated_errors(self._engine), self._read() as connection:
            if before is not None:
                query = query.where(run_pages.listed_after(connection, before))
            return [_summary(row, now) for row in connection.execute(query)]

    @retry_unavailable
    def run_counts(
        self, now: datetime | None = None, *, flow: str | None = None, since: datetime | None = None,
        until: datetime | None = None, at_most: int | None = None, queue: str | None = None,
    ) -> dict[str, int]:  # fmt: skip
        """How many runs are in each shown state (CRASHED as in ``runs``), filtered as ``runs``;
        with ``at_most``, a state with more runs counts ``at_most + 1`` (the count stops there)."""
        now = utc_now(now)
        with translated_errors(self._engine), self._read() as connection:
            if at_most is not None:
                narrowed = partial(created_in, flow=flow, since=since, until=until, queue=queue)
                return run_pages.capped_counts(connection, partial(state_is, now=now), narrowed, at_most)
            shown = sa.case((state_is("CRASHED", now), "CRASHED"), else_=_RUNS.c.state)
            query = created_in(sa.select(shown, sa.func.count()).group_by(shown), flow, since, until, queue)
            return {state: count for state, count in connection.execute(query)}

    @retry_unavailable
    def last_drivers(self, run_ids: Collection[str]) -> dict[str, str]:
        """The driver (owner) that each run's latest ``run.running`` event names, by run id:
        who drove a run that ended, once its lease was released."""
        if not run_ids:
            return {}
        latest = (
            sa.select(_EV.c.run_id, sa.func.max(_EV.c.seq).label("seq"))
            .where(_EV.c.run_id.in_(list(run_ids)), _EV.c.type == EventType.RUN_RUNNING.value)
            .group_by(_EV.c.run_id)
            .subquery()
        )
        query = sa.select(_EV.c.run_id, _EV.c.payload).join(
            latest, sa.and_(_EV.c.run_id == latest.c.run_id, _EV.c.seq == latest.c.seq)
        )
        with translated_errors(self._engine), self._read() as connection:
            rows = connection.execute(query).all()
        owners = {run_id: orjson.loads(payload).get("owner") for run_id, payload in rows}
        return {run_id: owner for run_id, owner in owners.items() if isinstance(owner, str)}

    @retry_unavailable
    def run(self, run_id: str, now: datetime | None = None) -> RunSummary:
        """The summary of one run (CRASHED as in ``runs``); raises ``RunNotFound``."""
        now = utc_now(now)
        query = sa.select(_RUNS).where(_RUNS.c.run_id == run_id)
        with translated_errors(self._engine), self._read() as connection:
            row = connection.execute(query).first()
        if row is None:
            raise RunNotFound(run_id)
        return _summary(row, now)

    @retry_unavailable
    def read_rows(self, run_id: str, *, upto_head: bool = False) -> AbstractContextManager[StoredRun]:
        """The run's stored rows, undecoded and streamed in seq order, with its head, in one
        snapshot (see ``storage.stored_rows``); ``RunNotFound``."""
        return stored_rows.open_run(self._engine, run_id, upto_head=upto_head)

    def run_ids(self) -> list[str]:
        """Every run id stored, with a runs row or only events, sorted."""
        return stored_rows.run_ids(self._engine)

    def take_over(self, run_id: str, owner: str, ttl: float, now: datetime | None = None) -> None:
        """Take the run's lease for ``ttl`` s whoever holds it (the caller says the old driver
        is gone; fencing on seq stops a live one); raises ``RunNotFound``."""
        expires = lease_expiry(utc_now(now), ttl)
        with translated_errors(self._engine), self._engine.begin() as connection:
            if not leases.take_over(connection, run_id, owner, expires):
                raise RunNotFound(run_id)
        logger.info("run %s: %s took the lease over until %s", run_id, owner, expires)

    @retry_unavailable
    def heartbeat(self, run_id: str, owner: str, ttl: float, now: datetime | None = None) -> bool:
        """Extend ``owner``'s lease to now + ``ttl``; False if ``owner`` no longer holds it
        (another took it over or claimed it, or it was released): stop driving the run."""
        expires = lease_expiry(utc_now(now), ttl)
        with translated_errors(self._engine), self._engine.begin() as connection:
            if leases.heartbeat(connection, run_id, owner, expires):
                return True
            if not leases.exists(connection, run_id):
                raise RunNotFound(run_id)
        logger.warning("run %s: %s lost its lease", run_id, owner)
        return False

    @retry_unavailable
    def heartbeat_many(
        self, run_ids: Collection[str], owner: str, ttl: float, now: datetime | None = None
    ) -> set[str]:
        """Extend ``owner``'s leases of ``run_ids`` to now + ``ttl`` in one transaction (one
        UPDATE per 500 runs); the ids it still holds: it stands down from the others."""
        expires = lease_expiry(utc_now(now), ttl)
        held = self._update_held(leases.heartbeat_many, run_ids, owner, expires)
        if lost := set(run_ids) - held:
            logger.warning("runs %s: %s lost their leases", ", ".join(sorted(lost)), owner)
        return held

    @retry_unavailable
    def release_many(self, run_ids: Collection[str], owner: str) -> None:
        """Clear owner and lease of those of ``run_ids`` that ``owner`` holds, in one
        transaction (one UPDATE per 500 runs)."""
        self._update_held(leases.release_many, run_ids, owner)

    @retry_unavailable
    def lapse_many(self, run_ids: Collection[str], owner: str, now: datetime | None = None) -> None:
        """Let the leases ``owner`` holds among ``run_ids`` expire at ``now`` (one UPDATE per 500
        runs) and wake the listening workers: the runs are claimable at once."""
        self._update_held(leases.lapse_many, run_ids, owner, utc_now(now))

    def _update_held(
        self, update: Callable[..., set[str]], run_ids: Collection[str], owner: str, *args: Any
    ) -> set[str]:
        wanted = sorted(set(run_ids))
        done: set[str] = set()
        if wanted:
            with translated_errors(self._engine), self._engine.begin() as connection:
                for chunk in chunked(wanted):
                    done |= update(connection, chunk, owner, *args)
        return done

    @retry_unavailable
    def release(self, run_id: str, owner: str) -> None:
        """Clear owner and lease if ``owner`` holds them (else leave them); ``RunNotFound``."""
        with translated_errors(self._engine), self._engine.begin() as connection:
            if not leases.release(connection, run_id, owner) and not leases.exists(connection, run_id):
                raise RunNotFound(run_id)

    @retry_unavailable
    def hand_back(self, run_id: str, owner: str, now: datetime | None = None) -> None:
        """Give the lease up if ``owner`` holds it, claimable at once (see ``Leases``)."""
        now = utc_now(now)
        with translated_errors(self._engine), self._engine.begin() as connection:
            if not leases.hand_back(connection, run_id, owner, now) and not leases.exists(connection, run_id):
                raise RunNotFound(run_id)

    @retry_unavailable
    def claim_crashed(
        self, owner: str, ttl: float, limit: int = 1, now: datetime | None = None,
        skip: Collection[str] = (), queues: Collection[str] = (DEFAULT_QUEUE,),
    ) -> list[str]:  # fmt: skip
        """Take the leases (for ``ttl`` s) of up to ``limit`` runs of ``queues`` a dead driver
        left, by priority then age, each with a slot of its flow; never one in ``skip``.
        Concurrent claimers never get the same run (see ``storage.claims``)."""
        return self._claim("crashed", claims.claim_crashed, owner, ttl, limit, now, skip, queues)

    @retry_unavailable
    def claim_scheduled(
        self, owner: str, ttl: float, limit: int = 1, now: datetime | None = None,
        skip: Collection[str] = (), queues: Collection[str] = (DEFAULT_QUEUE,),
    ) -> list[str]:  # fmt: skip
        """Take the leases (for ``ttl`` s) of up to ``limit`` SCHEDULED runs of ``queues``
        nobody drives, by priority then age, each with a slot of its flow; never one in
        ``skip``. Concurrent claimers never get the same run (see ``storage.claims``)."""
        return self._claim("scheduled", claims.claim_scheduled, owner, ttl, limit, now, skip, queues)

    def _claim(
        self, kind: str, claim: claims.Claim, owner: str, ttl: float, limit: int, now: datetime | None,
        skip: Collection[str], queues: Collection[str],
    ) -> list[str]:  # fmt: skip
        now, queues = utc_now(now), check_queues(queues)
        with translated_errors(self._engine), self._engine.begin() as connection:
            claimed = claim(connection, owner, ttl, limit, now, skip, queues)
        if claimed:
            logger.info("%s claimed %s runs %s", owner, kind, ", ".join(claimed))
        return claimed

    @retry_unavailable
    def cache_lookup_many(
        self, cache_keys: Collection[str], now: datetime | None = None
    ) -> dict[str, CacheEntry]:
        """The latest entry recorded for each of ``cache_keys`` unless it expired at ``now``,
        in one query per batch: the entries found, by key."""
        now = utc_now(now)
        with translated_errors(self._engine), self._read() as connection:
            return lookup(connection, cache_keys, now)
