"""The exchange and the ledger: offers, bids, clearings, trades, posted prices; the
double-entry ledger (postings, entries), credit lines, job escrow holds; vouchers and
their uses; tenants' size.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ID = 64


def upgrade() -> None:
    with op.batch_alter_table("tenants") as batch:
        batch.add_column(
            sa.Column("size", sa.String(length=16), server_default="unknown", nullable=False)
        )
    op.create_table(
        "offers",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("provider_id", sa.String(ID), sa.ForeignKey("providers.id"), nullable=False),
        sa.Column("cluster_id", sa.String(ID), sa.ForeignKey("clusters.id"), nullable=False),
        sa.Column("model", sa.String(64)),
        sa.Column("region_id", sa.String(ID), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hours", sa.Integer, nullable=False),
        sa.Column("lane", sa.String(16), nullable=False),
        sa.Column("devices", sa.Integer, nullable=False),
        sa.Column("reserve_e4", sa.BigInteger, nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("posted_by", sa.String(ID)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("sold_u", sa.BigInteger, nullable=False),
        sa.Column("resale_of", sa.String(ID)),
        sa.Column("seller_tenant", sa.String(ID), sa.ForeignKey("tenants.id")),
    )
    op.create_index(op.f("ix_offers_status_start"), "offers", ["status", "start"])
    op.create_table(
        "bids",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("tenant_id", sa.String(ID), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("user_id", sa.String(ID)),
        sa.Column("unit", sa.String(48), nullable=False),
        sa.Column("quantity_u", sa.BigInteger, nullable=False),
        sa.Column("limit_e4", sa.BigInteger, nullable=False),
        sa.Column("products", sa.JSON, nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("filled_u", sa.BigInteger, nullable=False),
        sa.Column("held_fen", sa.BigInteger, nullable=False),
    )
    op.create_index(op.f("ix_bids_status"), "bids", ["status"])
    op.create_index(op.f("ix_bids_tenant_id"), "bids", ["tenant_id"])
    op.create_table(
        "clearings",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("bids", sa.Integer, nullable=False),
        sa.Column("offers", sa.Integer, nullable=False),
        sa.Column("trades", sa.Integer, nullable=False),
        sa.Column("welfare_fen", sa.BigInteger, nullable=False),
        sa.Column("prices", sa.JSON, nullable=False),
        sa.Column("reduced", sa.JSON, nullable=False),
    )
    op.create_index(op.f("ix_clearings_at"), "clearings", ["at"])
    op.create_table(
        "trades",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("clearing_id", sa.String(ID), sa.ForeignKey("clearings.id"), nullable=False),
        sa.Column("bid_id", sa.String(ID), sa.ForeignKey("bids.id"), nullable=False),
        sa.Column("offer_id", sa.String(ID), sa.ForeignKey("offers.id"), nullable=False),
        sa.Column("tenant_id", sa.String(ID), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("provider_id", sa.String(ID), nullable=False),
        sa.Column("cluster_id", sa.String(ID), nullable=False),
        sa.Column("model", sa.String(64)),
        sa.Column("region_id", sa.String(ID), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hours", sa.Integer, nullable=False),
        sa.Column("lane", sa.String(16), nullable=False),
        sa.Column("device_hours_u", sa.BigInteger, nullable=False),
        sa.Column("units_u", sa.BigInteger, nullable=False),
        sa.Column("price_e4", sa.BigInteger, nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seller_tenant", sa.String(ID)),
        sa.Column("failed_at", sa.DateTime(timezone=True)),
        sa.Column("settled", sa.Boolean, nullable=False),
    )
    op.create_index(op.f("ix_trades_tenant_id_start"), "trades", ["tenant_id", "start"])
    op.create_index(op.f("ix_trades_cluster_id_start"), "trades", ["cluster_id", "start"])
    op.create_index(op.f("ix_trades_settled"), "trades", ["settled"])
    op.create_table(
        "posted_prices",
        sa.Column("cluster_id", sa.String(ID), sa.ForeignKey("clusters.id"), primary_key=True),
        sa.Column("resource", sa.String(48), primary_key=True),
        sa.Column("lane", sa.String(16), primary_key=True),
        sa.Column("price_e4", sa.BigInteger, nullable=False),
        sa.Column("floor_e4", sa.BigInteger, nullable=False),
        sa.Column("utilisation", sa.Float, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "ledger_postings",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("memo", sa.String(500), nullable=False),
        sa.Column("tenant_id", sa.String(ID)),
        sa.Column("refs", sa.JSON, nullable=False),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("posting_seq", sa.Integer, sa.ForeignKey("ledger_postings.seq"), nullable=False),
        sa.Column("account", sa.String(160), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(op.f("ix_ledger_entries_account_at"), "ledger_entries", ["account", "at"])
    op.create_index(op.f("ix_ledger_entries_posting_seq"), "ledger_entries", ["posting_seq"])
    op.create_table(
        "credit_lines",
        sa.Column("tenant_id", sa.String(ID), sa.ForeignKey("tenants.id"), primary_key=True),
        sa.Column("credit_fen", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "job_holds",
        sa.Column("job_id", sa.String(ID), sa.ForeignKey("jobs.id"), primary_key=True),
        sa.Column("attempt", sa.Integer, primary_key=True),
        sa.Column("tenant_id", sa.String(ID), nullable=False),
        sa.Column("provider_id", sa.String(ID), nullable=False),
        sa.Column("resource", sa.String(48), nullable=False),
        sa.Column("lane", sa.String(16), nullable=False),
        sa.Column("rate_e4", sa.BigInteger, nullable=False),
        sa.Column("hold_fen", sa.BigInteger, nullable=False),
        sa.Column("trade_id", sa.String(ID)),
        sa.Column("window_start", sa.DateTime(timezone=True)),
        sa.Column("window_end", sa.DateTime(timezone=True)),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("settled", sa.Boolean, nullable=False),
    )
    op.create_table(
        "vouchers",
        sa.Column("id", sa.String(ID), primary_key=True),
        sa.Column("tenant_id", sa.String(ID), sa.ForeignKey("tenants.id"), nullable=False),
        sa.Column("share_e4", sa.Integer, nullable=False),
        sa.Column("cap_invoice_fen", sa.BigInteger, nullable=False),
        sa.Column("cap_year_fen", sa.BigInteger, nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("providers", sa.JSON, nullable=False),
        sa.Column("issued_by", sa.String(ID)),
        sa.Column("note", sa.String(500), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
    )
    op.create_index(op.f("ix_vouchers_tenant_id"), "vouchers", ["tenant_id"])
    op.create_table(
        "voucher_uses",
        sa.Column("invoice", sa.String(200), primary_key=True),
        sa.Column("voucher_id", sa.String(ID), sa.ForeignKey("vouchers.id"), nullable=False),
        sa.Column("tenant_id", sa.String(ID), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("year", sa.Integer, nullable=False),
    )
    op.create_index(op.f("ix_voucher_uses_voucher_id_year"), "voucher_uses", ["voucher_id", "year"])


def downgrade() -> None:
    for table in (
        "voucher_uses",
        "vouchers",
        "job_holds",
        "credit_lines",
        "ledger_entries",
        "ledger_postings",
        "posted_prices",
        "trades",
        "clearings",
        "bids",
        "offers",
    ):
        op.drop_table(table)
    with op.batch_alter_table("tenants") as batch:
        batch.drop_column("size")
