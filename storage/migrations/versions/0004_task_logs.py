"""Captured task output (task_logs): what attempts printed and logged, in batches.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledgerflow.storage.schema import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "task_logs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("task_key", sa.Text, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("seq_in_attempt", sa.Integer, nullable=False),
        sa.Column("ts", UTCDateTime, nullable=False),
        sa.Column("stream", sa.String(16), nullable=False),
        sa.Column("level", sa.String(16), nullable=True),
        sa.Column("logger", sa.String(255), nullable=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_task_logs"),
    )
    op.create_index("ix_task_logs_run_id_task_key", "task_logs", ["run_id", "task_key"])


def downgrade() -> None:
    op.drop_index("ix_task_logs_run_id_task_key", table_name="task_logs")
    op.drop_table("task_logs")
