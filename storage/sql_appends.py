"""The SQL writes of appends: event rows (pipelined INSERTs, or COPY on PostgreSQL for large
batches), and a group commit of many runs' batches in the caller's transaction."""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from ..engine.core.events import Event
from . import schema
from .appends import Appended, CheckedAppend, chain_after, check_head
from .cache_index import index_appended
from .database import chunked
from .errors import AppendConflict, RunNotFound
from .postgres import COPY_THRESHOLD, copy_events

_RUNS = schema.runs
_INSERT_EVENTS = schema.events.insert()  # psycopg 3 runs executemany in pipeline mode
_MOVE_HEAD = _RUNS.update().where(_RUNS.c.run_id == sa.bindparam("moved_run_id"))
_HEAD_COLUMNS = (_RUNS.c.run_id, _RUNS.c.head_seq, _RUNS.c.head_hash, _RUNS.c.updated_at, _RUNS.c.owner)


def insert_events(connection: sa.Connection, chained: Sequence[Event], payloads: Sequence[bytes]) -> None:
    """Write the events' rows in the connection's transaction; a duplicate (run_id, seq)
    raises ``IntegrityError``."""
    if connection.dialect.name == "postgresql" and len(chained) >= COPY_THRESHOLD:
        rows = [
            (e.run_id, e.seq, e.task_key, e.type, p.decode(), e.ts, e.prev_hash, e.hash)
            for e, p in zip(chained, payloads, strict=True)
        ]
        copy_events(connection, rows)
        return
    connection.execute(_INSERT_EVENTS, [_row(event, p) for event, p in zip(chained, payloads, strict=True)])


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


def write_group(connection: sa.Connection, checked: Sequence[CheckedAppend], outcomes: dict[int, Appended]) -> None:
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
            append.run_id, append.expected_seq, head.head_hash, head.updated_at, append.events, append.payloads
        )
        outcomes[append.index] = chained
        events += chained
        payloads += append.payloads
        last = chained[-1]
        row = {"moved_run_id": last.run_id, "head_seq": last.seq, "head_hash": last.hash, "updated_at": last.ts}
        moved.setdefault(tuple(sorted(changes)), []).append({**row, **changes})
    if not events:
        return
    insert_events(connection, events, payloads)
    for rows in moved.values():  # one pipelined UPDATE per set of changed columns
        connection.execute(_MOVE_HEAD, rows)
    index_appended(connection, events)


def _locked_heads(connection: sa.Connection, run_ids: Sequence[str]) -> dict[str, Any]:
    """The runs rows of ``run_ids`` (head seq, head hash, last ts, lease holder), locked in
    run id order."""
    heads = {}
    for chunk in chunked(sorted(run_ids)):
        query = (
            sa.select(*_HEAD_COLUMNS)
            .where(_RUNS.c.run_id.in_(chunk))
            .order_by(_RUNS.c.run_id)
            .with_for_update()
        )
        heads.update((row.run_id, row) for row in connection.execute(query))
    return heads
