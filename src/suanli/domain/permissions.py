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


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: frozenset(Permission) - {Permission.AGENT},
    Role.PROVIDER: frozenset({Permission.POOL_READ, Permission.POOL_WRITE}),
    Role.CONSUMER: frozenset(
        {
            Permission.POOL_READ,
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
