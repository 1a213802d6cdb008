"""The SQL writes of appends: event rows (pipelined INSERTs, or COPY on PostgreSQL for large
batches), and group commits of many runs' batches in one transaction."""

import logging
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc

from ..engine.core.events import Event
from . import leases, schema
from .appends import Appended, CheckedAppend, chain_after, check_appends, check_head, released_by_owner
from .cache_index import index_appended
from .claim_notices import announce_freed_slots
from .codec import format_ts
from .database import chunked, retry_unavailable, translated_errors
from .errors import AppendConflict, RunNotFound
from .postgres import write_events, write_row_and_events
from .records import RunAppend

logger = logging.getLogger(__name__)

_RUNS = schema.runs
_INSERT_EVENTS = schema.events.insert()  # SQLite's (PostgreSQL's: postgres.write_events)
_MOVE_HEAD = _RUNS.update().where(_RUNS.c.run_id == sa.bindparam("moved_run_id"))
_MOVE_KNOWN_HEAD = _MOVE_HEAD.where(
    _RUNS.c.head_seq == sa.bindparam("known_seq"), _RUNS.c.head_hash == sa.bindparam("known_hash")
)
_MOVE_FENCED_HEAD = _MOVE_KNOWN_HEAD.where(_RUNS.c.owner == sa.bindparam("known_owner"))
_END_FENCED_HEAD = _MOVE_FENCED_HEAD.values(owner=None, lease_expires_at=None).returning(leases.freed_flow())
"""Move one run's head and give its lease up (the fence's owner releases): the run's flow if
it is limited, no row if the head or the owner is not as known."""
_HEAD_COLUMNS = (_RUNS.c.run_id, _RUNS.c.head_seq, _RUNS.c.head_hash, _RUNS.c.updated_at, _RUNS.c.owner)


def insert_events(connection: sa.Connection, chained: Sequence[Event], payloads: Sequence[bytes]) -> None:
    """Write the events' rows in the connection's transaction; a duplicate (run_id, seq)
    raises ``IntegrityError``."""
    if connection.dialect.name == "postgresql":
        write_events(connection, _postgres_rows(chained, payloads))
        return
    connection.execute(_INSERT_EVENTS, [_row(event, p) for event, p in zip(chained, payloads, strict=True)])


def insert_run_and_events(
    connection: sa.Connection, run: dict[str, Any], chained: Sequence[Event], payloads: Sequence[bytes]
) -> None:
    """Write a new run's runs row (``run``: its columns) and first events in the connection's
    transaction, on PostgreSQL in one statement; a duplicate raises ``IntegrityError``."""
    dialect = connection.dialect
    if dialect.name == "postgresql":
        bound = {name: _bound(name, value, dialect) for name, value in run.items()}
        if write_row_and_events(connection, _RUNS.name, bound, _postgres_rows(chained, payloads)):
            return
    connection.execute(_RUNS.insert().values(**run))
    insert_events(connection, chained, payloads)


def _bound(column: str, value: Any, dialect: sa.Dialect) -> Any:
    """``value`` as the runs column ``column`` binds it (a UTC-aware time checked so)."""
    process = _RUNS.c[column].type.bind_processor(dialect)
    return value if process is None else process(value)


def _postgres_rows(chained: Sequence[Event], payloads: Sequence[bytes]) -> list[tuple[Any, ...]]:
    """The rows of ``postgres.write_events``, each ts as ISO-8601 text (the driver formats a
    datetime several times slower than this, and the events of a batch mostly share one)."""
    rows = []
    stamped, text = None, ""
    for e, p in zip(chained, payloads, strict=True):
        if e.ts is not stamped:
            stamped, text = e.ts, format_ts(e.ts)
        rows.append((e.run_id, e.seq, e.task_key, e.type, p.decode(), text, e.prev_hash, e.hash))
    return rows


def _row(event: Event, payload: bytes) -> dict[str, Any]:
    return {
        "run_id": event.run_id,
        "seq": event.seq,
        "task_key": event.task_key,
        "type": event.type,
        "payload": payload.decode(),
        "ts": event.ts,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
    }


