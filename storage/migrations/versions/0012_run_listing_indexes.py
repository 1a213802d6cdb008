"""Indexes that keep every listing of runs and every count a bounded read, however many runs
the database holds: the listing's order with its tie-break (created_at, run_id: pages start
after a run), by flow, by state (listings and counts per state), and archived runs newest
first.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-12
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_runs_created_at", "runs")
    op.drop_index("ix_runs_flow_created_at", "runs")
    op.create_index("ix_runs_created_at_run_id", "runs", ["created_at", "run_id"])
    op.create_index("ix_runs_flow_created_at_run_id", "runs", ["flow", "created_at", "run_id"])
    op.create_index("ix_runs_state_created_at", "runs", ["state", "created_at"])
    op.create_index("ix_archived_runs_created_at_run_id", "archived_runs", ["created_at", "run_id"])


def downgrade() -> None:
    op.drop_index("ix_archived_runs_created_at_run_id", "archived_runs")
    op.drop_index("ix_runs_state_created_at", "runs")
    op.drop_index("ix_runs_flow_created_at_run_id", "runs")
    op.drop_index("ix_runs_created_at_run_id", "runs")
    op.create_index("ix_runs_flow_created_at", "runs", ["flow", "created_at"])
    op.create_index("ix_runs_created_at", "runs", ["created_at"])
