"""Global concurrency limits by tag: the limits, the slots held and the tasks waiting.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

These tables are live coordination state, not read models: nothing to backfill.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledgerflow.storage.schema import UTCDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "concurrency_limits",
        sa.Column("tag", sa.String(255), nullable=False),
        sa.Column("limit", sa.Integer, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("tag", name="pk_concurrency_limits"),
    )
    op.create_table(
        "concurrency_slots",
        sa.Column("tag", sa.String(255), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("task_key", sa.Text, nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("acquired_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("tag", "run_id", "task_key", name="pk_concurrency_slots"),
    )
    op.create_index("ix_concurrency_slots_run_id", "concurrency_slots", ["run_id"])
    op.create_table(
        "concurrency_waiting",
        sa.Column("tag", sa.String(255), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("task_key", sa.Text, nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("since", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("tag", "run_id", "task_key", name="pk_concurrency_waiting"),
    )
    op.create_index("ix_concurrency_waiting_run_id", "concurrency_waiting", ["run_id"])


def downgrade() -> None:
    op.drop_table("concurrency_waiting")
    op.drop_table("concurrency_slots")
    op.drop_table("concurrency_limits")