class GroupAppender:
    """Group commits on one database: many runs' batches in one transaction, each fenced as
    a single append is; ``append_alone`` appends one batch by itself, ``is_stored`` tells
    whether events computed by an earlier attempt are stored exactly so."""

    def __init__(
        self, engine: sa.Engine, append_alone: Callable[[CheckedAppend], Appended],
        is_stored: Callable[[list[Event]], bool],
    ) -> None:  # fmt: skip
        self._engine = engine
        self._append_alone = append_alone
        self._is_stored = is_stored

    def append_many(self, appends: Sequence[RunAppend]) -> list[Appended]:
        """Per batch, in order: its events, or the error that refused it alone (see
        ``EventLog.append_many``)."""
        checked, outcomes = check_appends(appends)
        if checked:
            outcomes.update(self._append_group(checked, []))
        return [outcomes[index] for index in range(len(appends))]

    @retry_unavailable
    def _append_group(
        self, checked: list[CheckedAppend], attempts: list[dict[int, Appended]]
    ) -> dict[int, Appended]:
        outcomes: dict[int, Appended] = {}
        attempts.append(outcomes)
        if not self._write(checked, outcomes):
            # A row the heads did not count (the read model lags the log): each batch alone,
            # so that only the runs concerned fail.
            logger.warning("a group append met rows its heads did not count; appending its runs one by one")
            return {append.index: self._append_alone(append) for append in checked}
        for earlier in attempts[:-1]:  # an earlier attempt may have committed before its connection died
            for index, outcome in outcomes.items():
                chained = earlier.get(index)
                if (
                    isinstance(outcome, AppendConflict)
                    and isinstance(chained, list)
                    and self._is_stored(chained)
                ):
                    outcomes[index] = chained
        return outcomes

    def _write(self, checked: list[CheckedAppend], outcomes: dict[int, Appended]) -> bool:
        """Write the group in one transaction: after the heads its writers know if they all
        know them (``write_after_known_heads``), else (or if one was not so) after the heads
        read and locked (``write_group``); False if it met event rows the runs' heads did not
        count (nothing was written)."""
        with translated_errors(self._engine):
            try:
                with self._engine.connect() as connection:
                    if all(append.head is not None for append in checked):
                        with connection.begin() as transaction:
                            if write_after_known_heads(connection, checked, outcomes):
                                return True
                            transaction.rollback()  # a head moved: read them to tell each batch why
                    with connection.begin():
                        write_group(connection, checked, outcomes)
            except sa_exc.IntegrityError:
                return False
        return True


def write_group(
    connection: sa.Connection, checked: Sequence[CheckedAppend], outcomes: dict[int, Appended]
) -> None:
    """Append each batch whose run's head and lease holder are as it expects, in the
    caller's transaction; ``outcomes`` gets, by batch index, its chained events or why it
    was refused (``RunNotFound``, ``AppendConflict``), as each is decided.

    The runs rows are locked first, in run id order (as ``heartbeat_many`` locks them, so
    the two never deadlock); every appender locks a run's row before writing its events, so
    a batch whose head matched cannot meet a duplicate (run_id, seq) unless the read model
    lags the events: then the insert raises ``IntegrityError`` for the whole group.
    """
    heads = _locked_heads(connection, [append.run_id for append in checked])
    events: list[Event] = []
    payloads: list[bytes] = []
    moved: dict[tuple[str, ...], list[dict[str, Any]]] = {}  # runs rows to update, by changed columns
    for append in checked:
        head = heads.get(append.run_id)
        if head is None:
            outcomes[append.index] = RunNotFound(append.run_id)
            continue
        try:
            check_head(append.run_id, append.expected_seq, head.head_seq, head.owner, append.owner)
        except AppendConflict as exc:  # another writer appended, or the lease is another's
            outcomes[append.index] = exc
            continue
        chained, changes = chain_after(
            append.run_id,
            append.expected_seq,
            head.head_hash,
            head.updated_at,
            append.events,
            append.payloads,
        )
        outcomes[append.index] = chained
        events += chained
        payloads += append.payloads
        last = chained[-1]
        row = {
            "moved_run_id": last.run_id,
            "head_seq": last.seq,
            "head_hash": last.hash,
            "updated_at": last.ts,
        }
        moved.setdefault(tuple(sorted(changes)), []).append({**row, **changes})
    if not events:
        return
    insert_events(connection, events, payloads)
    for rows in moved.values():  # one pipelined UPDATE per set of changed columns
        connection.execute(_MOVE_HEAD, rows)
    index_appended(connection, events)
    release_leases(connection, [append for append in checked if isinstance(outcomes[append.index], list)])


