"""Names in Text columns: flow names, result refs (which hold task keys), owners, worker
and host names, logger names, cron expressions and fire-time parameters had VARCHAR
limits that PostgreSQL enforced and SQLite ignored. Only PostgreSQL is altered (from
varchar to text needs no table rewrite); SQLite gives both the same TEXT affinity.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-09
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = {
    ("runs", "flow"): 255,
    ("runs", "owner"): 255,
    ("archived_runs", "flow"): 255,
    ("results", "ref"): 128,
    ("task_logs", "logger"): 255,
    ("workers", "name"): 255,
    ("workers", "host"): 255,
    ("concurrency_slots", "owner"): 255,
    ("concurrency_waiting", "owner"): 255,
    ("cancel_requests", "requested_by"): 255,
    ("schedules", "cron"): 255,
    ("schedules", "fire_time_param"): 255,
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for (table, column), length in COLUMNS.items():
        op.alter_column(table, column, type_=sa.Text, existing_type=sa.String(length))


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for (table, column), length in COLUMNS.items():
        op.alter_column(table, column, type_=sa.String(length), existing_type=sa.Text)
