"""First-run setup of a single-machine platform: the operator and a default consumer
tenant, their users, a local region, provider and cluster, and their tokens. Idempotent.

The tokens made here never expire (the operator's own machine keeps them in 0600 files);
tokens for anyone else are made with `suanli token create` and do expire."""

from __future__ import annotations

from dataclasses import dataclass, replace

from suanli.domain.ids import ClusterId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.pool import Cluster, ClusterState, Provider, Region
from suanli.domain.tenancy import Principal, Role, Tenant, User
from suanli.ports.clock import Clock
from suanli.ports.ids import IdGenerator
from suanli.ports.store import Store
from suanli.services.auth import hash_token, issue_token

OPERATOR_TENANT = TenantId("operator")
DEFAULT_TENANT = TenantId("default")
LOCAL = "local"


@dataclass(frozen=True, slots=True)
class LocalTokens:
    operator: str
    user: str
    agent: str


def bootstrap_local(
    store: Store, clock: Clock, ids: IdGenerator, *, user: str, previous: LocalTokens | None
) -> LocalTokens:
    """Create what a one-machine platform needs, reusing `previous` tokens that are still
    valid (so a restart keeps the user's config working)."""
    with store.unit_of_work() as uow:
        now = clock.now()
        for tenant in (
            Tenant(OPERATOR_TENANT, "Platform operator", created_at=now),
            Tenant(DEFAULT_TENANT, "Default consumer tenant", created_at=now),
        ):
            if uow.tenancy.get_tenant(tenant.id) is None:
                uow.tenancy.add_tenant(tenant)
        if uow.pool.get_region(RegionId(LOCAL)) is None:
            uow.pool.add_region(Region(RegionId(LOCAL), "This machine"))
        if uow.pool.get_provider(ProviderId(LOCAL)) is None:
            uow.pool.add_provider(Provider(ProviderId(LOCAL), "This machine"))
        if uow.pool.get_cluster(ClusterId(LOCAL)) is None:
            uow.pool.add_cluster(
                Cluster(
                    ClusterId(LOCAL),
                    ProviderId(LOCAL),
                    RegionId(LOCAL),
                    "local",
                    ClusterState.REGISTERED,
                    now,
                )
            )

        for person in (
            User(UserId("operator"), Role.OPERATOR, OPERATOR_TENANT, None, now),
            User(UserId(user), Role.CONSUMER, DEFAULT_TENANT, None, now),
        ):
            if uow.tenancy.get_user(person.id) is None:
                uow.tenancy.add_user(person)

        def keep_or_issue(old: str | None, principal: Principal) -> str:
            found = uow.tenancy.principal_for(hash_token(old), now) if old else None
            if old and found is not None and replace(found, token_id=None) == principal:
                return old
            return issue_token(uow, ids, clock, principal)

        tokens = LocalTokens(
            operator=keep_or_issue(
                previous.operator if previous else None,
                Principal(OPERATOR_TENANT, UserId("operator"), Role.OPERATOR),
            ),
            user=keep_or_issue(
                previous.user if previous else None,
                Principal(DEFAULT_TENANT, UserId(user), Role.CONSUMER),
            ),
            agent=keep_or_issue(
                previous.agent if previous else None,
                Principal(
                    None, UserId("agent:local"), Role.AGENT, ClusterId(LOCAL), ProviderId(LOCAL)
                ),
            ),
        )
        uow.commit()
    return tokens
