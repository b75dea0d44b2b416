"""The one authorisation point: every /v1 route declares who may call it and on whose
objects, with `@access(permission, scope)` under its router decorator.

`current_principal` (api/security.py) reads the declaration of the route being served,
refuses a caller whose role lacks the permission (403) before the route runs, and refuses
every caller of a route that declares nothing (fail closed; a test fails the suite for
such a route). The scope says which objects the route acts on, and so how the service
narrows them: the services check the object itself (another tenant's object answers 404,
another provider's cluster 403), and the generated test matrix (tests/api/
test_access_matrix.py) checks every route x role x own / other tenant / other provider.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from suanli.domain.permissions import Permission

F = TypeVar("F", bound=Callable[..., Any])
ATTRIBUTE = "__suanli_access__"


class Scope(StrEnum):
    SELF = "self"
    """The caller's own account (whoami, own tokens); other users' need an extra
    permission, checked by the service."""
    PUBLIC = "public"
    """Facts every authenticated caller may read: the metering standard."""
    POOL = "pool"
    """The shared pool: regions, providers, clusters (readable by every role)."""
    TENANT = "tenant"
    """Objects of one tenant (jobs, usage, quotas, users): another tenant's are 404."""
    PROVIDER = "provider"
    """Clusters of one provider: another provider's are 403 to a provider admin."""
    CLUSTER = "cluster"
    """The agent protocol: an agent token acts for its own cluster only."""
    PLATFORM = "platform"
    """Platform-wide: tenants, users, regions, providers, the audit log (operator,
    auditor for reads)."""


@dataclass(frozen=True, slots=True)
class Access:
    permission: Permission | None
    """None: any authenticated caller."""
    scope: Scope


def access(permission: Permission | None, scope: Scope) -> Callable[[F], F]:
    """Declare a route's access rule (place it under the `@router.get(...)` line)."""

    def mark(endpoint: F) -> F:
        setattr(endpoint, ATTRIBUTE, Access(permission, scope))
        return endpoint

    return mark


def access_of(endpoint: object) -> Access | None:
    """The rule a route's endpoint declared, or None."""
    found = getattr(endpoint, ATTRIBUTE, None)
    return found if isinstance(found, Access) else None
