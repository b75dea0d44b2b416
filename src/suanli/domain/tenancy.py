"""Tenants, users, roles and the principal a credential resolves to.

Roles are coarse here (operator, consumer, agent); issue-level security work refines the
permission table in `suanli.domain.permissions` without touching the routes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from suanli.domain.ids import ClusterId, TenantId, UserId


class Role(StrEnum):
    OPERATOR = "operator"
    """Runs the city's compute centre: sees and manages everything."""
    PROVIDER = "provider"
    """Owns clusters and their agents' registration."""
    CONSUMER = "consumer"
    """Submits and manages its own tenant's jobs."""
    AGENT = "agent"
    """An agent process acting for exactly one cluster."""


@dataclass(frozen=True, slots=True)
class Tenant:
    id: TenantId
    name: str


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: resolved from a bearer token by the authentication service."""

    tenant_id: TenantId
    user_id: UserId
    role: Role
    cluster_id: ClusterId | None = None
    """Set only for agent principals: the one cluster the agent may act for."""
