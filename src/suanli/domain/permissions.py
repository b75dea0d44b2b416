"""Which role may do what. One table; every API route declares the permission it needs
(`suanli.api.access`) and the services check it again.

Whose objects: tenant isolation (a consumer sees only its own tenant's jobs, usage and
settings) is enforced in the services by scoping queries to `Principal.tenant_id` unless the
role has `SEE_ALL_TENANTS`; a provider admin's cluster writes are scoped to
`Principal.provider_id` unless the role has `ALL_PROVIDERS`.
"""

from __future__ import annotations

from enum import StrEnum

from suanli.domain.errors import Forbidden
from suanli.domain.tenancy import Principal, Role


class Permission(StrEnum):
    POOL_READ = "pool:read"
    POOL_WRITE = "pool:write"
    """Add regions and providers (the pool's structure)."""
    CLUSTER_WRITE = "cluster:write"
    """Register clusters and ask for their recalibration (a provider admin: its own)."""
    JOB_SUBMIT = "job:submit"
    JOB_READ = "job:read"
    JOB_CANCEL = "job:cancel"
    JOB_LOGS = "job:logs"
    """Read a job's output (it may hold the tenant's data: auditors do not get it)."""
    USAGE_READ = "usage:read"
    AGENT = "agent"
    SEE_ALL_TENANTS = "tenants:all"
    QUOTA_READ = "quota:read"
    """See tenants' fair-share weights, cohorts and quotas (scoped to the caller's own
    tenant unless the role also has SEE_ALL_TENANTS)."""
    QUOTA_WRITE = "quota:write"
    """Set tenants' weights, cohorts and quotas."""
    REGION_WRITE = "region:write"
    """Change a region's settings: energy price and carbon intensity (green placement)."""
    PRICE_WRITE = "price:write"
    """Post a cluster's GPU-hour price (a provider admin: its own clusters')."""
    ALL_PROVIDERS = "providers:all"
    """Act on every provider's clusters, not only one's own."""
    ACCOUNTS_READ = "accounts:read"
    """List tenants' accounts and users (scoped to one's own tenant without SEE_ALL_TENANTS)."""
    ACCOUNTS_WRITE = "accounts:write"
    """Add tenants and users, disable users."""
    TOKENS_OWN = "tokens:own"
    """Create, list and revoke one's own tokens."""
    TOKENS_ALL = "tokens:all"
    """Create, list and revoke any user's tokens."""
    AUDIT_READ = "audit:read"
    """Read the audit log of security-relevant actions."""
    MARKET_READ = "market:read"
    """See the exchange's book (offers; bids only in aggregate), clearing prices, posted
    prices and trades (one's own tenant's or provider's without SEE_ALL_TENANTS)."""
    MARKET_OFFER = "market:offer"
    """Offer a provider's capacity (a provider admin: its own clusters')."""
    MARKET_BID = "market:bid"
    """Bid for blocks and resell won ones, for one's own tenant."""
    MARKET_CLEAR = "market:clear"
    """Run a clearing of the call auction."""
    BILLING_READ = "billing:read"
    """Tenants' balances and statements (one's own tenant's without SEE_ALL_TENANTS)."""
    EARNINGS_READ = "earnings:read"
    """What the platform owes a provider (a provider admin: its own)."""
    BILLING_WRITE = "billing:write"
    """Record deposits and payouts, set credit lines."""
    LEDGER_CHECK = "ledger:check"
    """Verify the whole ledger sums to zero."""
    VOUCHER_READ = "voucher:read"
    """See vouchers (one's own tenant's without SEE_ALL_TENANTS) and the voucher report."""
    VOUCHER_WRITE = "voucher:write"
    """Issue and revoke vouchers."""
    METRICS_READ = "metrics:read"
    """Scrape `/metrics` (platform-wide counts, no tenant's data beyond job counts)."""
    LAB_RUN = "lab:run"
    """Run trace-driven simulations in the policy lab (`/v1/lab`) and read one's own runs
    (every user's with SEE_ALL_TENANTS). Runs use the platform's CPU, not the pool."""


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: frozenset(Permission) - {Permission.AGENT},
    Role.PROVIDER: frozenset(
        {
            Permission.POOL_READ,
            Permission.CLUSTER_WRITE,
            Permission.PRICE_WRITE,
            Permission.USAGE_READ,
            Permission.TOKENS_OWN,
            Permission.MARKET_READ,
            Permission.MARKET_OFFER,
            Permission.EARNINGS_READ,
        }
    ),
    Role.CONSUMER: frozenset(
        {
            Permission.POOL_READ,
            Permission.QUOTA_READ,
            Permission.JOB_SUBMIT,
            Permission.JOB_READ,
            Permission.JOB_CANCEL,
            Permission.JOB_LOGS,
            Permission.USAGE_READ,
            Permission.ACCOUNTS_READ,
            Permission.TOKENS_OWN,
            Permission.MARKET_READ,
            Permission.MARKET_BID,
            Permission.BILLING_READ,
            Permission.VOUCHER_READ,
            Permission.LAB_RUN,  # researchers compare scheduling policies on traces
        }
    ),
    Role.AUDITOR: frozenset(
        {
            Permission.POOL_READ,
            Permission.QUOTA_READ,
            Permission.JOB_READ,
            Permission.USAGE_READ,
            Permission.SEE_ALL_TENANTS,
            Permission.ACCOUNTS_READ,
            Permission.AUDIT_READ,
            Permission.TOKENS_OWN,
            Permission.MARKET_READ,
            Permission.BILLING_READ,
            Permission.LEDGER_CHECK,
            Permission.VOUCHER_READ,
            Permission.METRICS_READ,
        }
    ),
    Role.AGENT: frozenset({Permission.AGENT}),
}


def allows(role: Role, permission: Permission) -> bool:
    return permission in _GRANTS[role]


def require(principal: Principal, permission: Permission) -> None:
    """Raise Forbidden unless the principal's role grants `permission`."""
    if not allows(principal.role, permission):
        raise Forbidden(
            f"Role {principal.role.value!r} may not {permission.value}.",
            hint="use a token of a role that may (ask the platform operator).",
        )
