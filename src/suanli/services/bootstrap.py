"""First-run setup of a single-machine platform: the operator and a default consumer
tenant, a local region, provider and cluster, and their tokens. Idempotent."""

from __future__ import annotations

from dataclasses import dataclass

from suanli.domain.ids import ClusterId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.pool import Cluster, ClusterState, Provider, Region
from suanli.domain.tenancy import Principal, Role, Tenant
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
            Tenant(OPERATOR_TENANT, "Platform operator"),
            Tenant(DEFAULT_TENANT, "Default consumer tenant"),
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

        def keep_or_issue(old: str | None, principal: Principal) -> str:
            if old and uow.tenancy.principal_for(hash_token(old)) == principal:
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
                Principal(OPERATOR_TENANT, UserId("agent:local"), Role.AGENT, ClusterId(LOCAL)),
            ),
        )
        uow.commit()
    return tokens
