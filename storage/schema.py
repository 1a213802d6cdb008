"""Every table, in one SQLAlchemy Core ``MetaData`` (Alembic migrations create them).

``runs`` and ``cache_entries`` are read models of ``events``: updated in the append's
transaction and rebuildable from the events alone (``rebuild_read_model``).
``concurrency_*`` are not: they hold the limits by tag and the slots drivers hold now
(see ``storage.limits``).

Names are Text; the few still VARCHAR (tags, schedule names, cache keys) are checked
against that length before they are written, so SQLite and PostgreSQL accept the same.
"""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database (SQLite stores naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive timestamp {value!r}: ledgerflow stores UTC-aware times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

events = Table(
    "events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("task_key", Text, nullable=True),
    Column("type", String(64), nullable=False),
    Column("payload", Text, nullable=False),  # canonical JSON text, hashed verbatim
    Column("ts", UTCDateTime, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("run_id", "seq"),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("flow", Text, nullable=False),
    Column("state", String(32), nullable=False),
    Column("head_seq", Integer, nullable=False),
    Column("head_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("owner", Text, nullable=True),
    Column("lease_expires_at", UTCDateTime, nullable=True),
    # as run.created recorded them (see storage.run_slots); old logs: "default", 0, none
    Column("queue", String(255), nullable=False, server_default="default"),
    Column("priority", Integer, nullable=False, server_default="0"),
    Column("max_concurrent_runs", Integer, nullable=True),
    # Every listing and count reads a bounded range of one of these (storage.run_pages).
    Index(None, "created_at", "run_id"),  # the listing's order, and where a page starts
    Index(None, "state", "updated_at"),  # filters of `runs` and the archive's selection
    Index(None, "state", "created_at"),  # listings and counts by state
    Index(None, "flow", "created_at", "run_id"),
    Index(None, "queue", "created_at", "run_id"),  # listings by queue
    Index(None, "flow", "state", "lease_expires_at"),  # the slots a flow's runs hold
)
# Claims: a queue's runs in a state, in claim order (higher priority first, then older).
CLAIM_INDEX = Index(
    "ix_runs_claim_order",
    runs.c.state,
    runs.c.queue,
    runs.c.priority.desc(),
    runs.c.created_at,
    runs.c.run_id,
)

results = Table(
    "results",
    metadata,
    Column("ref", Text, primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("task_key", Text, nullable=False),
    Column("format", String(16), nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("signature", String(64), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index(None, "run_id"),
)

cache_entries = Table(
    "cache_entries",
    metadata,
    Column("cache_key", String(512), primary_key=True),
    Column("run_id", String(64), nullable=False),
    Column("task_key", Text, nullable=False),
    Column("result", Text, nullable=False),  # canonical JSON of the task.succeeded result payload
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=True),
)

workers = Table(
    "workers",
    metadata,
    Column("name", Text, primary_key=True),
    Column("host", Text, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("heartbeat_at", UTCDateTime, nullable=False),
    Column("runs_driven", Integer, nullable=False),
    Column("state", String(16), nullable=False),  # "running" or "stopped"
    # Capacity and load (null: registered by a version that did not record them).
    Column("max_runs", Integer, nullable=True),
    Column("queues", JSON().with_variant(JSONB(), "postgresql"), nullable=True),  # a list of names
    Column("in_flight", Integer, nullable=False, server_default="0"),  # runs driven at the last beat
)

concurrency_limits = Table(
    "concurrency_limits",
    metadata,
    Column("tag", String(255), primary_key=True),
    Column("limit", Integer, nullable=False),  # 0 pauses the tag
    Column("updated_at", UTCDateTime, nullable=False),
)

concurrency_slots = Table(
    "concurrency_slots",
    metadata,
    Column("tag", String(255), primary_key=True),
    Column("run_id", String(64), primary_key=True),
    Column("task_key", Text, primary_key=True),
    Column("owner", Text, nullable=False),  # the driver; the slot lives as its lease
    Column("acquired_at", UTCDateTime, nullable=False),
    Index(None, "run_id"),
)

concurrency_waiting = Table(
    "concurrency_waiting",
    metadata,
    Column("tag", String(255), primary_key=True),
    Column("run_id", String(64), primary_key=True),
    Column("task_key", Text, primary_key=True),
    Column("owner", Text, nullable=False),
    Column("since", UTCDateTime, nullable=False),
    Index(None, "run_id"),
)

# Operational output of task attempts (prints, log records): not part of the audit log,
# not hash-chained, never referenced by events.
task_logs = Table(
    "task_logs",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("run_id", String(64), nullable=False),
    Column("task_key", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("seq_in_attempt", Integer, nullable=False),
    Column("ts", UTCDateTime, nullable=False),
    Column("stream", String(16), nullable=False),
    Column("level", String(16), nullable=True),
    Column("logger", Text, nullable=True),
    Column("message", Text, nullable=False),
    Index(None, "run_id", "task_key"),
)

# Schedules (see storage.schedules): what to run when, and each fire time claimed once.
schedules = Table(
    "schedules",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("flow_ref", Text, nullable=False),
    Column("parameters", JSON().with_variant(JSONB(), "postgresql"), nullable=False),
    Column("cron", Text, nullable=True),  # exactly one of cron and interval_seconds
    Column("interval_seconds", Integer, nullable=True),
    Column("tz", String(64), nullable=False),
    Column("fire_time_param", Text, nullable=True),
    Column("catchup", String(32), nullable=False),  # skip, latest or backfill:N
    Column("paused", Boolean, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("considered_until", UTCDateTime, nullable=False),
    Column("last_error", Text, nullable=True),
    Column("queue", String(255), nullable=True),  # null: the flow's own
    Column("priority", Integer, nullable=True),
)

schedule_fires = Table(
    "schedule_fires",
    metadata,
    Column("schedule", String(255), primary_key=True),
    Column("fire_time", UTCDateTime, primary_key=True),  # the key: one fire per time, ever
    Column("run_id", String(64), nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
    Column("run_created_at", UTCDateTime, nullable=True),  # null: the run is still to be created
    Index(None, "run_created_at"),
)

# Cancel requests (see storage.cancel_requests): written by any process, polled by the run's
# driver, which records them as events; not part of the audit log themselves.
cancel_requests = Table(
    "cancel_requests",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("requested_by", Text, nullable=False),
    Column("reason", Text, nullable=True),
)

# Tombstones of archived runs (see storage.archive): the run's events, results and logs
# moved to an export file; its head and the file's hash stay, to verify the file later.
archived_runs = Table(
    "archived_runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("flow", Text, nullable=False),
    Column("state", String(32), nullable=False),
    Column("head_seq", Integer, nullable=False),
    Column("head_hash", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("file_name", Text, nullable=False),
    Column("file_sha256", String(64), nullable=False),
    Column("archived_at", UTCDateTime, nullable=False),
    Index(None, "created_at", "run_id"),  # listed newest first
)