def write_after_known_heads(
    connection: sa.Connection, checked: Sequence[CheckedAppend], outcomes: dict[int, Appended]
) -> bool:
    """Append each batch after the head its writer knows (``CheckedAppend.head``), in the
    caller's transaction, without reading the heads first: each run's row moves only if its
    head (seq and hash) and lease holder are as the batch expects, in run id order (as
    ``write_group`` locks them). False if one is not so: the caller rolls back (``outcomes``
    is left as it was). Else ``outcomes`` gets each batch's chained events."""
    chained_by_index: dict[int, Appended] = {}
    events: list[Event] = []
    payloads: list[bytes] = []
    moves: list[tuple[tuple[tuple[str, ...], bool, bool], list[dict[str, Any]]]] = []  # runs in order
    for append in sorted(checked, key=lambda append: append.run_id):
        assert append.head is not None
        known_hash, known_ts = append.head
        chained, changes = chain_after(
            append.run_id, append.expected_seq, known_hash, known_ts, append.events, append.payloads
        )
        chained_by_index[append.index] = chained
        events += chained
        payloads += append.payloads
        last = chained[-1]
        row = {
            "moved_run_id": last.run_id, "head_seq": last.seq, "head_hash": last.hash, "updated_at": last.ts,
            "known_seq": append.expected_seq, "known_hash": known_hash, **changes,
        }  # fmt: skip
        if append.owner is not None:
            row["known_owner"] = append.owner
        ends = append.releases is not None and "owner" not in changes  # released by its move
        shape = (tuple(sorted(changes)), append.owner is not None, ends)
        if moves and moves[-1][0] == shape:
            moves[-1][1].append(row)
        else:
            moves.append((shape, [row]))
    ended: set[str] = set()  # runs whose lease their head's move gave up
    freed: list[str] = []  # their limited flows
    for (_, is_fenced, ends), rows in moves:  # one pipelined UPDATE per run of rows of one shape
        if ends and len(rows) == 1:  # one run's last batch: move and release in one statement
            flow = connection.execute(_END_FENCED_HEAD, rows[0]).first()
            if flow is None:
                return False
            ended.add(rows[0]["moved_run_id"])
            freed += [flow[0]] if flow[0] is not None else []
            continue
        moved = connection.execute(_MOVE_FENCED_HEAD if is_fenced else _MOVE_KNOWN_HEAD, rows)
        if moved.rowcount != len(rows):
            return False
    insert_events(connection, events, payloads)
    index_appended(connection, events)
    if freed:
        announce_freed_slots(connection, freed)
    release_leases(connection, [append for append in checked if append.run_id not in ended])
    outcomes.update(chained_by_index)
    return True


def release_leases(connection: sa.Connection, appended: Sequence[CheckedAppend]) -> None:
    """Give up the leases that the appended batches release (``RunAppend.release``), in the
    caller's transaction (their rows are locked already: no new lock order)."""
    for owner, run_ids in released_by_owner(appended).items():
        for chunk in chunked(sorted(run_ids)):
            leases.release_appended(connection, chunk, owner)


def _locked_heads(connection: sa.Connection, run_ids: Sequence[str]) -> dict[str, Any]:
    """The runs rows of ``run_ids`` (head seq, head hash, last ts, lease holder), locked in
    run id order."""
    heads: dict[str, Any] = {}
    for chunk in chunked(sorted(run_ids)):
        query = (
            sa.select(*_HEAD_COLUMNS)
            .where(_RUNS.c.run_id.in_(chunk))
            .order_by(_RUNS.c.run_id)
            .with_for_update()
        )
        heads.update((row.run_id, row) for row in connection.execute(query))
    return heads
