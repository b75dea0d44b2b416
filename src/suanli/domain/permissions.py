"""Which role may do what. One table; the API checks it through one dependency.

Tenant isolation (a consumer sees only its own tenant's jobs) is enforced in the services
by scoping queries to `Principal.tenant_id` unless the role has `SEE_ALL_TENANTS`.
"""

from __future__ import annotations

from enum import StrEnum

from suanli.domain.errors import Forbidden
from suanli.domain.tenancy import Principal, Role


class Permission(StrEnum):
    POOL_READ = "pool:read"
    POOL_WRITE = "pool:write"
    JOB_SUBMIT = "job:submit"
    JOB_READ = "job:read"
    JOB_CANCEL = "job:cancel"
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
    """Post a cluster's GPU-hour price."""


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: frozenset(Permission) - {Permission.AGENT},
    Role.PROVIDER: frozenset({Permission.POOL_READ, Permission.POOL_WRITE, Permission.PRICE_WRITE}),
    Role.CONSUMER: frozenset(
        {
            Permission.POOL_READ,
            Permission.QUOTA_READ,
            Permission.JOB_SUBMIT,
            Permission.JOB_READ,
            Permission.JOB_CANCEL,
            Permission.USAGE_READ,
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
