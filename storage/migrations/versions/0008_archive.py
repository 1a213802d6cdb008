"""Retention: tombstones of archived runs (archived_runs), and indexes for filtering runs.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from ledgerflow.storage.schema import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "archived_runs",
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("flow", sa.String(255), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("head_seq", sa.Integer, nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("file_name", sa.Text, nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("archived_at", UTCDateTime, nullable=False),
        sa.PrimaryKeyConstraint("run_id", name="pk_archived_runs"),
    )
    op.create_index("ix_runs_state_updated_at", "runs", ["state", "updated_at"])
    op.create_index("ix_runs_flow_created_at", "runs", ["flow", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_runs_flow_created_at", table_name="runs")
    op.drop_index("ix_runs_state_updated_at", table_name="runs")
    op.drop_table("archived_runs")
