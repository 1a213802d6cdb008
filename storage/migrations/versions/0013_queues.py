"""Queues, priorities and flow run limits: the runs read model keeps the queue, priority and
``max_concurrent_runs`` that ``run.created`` records, indexed for claims (and listings by
queue); a schedule may name the queue and priority of its runs.

Runs recorded before hold none of them: they read as queue ``default``, priority 0 and no
limit, which the column defaults give them (a rebuild from the events gives the same).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as runs:
        runs.add_column(sa.Column("queue", sa.String(255), nullable=False, server_default="default"))
        runs.add_column(sa.Column("priority", sa.Integer, nullable=False, server_default="0"))
        runs.add_column(sa.Column("max_concurrent_runs", sa.Integer, nullable=True))
    op.create_index(
        "ix_runs_claim_order", "runs",
        ["state", "queue", sa.text("priority DESC"), "created_at", "run_id"],
    )  # fmt: skip
    op.create_index("ix_runs_flow_state_lease_expires_at", "runs", ["flow", "state", "lease_expires_at"])
    op.create_index("ix_runs_queue_created_at_run_id", "runs", ["queue", "created_at", "run_id"])
    with op.batch_alter_table("schedules") as schedules:
        schedules.add_column(sa.Column("queue", sa.String(255), nullable=True))
        schedules.add_column(sa.Column("priority", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("schedules") as schedules:
        schedules.drop_column("priority")
        schedules.drop_column("queue")
    op.drop_index("ix_runs_queue_created_at_run_id", "runs")
    op.drop_index("ix_runs_flow_state_lease_expires_at", "runs")
    op.drop_index("ix_runs_claim_order", "runs")
    with op.batch_alter_table("runs") as runs:
        runs.drop_column("max_concurrent_runs")
        runs.drop_column("priority")
        runs.drop_column("queue")
