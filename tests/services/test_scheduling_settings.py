"""Operator-facing scheduling settings through the services, on SQLite and PostgreSQL:
fair-share weights and cohorts, quotas, region energy settings, cluster prices. Who may
do what, and bad input is refused naming the field, writing nothing."""

from __future__ import annotations

import math
from decimal import Decimal

import pytest

from suanli.adapters.clock import ManualClock
from suanli.domain.errors import Forbidden, InvalidInput, NotFound
from suanli.domain.ids import ClusterId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.quota import Quota, TenantShare
from suanli.domain.tenancy import Principal, Role
from suanli.platform import Platform
from suanli.services.auth import issue_token
from suanli.services.bootstrap import DEFAULT_TENANT, OPERATOR_TENANT
from suanli.services.pool import KEEP
from tests.builders import World, spec, world

LOCAL_REGION = RegionId("local")
LOCAL_CLUSTER = ClusterId("local")


@pytest.fixture
def w(platform: Platform, clock: ManualClock) -> World:
    return world(platform, clock)


def provider(w: World) -> Principal:
    with w.plat.store.unit_of_work() as uow:
        token = issue_token(
            uow,
            w.plat.ids,
            w.clock,
            Principal(None, UserId("prov"), Role.PROVIDER, provider_id=ProviderId("local")),
        )
        uow.commit()
    return w.plat.auth.authenticate(token)


# --- shares -------------------------------------------------------------------------


def test_operator_sets_weight_and_cohort(w: World) -> None:
    share = w.plat.tenancy.set_share(w.operator, DEFAULT_TENANT, weight=3, cohort="science")
    assert share == TenantShare(DEFAULT_TENANT, 3.0, "science")
    listed = {t.tenant.id: t for t in w.plat.tenancy.tenants(w.operator)}
    assert set(listed) == {DEFAULT_TENANT, OPERATOR_TENANT}
    assert listed[DEFAULT_TENANT].share == share
    assert listed[OPERATOR_TENANT].share == TenantShare(OPERATOR_TENANT)
    w.plat.tenancy.set_share(w.operator, DEFAULT_TENANT, weight=1, cohort=None)
    (mine,) = w.plat.tenancy.tenants(w.user)  # a consumer sees its own tenant only
    assert mine.share == TenantShare(DEFAULT_TENANT, 1.0, None)


@pytest.mark.parametrize(
    ("weight", "cohort", "field"),
    [
        (0, None, "weight"),
        (-1, None, "weight"),
        (math.nan, None, "weight"),
        (math.inf, None, "weight"),
        (2_000_000, None, "weight"),
        (1, "Not A Slug", "cohort"),
        (1, "", "cohort"),
    ],
)
def test_bad_shares_name_the_field_and_write_nothing(
    w: World, weight: float, cohort: str | None, field: str
) -> None:
    with pytest.raises(InvalidInput) as exc:
        w.plat.tenancy.set_share(w.operator, DEFAULT_TENANT, weight=weight, cohort=cohort)
    assert exc.value.field == field
    shares = [t.share for t in w.plat.tenancy.tenants(w.operator)]
    assert all(s.weight == 1.0 and s.cohort is None for s in shares)


def test_only_the_operator_changes_shares_and_unknown_tenants_are_404(w: World) -> None:
    for who in (w.user, w.agent, provider(w)):
        with pytest.raises(Forbidden):
            w.plat.tenancy.set_share(who, DEFAULT_TENANT, weight=2, cohort=None)
    with pytest.raises(NotFound) as exc:
        w.plat.tenancy.set_share(w.operator, TenantId("nope"), weight=2, cohort=None)
    assert (
        exc.value.field == "tenant_id" and exc.value.hint and "suanli tenant list" in exc.value.hint
    )


# --- quotas -------------------------------------------------------------------------


def test_quotas_are_stored_in_flavor_units_with_canonical_models(w: World) -> None:
    cpu = w.plat.tenancy.set_quota(
        w.operator, DEFAULT_TENANT, "CPU", nominal=8.5, borrowing_limit=4, lending_limit=0.25
    )
    assert cpu == Quota(DEFAULT_TENANT, "cpu", 8500, 4000, 250)
    h100 = w.plat.tenancy.set_quota(w.operator, DEFAULT_TENANT, "gpu:h100", nominal=8)
    assert h100 == Quota(DEFAULT_TENANT, "gpu:H100", 8, None, None)
    a100 = w.plat.tenancy.set_quota(w.operator, DEFAULT_TENANT, "gpu:a100", nominal=2.0)
    assert a100.flavor == "gpu:A100-80GB"
    # setting again replaces
    w.plat.tenancy.set_quota(w.operator, DEFAULT_TENANT, "gpu:H100", nominal=4, lending_limit=4)
    assert w.plat.tenancy.quotas(w.operator, DEFAULT_TENANT) == [
        Quota(DEFAULT_TENANT, "cpu", 8500, 4000, 250),
        Quota(DEFAULT_TENANT, "gpu:A100-80GB", 2),
        Quota(DEFAULT_TENANT, "gpu:H100", 4, None, 4),
    ]
    assert w.plat.tenancy.quotas(w.operator, OPERATOR_TENANT) == []
    assert len(w.plat.tenancy.quotas(w.operator)) == 3


