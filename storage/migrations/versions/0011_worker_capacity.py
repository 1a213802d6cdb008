"""What each worker can take and holds (workers.max_runs, queues, in_flight): its capacity,
the queues it takes runs from and the runs it drove at its last heartbeat. Workers registered
before keep null capacity and queues (not recorded) and 0 runs in flight.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("workers") as table:
        table.add_column(sa.Column("max_runs", sa.Integer, nullable=True))
        table.add_column(sa.Column("queues", sa.JSON().with_variant(JSONB(), "postgresql"), nullable=True))
        table.add_column(sa.Column("in_flight", sa.Integer, nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("workers") as table:
        table.drop_column("in_flight")
        table.drop_column("queues")
        table.drop_column("max_runs")
