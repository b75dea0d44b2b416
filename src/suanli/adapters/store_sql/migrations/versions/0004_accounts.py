"""Accounts: tenants' sector and contact, users, named expiring tokens bound to a tenant
or a provider, the audit log, and idempotency keys of submissions.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column("sector", sa.String(length=32), server_default="other", nullable=False)
        )
        batch.add_column(
            sa.Column("contact", sa.String(length=200), server_default="", nullable=False)
        )
        batch.add_column(sa.Column("created_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "users",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=True),
        sa.Column("provider_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["provider_id"], ["providers.id"], name=op.f("fk_users_provider_id_providers")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_users_tenant_id_tenants")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
    )
    # SQLite cannot drop NOT NULL in place: batch mode copies the table.
    with op.batch_alter_table("tokens") as batch:
        batch.alter_column("tenant_id", existing_type=sa.String(length=64), nullable=True)
        batch.add_column(sa.Column("provider_id", sa.String(length=64), nullable=True))
        batch.add_column(
            sa.Column("name", sa.String(length=200), server_default="", nullable=False)
        )
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(
            op.f("fk_tokens_provider_id_providers"), "providers", ["provider_id"], ["id"]
        )
        batch.create_index(op.f("ix_tokens_user_id"), ["user_id"], unique=False)
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("actor_role", sa.String(length=16), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=True),
        sa.Column("provider_id", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_events")),
    )
    op.create_index(op.f("ix_audit_events_at"), "audit_events", ["at"], unique=False)
    op.create_table(
        "idempotency_keys",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(
        op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_idempotency_keys_created_at"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_index(op.f("ix_audit_events_at"), table_name="audit_events")
    op.drop_table("audit_events")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_index(op.f("ix_tokens_user_id"))
        batch.drop_constraint(op.f("fk_tokens_provider_id_providers"), type_="foreignkey")
        batch.drop_column("last_used_at")
        batch.drop_column("expires_at")
        batch.drop_column("name")
        batch.drop_column("provider_id")
        batch.alter_column("tenant_id", existing_type=sa.String(length=64), nullable=False)
    op.drop_table("users")
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("created_at")
        batch.drop_column("contact")
        batch.drop_column("sector")
