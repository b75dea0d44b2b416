"""What each cluster's engine can do, as its agent reports at registration
(`clusters.capabilities`, a JSON list; NULL until an agent reports); the CPU seconds an
attempt used, where its engine's accounting measures them (`attempts.cpu_s`).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("clusters") as batch:
        batch.add_column(sa.Column("capabilities", sa.JSON(), nullable=True))
    with op.batch_alter_table("attempts") as batch:
        batch.add_column(sa.Column("cpu_s", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch:
        batch.drop_column("cpu_s")
    with op.batch_alter_table("clusters") as batch:
        batch.drop_column("capabilities")
