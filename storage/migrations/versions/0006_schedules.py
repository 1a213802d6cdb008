"""Schedules (schedules) and the fire times claimed for them (schedule_fires).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from ledgerflow.storage.schema import UTCDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("flow_ref", sa.Text, nullable=False),
        sa.Column("parameters", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=False),
        sa.Column("cron", sa.String(255), nullable=True),
        sa.Column("interval_seconds", sa.Integer, nullable=True),
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("fire_time_param", sa.String(255), nullable=True),
        sa.Column("catchup", sa.String(32), nullable=False),
        sa.Column("paused", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("considered_until", UTCDateTime, nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_schedules"),
    )
    op.create_table(
        "schedule_fires",
        sa.Column("schedule", sa.String(255), nullable=False),
        sa.Column("fire_time", UTCDateTime, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("claimed_at", UTCDateTime, nullable=False),
        sa.Column("run_created_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("schedule", "fire_time", name="pk_schedule_fires"),
    )
    op.create_index("ix_schedule_fires_run_created_at", "schedule_fires", ["run_created_at"])


def downgrade() -> None:
    op.drop_index("ix_schedule_fires_run_created_at", table_name="schedule_fires")
    op.drop_table("schedule_fires")
    op.drop_table("schedules")