@pytest.mark.parametrize(
    ("flavor", "amounts", "field"),
    [
        ("tpu", {"nominal": 1}, "flavor"),
        ("gpu:", {"nominal": 1}, "flavor"),
        ("gpu:NOPE-9000", {"nominal": 1}, "flavor"),
        ("gpu:any", {"nominal": 1}, "flavor"),
        ("gpu:H100", {"nominal": 1.5}, "nominal"),
        ("gpu:H100", {"nominal": 4, "borrowing_limit": 0.5}, "borrowing_limit"),
        ("cpu", {"nominal": -1}, "nominal"),
        ("cpu", {"nominal": math.nan}, "nominal"),
        ("cpu", {"nominal": math.inf}, "nominal"),
        ("cpu", {"nominal": 1e300}, "nominal"),
        ("cpu", {"nominal": 8, "borrowing_limit": -2}, "borrowing_limit"),
        ("cpu", {"nominal": 8, "lending_limit": 9}, "lending_limit"),
    ],
)
def test_bad_quotas_name_the_field_and_write_nothing(
    w: World, flavor: str, amounts: dict[str, float], field: str
) -> None:
    with pytest.raises(InvalidInput) as exc:
        w.plat.tenancy.set_quota(w.operator, DEFAULT_TENANT, flavor, **amounts)
    assert exc.value.field == field
    assert w.plat.tenancy.quotas(w.operator) == []


def test_quota_permissions_and_tenant_scoping(w: World) -> None:
    w.plat.tenancy.set_quota(w.operator, DEFAULT_TENANT, "cpu", nominal=4)
    w.plat.tenancy.set_quota(w.operator, OPERATOR_TENANT, "cpu", nominal=2)
    for who in (w.user, w.agent, provider(w)):
        with pytest.raises(Forbidden):
            w.plat.tenancy.set_quota(who, DEFAULT_TENANT, "cpu", nominal=100)
        with pytest.raises(Forbidden):
            w.plat.tenancy.delete_quota(who, DEFAULT_TENANT, "cpu")
    # a consumer reads its own tenant's quotas; another tenant's are "not found"
    assert [q.tenant_id for q in w.plat.tenancy.quotas(w.user)] == [DEFAULT_TENANT]
    assert len(w.plat.tenancy.quotas(w.user, DEFAULT_TENANT)) == 1
    with pytest.raises(NotFound):
        w.plat.tenancy.quotas(w.user, OPERATOR_TENANT)
    with pytest.raises(Forbidden):
        w.plat.tenancy.quotas(provider(w))
    with pytest.raises(NotFound) as exc:
        w.plat.tenancy.set_quota(w.operator, TenantId("nope"), "cpu", nominal=1)
    assert exc.value.field == "tenant_id" and exc.value.hint
    with pytest.raises(NotFound):
        w.plat.tenancy.quotas(w.operator, TenantId("nope"))


def test_deleting_a_quota(w: World) -> None:
    w.plat.tenancy.set_quota(w.operator, DEFAULT_TENANT, "gpu:H100", nominal=8)
    w.plat.tenancy.delete_quota(w.operator, DEFAULT_TENANT, "gpu:h100")
    assert w.plat.tenancy.quotas(w.operator) == []
    with pytest.raises(NotFound) as exc:
        w.plat.tenancy.delete_quota(w.operator, DEFAULT_TENANT, "gpu:H100")
    assert exc.value.field == "flavor" and exc.value.hint
    with pytest.raises(NotFound) as exc:
        w.plat.tenancy.delete_quota(w.operator, DEFAULT_TENANT, "gpu:NOPE-9000")
    assert exc.value.field == "flavor"
    with pytest.raises(NotFound) as exc:
        w.plat.tenancy.delete_quota(w.operator, TenantId("nope"), "cpu")
    assert exc.value.field == "tenant_id"


# --- regions and prices -------------------------------------------------------------


