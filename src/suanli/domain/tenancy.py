"""Tenants, users, roles, tokens and the principal a credential resolves to.

Who may do what is one table, `suanli.domain.permissions`; on whose objects is the
principal's binding: a consumer to one tenant, a provider admin to one provider, an agent
to one cluster. Operators and auditors see every tenant (auditors only read).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from suanli.domain.errors import Forbidden
from suanli.domain.ids import ClusterId, ProviderId, TenantId, TokenId, UserId


class Role(StrEnum):
    OPERATOR = "operator"
    """Runs the city's compute centre: sees and manages everything."""
    PROVIDER = "provider"
    """A provider's admin: registers, prices and calibrates its own provider's clusters."""
    CONSUMER = "consumer"
    """Submits and manages its own tenant's jobs."""
    AUDITOR = "auditor"
    """Reads everything of every tenant (jobs, usage, accounts, the audit log); changes
    nothing and reads no job's output."""
    AGENT = "agent"
    """An agent process acting for exactly one cluster."""


USER_ROLES = (Role.OPERATOR, Role.PROVIDER, Role.CONSUMER, Role.AUDITOR)
"""Roles a person's account may have (agents get tokens when their cluster registers)."""


@dataclass(frozen=True, slots=True)
class Tenant:
    """A firm, lab or school that submits jobs and is billed for them."""

    id: TenantId
    name: str
    sector: str = "other"
    """The industry its jobs are tagged with by default (`suanli.domain.standard`)."""
    contact: str = ""
    """Who to call about it: free text (an e-mail address, a phone number)."""
    created_at: datetime | None = None
    size: str = "unknown"
    """Firm size (micro, small, medium, large, unknown): voucher schemes select by it."""


@dataclass(frozen=True, slots=True)
class User:
    """A person's account. Exactly one binding fits the role: a consumer belongs to a
    tenant, a provider admin to a provider; operators and auditors to neither."""

    id: UserId
    role: Role
    tenant_id: TenantId | None
    provider_id: ProviderId | None
    created_at: datetime
    disabled_at: datetime | None = None

    @property
    def active(self) -> bool:
        return self.disabled_at is None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What may be shown of a token: never the secret, never its hash."""

    id: TokenId
    user_id: UserId
    name: str
    role: Role
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    cluster_id: ClusterId | None = None

    def valid_at(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or now < self.expires_at)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: resolved from a bearer token by the authentication service."""

    tenant_id: TenantId | None
    """The tenant whose objects a consumer acts on; None for provider admins, whose
    objects are their provider's."""
    user_id: UserId
    role: Role
    cluster_id: ClusterId | None = None
    """Set only for agent principals: the one cluster the agent may act for."""
    provider_id: ProviderId | None = None
    """Set for provider admins (and agents): the one provider whose clusters it manages."""
    token_id: TokenId | None = None
    """The token presented (for the audit log and rate limits); None when built in code."""

    def own_tenant(self) -> TenantId:
        """The caller's tenant; Forbidden for a principal bound to none (a provider admin
        cannot submit jobs or be billed)."""
        if self.tenant_id is None:
            raise Forbidden(
                f"A {self.role.value} token belongs to no tenant.",
                hint="use a consumer token of the tenant you act for.",
            )
        return self.tenant_id
