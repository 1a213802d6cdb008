"""Notify appends: on PostgreSQL, NOTIFY ledgerflow_events with each appended run's id.

A statement-level AFTER INSERT trigger on ``events`` reads the statement's new rows from
its transition table and notifies once per distinct run id (INSERT and COPY alike); the
notifications reach listeners when the append commits. Nothing on SQLite, which has no
notifications: the web UI polls it.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CREATE_FUNCTION = """
CREATE OR REPLACE FUNCTION ledgerflow_notify_appends() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('ledgerflow_events', appended_run.run_id)
        FROM (SELECT DISTINCT run_id FROM appended) AS appended_run;
    RETURN NULL;
END
$$
"""
_CREATE_TRIGGER = (
    "CREATE TRIGGER ledgerflow_events_notify AFTER INSERT ON events "
    "REFERENCING NEW TABLE AS appended "
    "FOR EACH STATEMENT EXECUTE FUNCTION ledgerflow_notify_appends()"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_CREATE_FUNCTION)
    op.execute(_CREATE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER IF EXISTS ledgerflow_events_notify ON events")
    op.execute("DROP FUNCTION IF EXISTS ledgerflow_notify_appends()")
