"""Usage metered to the millisecond: `usage_records.milliseconds` replaces `seconds`
(old rows: seconds x 1000), and the covering index of the daily report follows.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

COVER = "ix_usage_records_tenant_day_cover"
COVERED = ["tenant_id", "day", "workload_class", "dimension", "job_id", "quantity"]


def upgrade() -> None:
    op.drop_index(COVER, table_name="usage_records")
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(
            sa.Column("milliseconds", sa.BigInteger(), server_default="0", nullable=False)
        )
    op.execute("UPDATE usage_records SET milliseconds = seconds * 1000")
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("seconds")
    op.create_index(
        COVER, "usage_records", [*COVERED, "milliseconds", "standard_units", "rating_pflops"]
    )


def downgrade() -> None:
    op.drop_index(COVER, table_name="usage_records")
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("seconds", sa.BigInteger(), server_default="0", nullable=False))
    op.execute("UPDATE usage_records SET seconds = milliseconds / 1000")
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("milliseconds")
    op.create_index(
        COVER, "usage_records", [*COVERED, "seconds", "standard_units", "rating_pflops"]
    )
