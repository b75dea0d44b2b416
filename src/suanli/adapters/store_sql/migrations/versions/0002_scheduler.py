"""Scheduler: quotas and fair-share weights, cohorts, prices, energy, gangs, preemption.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "quotas",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("flavor", sa.String(length=96), nullable=False),
        sa.Column("nominal", sa.BigInteger(), nullable=False),
        sa.Column("borrowing_limit", sa.BigInteger(), nullable=True),
        sa.Column("lending_limit", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_quotas_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("tenant_id", "flavor", name=op.f("pk_quotas")),
    )
    with op.batch_alter_table("regions") as batch_op:
        batch_op.add_column(sa.Column("energy_price", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("carbon_intensity", sa.Float(), nullable=True))
    with op.batch_alter_table("clusters") as batch_op:
        batch_op.add_column(sa.Column("gpu_hour_price", sa.Float(), nullable=True))
    with op.batch_alter_table("tenants") as batch_op:
        batch_op.add_column(sa.Column("weight", sa.Float(), nullable=False, server_default="1"))
        batch_op.add_column(sa.Column("cohort", sa.String(length=64), nullable=True))
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.add_column(sa.Column("placements", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("preempt_requested", sa.Boolean(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("attempts") as batch_op:
        batch_op.add_column(sa.Column("placements", sa.JSON(), nullable=True))
        # reliability scores read the attempts of a recent window
        batch_op.create_index(
            batch_op.f("ix_attempts_scheduled_at"), ["scheduled_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("attempts") as batch_op:
        batch_op.drop_index(batch_op.f("ix_attempts_scheduled_at"))
        batch_op.drop_column("placements")
    with op.batch_alter_table("jobs") as batch_op:
        batch_op.drop_column("preempt_requested")
        batch_op.drop_column("placements")
    with op.batch_alter_table("tenants") as batch_op:
        batch_op.drop_column("cohort")
        batch_op.drop_column("weight")
    with op.batch_alter_table("clusters") as batch_op:
        batch_op.drop_column("gpu_hour_price")
    with op.batch_alter_table("regions") as batch_op:
        batch_op.drop_column("carbon_intensity")
        batch_op.drop_column("energy_price")
    op.drop_table("quotas")