def test_operator_sets_and_clears_region_energy_settings(w: World) -> None:
    region = w.plat.pool.update_region(
        w.operator, LOCAL_REGION, energy_price=0.62, carbon_intensity=581
    )
    assert (region.energy_price, region.carbon_intensity) == (0.62, 581.0)
    region = w.plat.pool.update_region(w.operator, LOCAL_REGION, energy_price=0)
    assert (region.energy_price, region.carbon_intensity) == (0.0, 581.0)  # carbon kept
    region = w.plat.pool.update_region(w.operator, LOCAL_REGION, carbon_intensity=None)
    assert (region.energy_price, region.carbon_intensity) == (0.0, None)
    (stored,) = w.plat.pool.regions(w.user)
    assert stored == region and stored.name == "This machine"


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"energy_price": -0.1}, "energy_price"),
        ({"energy_price": math.nan}, "energy_price"),
        ({"energy_price": math.inf}, "energy_price"),
        ({"energy_price": 1e9}, "energy_price"),
        ({"energy_price": 0.5, "carbon_intensity": -1}, "carbon_intensity"),
        ({"carbon_intensity": 1e6}, "carbon_intensity"),
    ],
)
def test_bad_region_settings_name_the_field_and_write_nothing(
    w: World, settings: dict[str, float], field: str
) -> None:
    with pytest.raises(InvalidInput) as exc:
        w.plat.pool.update_region(w.operator, LOCAL_REGION, **settings)
    assert exc.value.field == field and exc.value.hint
    (region,) = w.plat.pool.regions(w.operator)
    assert region.energy_price is None and region.carbon_intensity is None


def test_region_settings_are_for_the_operator_only(w: World) -> None:
    for who in (w.user, w.agent, provider(w)):
        with pytest.raises(Forbidden):
            w.plat.pool.update_region(who, LOCAL_REGION, energy_price=1)
    with pytest.raises(NotFound) as exc:
        w.plat.pool.update_region(w.operator, RegionId("mars"), energy_price=KEEP)
    assert exc.value.field == "region_id"


def test_operator_and_provider_post_a_cluster_price(w: World) -> None:
    assert w.plat.pool.set_cluster_price(w.operator, LOCAL_CLUSTER, 12.5).gpu_hour_price == 12.5
    assert w.plat.pool.cluster(w.user, LOCAL_CLUSTER).cluster.gpu_hour_price == 12.5
    assert w.plat.pool.set_cluster_price(provider(w), LOCAL_CLUSTER, 0).gpu_hour_price == 0.0
    w.plat.pool.set_cluster_price(w.operator, LOCAL_CLUSTER, None)
    assert w.plat.pool.cluster(w.user, LOCAL_CLUSTER).cluster.gpu_hour_price is None
    for who in (w.user, w.agent):
        with pytest.raises(Forbidden):
            w.plat.pool.set_cluster_price(who, LOCAL_CLUSTER, 1)
    for bad in (-1.0, math.nan, math.inf, 1e12, 0.12345, "1.00001", "cheap", True):
        with pytest.raises(InvalidInput) as exc:
            w.plat.pool.set_cluster_price(w.operator, LOCAL_CLUSTER, bad)
        assert exc.value.field == "gpu_hour_price" and exc.value.hint
    # kept exactly: a decimal string, or a number's shortest text (0.1 is 0.1, not 0.1000...)
    exact = w.plat.pool.set_cluster_price(w.operator, LOCAL_CLUSTER, "7.0375").gpu_hour_price
    assert exact == Decimal("7.0375")
    assert w.plat.pool.set_cluster_price(w.operator, LOCAL_CLUSTER, 0.1).gpu_hour_price == Decimal(
        "0.1"
    )
    w.plat.pool.set_cluster_price(w.operator, LOCAL_CLUSTER, None)
    with pytest.raises(NotFound) as missing:
        w.plat.pool.set_cluster_price(w.operator, ClusterId("nope"), 1)
    assert missing.value.field == "cluster_id" and missing.value.hint
    assert w.plat.pool.cluster(w.user, LOCAL_CLUSTER).cluster.gpu_hour_price is None


def test_a_quota_change_applies_at_the_next_cycle(w: World) -> None:
    """The scheduler caches quotas between slow refreshes (30 s); a change made through
    the service is read at the very next cycle, under any policy."""
    w.register(cpus=4)
    w.plat.scheduler.run_once()  # caches the slow inputs: no quota yet
    w.plat.tenancy.set_quota(w.operator, DEFAULT_TENANT, "cpu", nominal=1, borrowing_limit=0)
    for _ in range(2):
        w.plat.jobs.submit(w.user, spec("sleep", "60", cpus=1))
    report = w.plat.scheduler.run_once()
    assert (report.admitted, report.waiting) == (1, 1)
    w.plat.tenancy.delete_quota(w.operator, DEFAULT_TENANT, "cpu")
    assert w.plat.scheduler.run_once().admitted == 1
