"""Job arrays: `jobs.array_id`, the array a job is a task of (NULL: none), indexed so
that a dependency on an array and `suanli jobs --array` find its tasks. The array's
index, throttle and a job's dependencies live in its spec (JSON).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("array_id", sa.String(64), nullable=True))
    op.create_index("ix_jobs_array_id", "jobs", ["array_id"])


def downgrade() -> None:
    op.drop_index("ix_jobs_array_id", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("array_id")
