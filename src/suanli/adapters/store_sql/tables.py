"""Table definitions (SQLAlchemy Core). The schema is created only by Alembic migrations
(`migrations/versions`); a test checks that the migrations produce exactly these tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use clock.now()")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)  # type: ignore[no-any-return]
        return value.astimezone(UTC)  # type: ignore[no-any-return]


metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = 64

regions = Table(
    "regions",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("latitude", Float),
    Column("longitude", Float),
    Column("energy_price", Float),
    Column("carbon_intensity", Float),
)

providers = Table(
    "providers",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("name", String(200), nullable=False),
)

clusters = Table(
    "clusters",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("provider_id", String(ID), ForeignKey("providers.id"), nullable=False),
    Column("region_id", String(ID), ForeignKey("regions.id"), nullable=False),
    Column("engine", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("registered_at", UTCDateTime(), nullable=False),
    Column("last_heartbeat_at", UTCDateTime()),
    Column("agent_version", String(64), nullable=False, default=""),
    Column("calibration_requested", Boolean, nullable=False, default=False),
    Column("gpu_hour_price_e4", BigInteger),
    Column("capabilities", JSON),
)

cluster_outages = Table(
    "cluster_outages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cluster_id", String(ID), ForeignKey("clusters.id"), nullable=False),
    Column("began_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime()),
    # reliability reads the outages that overlap a recent window
    Index(None, "cluster_id", "began_at"),
)

nodes = Table(
    "nodes",
    metadata,
    Column("cluster_id", String(ID), ForeignKey("clusters.id"), primary_key=True),
    Column("id", String(ID), primary_key=True),
    Column("hostname", String(255), nullable=False, default=""),
    Column("cpu_milli", Integer, nullable=False),
    Column("memory_mb", BigInteger, nullable=False),
    Column("gpus", JSON, nullable=False),
    Column("gpu_memory_mb", Integer, nullable=False, default=0),
    Column("calibration", JSON),
)

tenants = Table(
    "tenants",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("weight", Float, nullable=False, default=1.0, server_default="1"),
    Column("cohort", String(ID)),
    Column("sector", String(32), nullable=False, default="other", server_default="other"),
    Column("contact", String(200), nullable=False, default="", server_default=""),
    Column("created_at", UTCDateTime()),
    Column("size", String(16), nullable=False, default="unknown", server_default="unknown"),
)

users = Table(
    "users",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("role", String(16), nullable=False),
    Column("tenant_id", String(ID), ForeignKey("tenants.id")),
    Column("provider_id", String(ID), ForeignKey("providers.id")),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("disabled_at", UTCDateTime()),
)

quotas = Table(
    "quotas",
    metadata,
    Column("tenant_id", String(ID), ForeignKey("tenants.id"), primary_key=True),
    Column("flavor", String(96), primary_key=True),
    Column("nominal", BigInteger, nullable=False),
    Column("borrowing_limit", BigInteger),
    Column("lending_limit", BigInteger),
)

tokens = Table(
    "tokens",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("tenant_id", String(ID), ForeignKey("tenants.id")),
    Column("user_id", String(ID), nullable=False),
    Column("role", String(16), nullable=False),
    Column("cluster_id", String(ID), ForeignKey("clusters.id")),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("revoked_at", UTCDateTime()),
    Column("provider_id", String(ID), ForeignKey("providers.id")),
    Column("name", String(200), nullable=False, default="", server_default=""),
    Column("expires_at", UTCDateTime()),
    Column("last_used_at", UTCDateTime()),
    Index(None, "user_id"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("actor", String(ID), nullable=False),
    Column("actor_role", String(16), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(200), nullable=False),
    Column("tenant_id", String(ID)),
    Column("provider_id", String(ID)),
    Column("detail", JSON, nullable=False),
    Index(None, "at"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("tenant_id", String(ID), primary_key=True),
    Column("key", String(200), primary_key=True),
    Column("request_hash", String(64), nullable=False),
    Column("job_id", String(ID), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Index(None, "created_at"),
)

jobs = Table(
    "jobs",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("id", String(ID), nullable=False, unique=True),
    Column("tenant_id", String(ID), ForeignKey("tenants.id"), nullable=False),
    Column("user_id", String(ID), nullable=False),
    Column("name", String(200), nullable=False, default=""),
    Column("spec", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(1000), nullable=False, default=""),
    Column("attempt", Integer, nullable=False, default=0),
    Column("cluster_id", String(ID), ForeignKey("clusters.id")),
    Column("node_id", String(ID)),
    Column("allocation", JSON),
    Column("submitted_at", UTCDateTime(), nullable=False),
    Column("started_at", UTCDateTime()),
    Column("ended_at", UTCDateTime()),
    Column("exit_code", Integer),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("updated_at", UTCDateTime()),
    Column("placements", JSON),
    Column("preempt_requested", Boolean, nullable=False, default=False, server_default="0"),
    Column("array_id", String(ID)),
    Index(None, "status", "seq"),
    Index(None, "array_id"),
    Index(None, "tenant_id", "seq"),
    Index(None, "cluster_id", "status"),
)

attempts = Table(
    "attempts",
    metadata,
    Column("job_id", String(ID), ForeignKey("jobs.id"), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("cluster_id", String(ID), ForeignKey("clusters.id"), nullable=False),
    Column("node_id", String(ID), nullable=False),
    Column("region_id", String(ID), nullable=False),
    Column("allocation", JSON, nullable=False),
    Column("status", String(16), nullable=False),
    Column("scheduled_at", UTCDateTime(), nullable=False),
    Column("dispatched_at", UTCDateTime()),
    Column("engine_job_id", String(255)),
    Column("started_at", UTCDateTime()),
    Column("ended_at", UTCDateTime()),
    Column("exit_code", Integer),
    Column("reason", String(1000), nullable=False, default=""),
    Column("placements", JSON),
    Column("cpu_s", Float),
    Index(None, "cluster_id", "status"),
    Index(None, "scheduled_at"),
)

job_events = Table(
    "job_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(ID), ForeignKey("jobs.id"), nullable=False, index=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("from_status", String(16)),
    Column("to_status", String(16), nullable=False),
    Column("reason", String(1000), nullable=False, default=""),
    Column("attempt", Integer, nullable=False, default=0),
)

usage_records = Table(
    "usage_records",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(ID), ForeignKey("jobs.id"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("tenant_id", String(ID), nullable=False),
    Column("provider_id", String(ID), nullable=False),
    Column("region_id", String(ID), nullable=False),
    Column("cluster_id", String(ID), nullable=False),
    Column("node_id", String(ID), nullable=False),
    Column("sector", String(16), nullable=False),
    Column("workload_class", String(8), nullable=False),
    Column("dimension", String(64), nullable=False),
    Column("quantity", Float, nullable=False),
    Column("started_at", UTCDateTime(), nullable=False),
    Column("ended_at", UTCDateTime(), nullable=False),
    Column("day", String(10), nullable=False),  # UTC 'YYYY-MM-DD' of the record
    Column("milliseconds", BigInteger, nullable=False, server_default="0"),
    Column("rating_pflops", Float),
    Column("standard_units", Float),
    # One record per attempt, dimension and UTC day: the same millisecond is never metered
    # twice, and daily totals need no splitting at query time.
    UniqueConstraint("job_id", "attempt", "dimension", "started_at"),
    Index(None, "tenant_id", "started_at"),
    # Covers the city's daily report (tenant x day): the database streams the groups off
    # this index instead of sorting every record (bench/usage.py).
    Index(
        "ix_usage_records_tenant_day_cover",
        "tenant_id",
        "day",
        "workload_class",
        "dimension",
        "job_id",
        "quantity",
        "milliseconds",
        "standard_units",
        "rating_pflops",
    ),
)

log_chunks = Table(
    "log_chunks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(ID), ForeignKey("jobs.id"), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("stream", String(8), nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    UniqueConstraint("job_id", "attempt", "stream", "offset"),
)

# --- the exchange and the ledger (migration 0006) ---------------------------------------
# Money is integer fen (`*_fen`), rates integer 1/10,000 CNY (`*_e4`), quantities integer
# millionths (`*_u`): exact on every backend, where SQLite would store a Numeric as a float.

offers = Table(
    "offers",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("provider_id", String(ID), ForeignKey("providers.id"), nullable=False),
    Column("cluster_id", String(ID), ForeignKey("clusters.id"), nullable=False),
    Column("model", String(64)),
    Column("region_id", String(ID), nullable=False),
    Column("start", UTCDateTime(), nullable=False),
    Column("hours", Integer, nullable=False),
    Column("lane", String(16), nullable=False),
    Column("devices", Integer, nullable=False),
    Column("reserve_e4", BigInteger, nullable=False),
    Column("posted_at", UTCDateTime(), nullable=False),
    Column("posted_by", String(ID)),
    Column("status", String(16), nullable=False),
    Column("sold_u", BigInteger, nullable=False, default=0),
    Column("resale_of", String(ID)),
    Column("seller_tenant", String(ID), ForeignKey("tenants.id")),
    Index(None, "status", "start"),
)

bids = Table(
    "bids",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("tenant_id", String(ID), ForeignKey("tenants.id"), nullable=False),
    Column("user_id", String(ID)),
    Column("unit", String(48), nullable=False),
    Column("quantity_u", BigInteger, nullable=False),
    Column("limit_e4", BigInteger, nullable=False),
    Column("products", JSON, nullable=False),
    Column("posted_at", UTCDateTime(), nullable=False),
    Column("status", String(16), nullable=False),
    Column("filled_u", BigInteger, nullable=False, default=0),
    Column("held_fen", BigInteger, nullable=False, default=0),
    Index(None, "status"),
    Index(None, "tenant_id"),
)

clearings = Table(
    "clearings",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("bids", Integer, nullable=False),
    Column("offers", Integer, nullable=False),
    Column("trades", Integer, nullable=False),
    Column("welfare_fen", BigInteger, nullable=False),
    Column("prices", JSON, nullable=False),
    Column("reduced", JSON, nullable=False),
    Index(None, "at"),
)

trades = Table(
    "trades",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("clearing_id", String(ID), ForeignKey("clearings.id"), nullable=False),
    Column("bid_id", String(ID), ForeignKey("bids.id"), nullable=False),
    Column("offer_id", String(ID), ForeignKey("offers.id"), nullable=False),
    Column("tenant_id", String(ID), ForeignKey("tenants.id"), nullable=False),
    Column("provider_id", String(ID), nullable=False),
    Column("cluster_id", String(ID), nullable=False),
    Column("model", String(64)),
    Column("region_id", String(ID), nullable=False),
    Column("start", UTCDateTime(), nullable=False),
    Column("hours", Integer, nullable=False),
    Column("lane", String(16), nullable=False),
    Column("device_hours_u", BigInteger, nullable=False),
    Column("units_u", BigInteger, nullable=False),
    Column("price_e4", BigInteger, nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("seller_tenant", String(ID)),
    Column("failed_at", UTCDateTime()),
    Column("settled", Boolean, nullable=False, default=False),
    Index(None, "tenant_id", "start"),
    Index(None, "cluster_id", "start"),
    Index(None, "settled"),
)

posted_prices = Table(
    "posted_prices",
    metadata,
    Column("cluster_id", String(ID), ForeignKey("clusters.id"), primary_key=True),
    Column("resource", String(48), primary_key=True),
    Column("lane", String(16), primary_key=True),
    Column("price_e4", BigInteger, nullable=False),
    Column("floor_e4", BigInteger, nullable=False),
    Column("utilisation", Float, nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
)

ledger_postings = Table(
    "ledger_postings",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("key", String(200), nullable=False, unique=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("memo", String(500), nullable=False),
    Column("tenant_id", String(ID)),
    Column("refs", JSON, nullable=False),
)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("posting_seq", Integer, ForeignKey("ledger_postings.seq"), nullable=False),
    Column("account", String(160), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Index(None, "account", "at"),
    Index(None, "posting_seq"),
)

credit_lines = Table(
    # one row per tenant that has ever held money: its credit line, and the row locked
    # (SELECT ... FOR UPDATE) while its balance is checked and changed
    "credit_lines",
    metadata,
    Column("tenant_id", String(ID), ForeignKey("tenants.id"), primary_key=True),
    Column("credit_fen", BigInteger, nullable=False, default=0),
    Column("updated_at", UTCDateTime(), nullable=False),
)

job_holds = Table(
    "job_holds",
    metadata,
    Column("job_id", String(ID), ForeignKey("jobs.id"), primary_key=True),
    Column("attempt", Integer, primary_key=True),
    Column("tenant_id", String(ID), nullable=False),
    Column("provider_id", String(ID), nullable=False),
    Column("resource", String(48), nullable=False),
    Column("lane", String(16), nullable=False),
    Column("rate_e4", BigInteger, nullable=False),
    Column("hold_fen", BigInteger, nullable=False),
    Column("trade_id", String(ID)),
    Column("window_start", UTCDateTime()),
    Column("window_end", UTCDateTime()),
    Column("at", UTCDateTime(), nullable=False),
    Column("settled", Boolean, nullable=False, default=False),
)

vouchers = Table(
    "vouchers",
    metadata,
    Column("id", String(ID), primary_key=True),
    Column("tenant_id", String(ID), ForeignKey("tenants.id"), nullable=False),
    Column("share_e4", Integer, nullable=False),
    Column("cap_invoice_fen", BigInteger, nullable=False),
    Column("cap_year_fen", BigInteger, nullable=False),
    Column("issued_at", UTCDateTime(), nullable=False),
    Column("expires_at", UTCDateTime(), nullable=False),
    Column("providers", JSON, nullable=False),
    Column("issued_by", String(ID)),
    Column("note", String(500), nullable=False, default=""),
    Column("revoked_at", UTCDateTime()),
    Index(None, "tenant_id"),
)

voucher_uses = Table(
    "voucher_uses",
    metadata,
    Column("invoice", String(200), primary_key=True),
    Column("voucher_id", String(ID), ForeignKey("vouchers.id"), nullable=False),
    Column("tenant_id", String(ID), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("year", Integer, nullable=False),
    Index(None, "voucher_id", "year"),
)

# Samples of the pool and the queue for the dashboard's charts (domain/history.py): raw
# rows (resolution 0, one sample each) and 10-minute rollups (sums and a count). Times
# are Unix seconds so that buckets are integer division in SQLite and PostgreSQL alike.
pool_samples = Table(
    "pool_samples",
    metadata,
    Column("resolution_s", Integer, primary_key=True),
    Column("at_s", BigInteger, primary_key=True),
    Column("region_id", String(ID), primary_key=True),
    Column("resource", String(80), primary_key=True),
    Column("total", Float, nullable=False),
    Column("used", Float, nullable=False),
    Column("samples", Integer, nullable=False),
)

queue_samples = Table(
    "queue_samples",
    metadata,
    Column("resolution_s", Integer, primary_key=True),
    Column("at_s", BigInteger, primary_key=True),
    Column("pending", BigInteger, nullable=False),
    Column("running", BigInteger, nullable=False),
    Column("samples", Integer, nullable=False),
)
