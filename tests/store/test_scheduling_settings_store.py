"""The store's scheduling settings on SQLite and PostgreSQL: tenants' shares and quotas,
region energy settings, cluster prices, attempt outcomes per cluster (reliability) and
standard units per tenant and day (fair-share history)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from suanli.adapters.store_sql.store import SqlStore
from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.jobs import Attempt, Job, JobStatus
from suanli.domain.pool import Cluster, ClusterState, Provider, Region
from suanli.domain.quota import Quota, TenantShare
from suanli.domain.resources import Resources
from suanli.domain.standard import Sector, WorkloadClass
from suanli.domain.tenancy import Tenant
from suanli.domain.usage import UsageRecord
from tests.builders import spec
from tests.conftest import START

T1, T2 = TenantId("t1"), TenantId("t2")
C1, C2 = ClusterId("c1"), ClusterId("c2")


@pytest.fixture
def store(database_url: str) -> SqlStore:
    s = SqlStore(database_url)
    with s.unit_of_work() as uow:
        uow.tenancy.add_tenant(Tenant(T2, "T2"))
        uow.tenancy.add_tenant(Tenant(T1, "T1"))
        uow.pool.add_region(Region(RegionId("zz"), "Zhengzhou", 34.75, 113.62))
        uow.pool.add_provider(Provider(ProviderId("p"), "P"))
        for cluster in (C1, C2):
            uow.pool.add_cluster(
                Cluster(
                    cluster, ProviderId("p"), RegionId("zz"), "local", ClusterState.READY, START
                )
            )
        uow.commit()
    return s


def test_tenants_and_shares_default_to_weight_one_and_no_cohort(store: SqlStore) -> None:
    with store.unit_of_work(readonly=True) as uow:
        assert uow.tenancy.list_tenants() == [Tenant(T1, "T1"), Tenant(T2, "T2")]
        assert uow.tenancy.list_shares() == [TenantShare(T1), TenantShare(T2)]


def test_set_share_round_trips_and_clears_the_cohort(store: SqlStore) -> None:
    with store.unit_of_work() as uow:
        uow.tenancy.set_share(TenantShare(T1, 2.5, "science"))
        uow.commit()
    with store.unit_of_work(readonly=True) as uow:
        assert uow.tenancy.list_shares() == [TenantShare(T1, 2.5, "science"), TenantShare(T2)]
        assert uow.tenancy.get_tenant(T1) == Tenant(T1, "T1")
    with store.unit_of_work() as uow:
        uow.tenancy.set_share(TenantShare(T1, 0.5, None))
        uow.commit()
    with store.unit_of_work(readonly=True) as uow:
        assert uow.tenancy.list_shares()[0] == TenantShare(T1, 0.5, None)


def test_quotas_upsert_list_and_delete(store: SqlStore) -> None:
    big = 5 * 10**12  # milli-cores beyond 32 bits
    with store.unit_of_work() as uow:
        uow.tenancy.set_quota(Quota(T2, "gpu:H100", 8, None, 4))
        uow.tenancy.set_quota(Quota(T1, "cpu", 64_000, 16_000, None))
        uow.tenancy.set_quota(Quota(T1, "gpu:H100", 2))
        uow.commit()
    with store.unit_of_work() as uow:
        uow.tenancy.set_quota(Quota(T1, "cpu", big, None, 1000))  # replaces the row
        uow.commit()
    with store.unit_of_work(readonly=True) as uow:
        assert uow.tenancy.list_quotas() == [
            Quota(T1, "cpu", big, None, 1000),
            Quota(T1, "gpu:H100", 2),
            Quota(T2, "gpu:H100", 8, None, 4),
        ]
        assert uow.tenancy.list_quotas(T2) == [Quota(T2, "gpu:H100", 8, None, 4)]
    with store.unit_of_work() as uow:
        assert uow.tenancy.delete_quota(T1, "gpu:H100") is True
        assert uow.tenancy.delete_quota(T1, "gpu:H100") is False
        assert uow.tenancy.delete_quota(T2, "cpu") is False
        uow.commit()
    with store.unit_of_work(readonly=True) as uow:
        assert [q.flavor for q in uow.tenancy.list_quotas(T1)] == ["cpu"]


def test_region_settings_and_cluster_price_round_trip(store: SqlStore) -> None:
    region = Region(RegionId("zz"), "郑州", 34.7, 113.6, energy_price=0.62, carbon_intensity=581)
    with store.unit_of_work() as uow:
        uow.pool.update_region(region)
        uow.pool.set_cluster_price(C1, Decimal("12.3456"))
        uow.commit()
    with store.unit_of_work(readonly=True) as uow:
        assert uow.pool.get_region(RegionId("zz")) == region
        assert uow.pool.list_regions() == [region]
        c1 = uow.pool.get_cluster(C1)
        c2 = uow.pool.get_cluster(C2)
        assert c1 is not None and c1.gpu_hour_price == Decimal("12.3456")  # exact
        assert c2 is not None and c2.gpu_hour_price is None
    with store.unit_of_work() as uow:
        uow.pool.set_cluster_price(C1, None)
        uow.pool.update_region(Region(RegionId("zz"), "Zhengzhou"))
        uow.commit()
    with store.unit_of_work(readonly=True) as uow:
        assert uow.pool.get_region(RegionId("zz")) == Region(RegionId("zz"), "Zhengzhou")
        c1 = uow.pool.get_cluster(C1)
        assert c1 is not None and c1.gpu_hour_price is None


def _attempt(
    job: str, cluster: ClusterId, status: JobStatus, *, exit_code: int | None, minutes: int
) -> Attempt:
    return Attempt(
        JobId(job),
        1,
        cluster,
        NodeId("n"),
        Resources(1000, 1024),
        RegionId("zz"),
        status,
        START + timedelta(minutes=minutes),
        exit_code=exit_code,
    )


def test_attempt_outcomes_count_ended_attempts_and_those_the_cluster_failed(
    store: SqlStore,
) -> None:
    cases = [
        # (cluster, status, exit code, minutes after START)
        (C1, JobStatus.SUCCEEDED, 0, 10),
        (C1, JobStatus.FAILED, 1, 10),  # the program failed: not the cluster's fault
        (C1, JobStatus.FAILED, None, 10),  # the engine refused it
        (C1, JobStatus.LOST, None, 10),
        (C1, JobStatus.CANCELLED, None, 10),
        (C1, JobStatus.PREEMPTED, 137, 10),
        (C1, JobStatus.RUNNING, None, 10),  # not ended
        (C1, JobStatus.SCHEDULED, None, 10),  # not ended
        (C1, JobStatus.LOST, None, -10),  # before the window
        (C2, JobStatus.SUCCEEDED, 0, 0),  # exactly at `since`: inside
        (C2, JobStatus.SUCCEEDED, 0, 20),
    ]
    with store.unit_of_work() as uow:
        for i, (cluster, status, code, minutes) in enumerate(cases):
            job = f"j-{i:03d}"
            uow.jobs.add(Job(JobId(job), T1, UserId("u"), spec(), JobStatus.PENDING, START))
            uow.jobs.add_attempt(_attempt(job, cluster, status, exit_code=code, minutes=minutes))
        uow.commit()
    with store.unit_of_work(readonly=True) as uow:
        assert uow.jobs.attempt_outcomes(START) == {C1: (6, 2), C2: (2, 0)}
        assert uow.jobs.attempt_outcomes(START - timedelta(hours=1)) == {C1: (7, 3), C2: (2, 0)}
        assert uow.jobs.attempt_outcomes(START + timedelta(hours=1)) == {}


def _usage(job: str, tenant: TenantId, day: int, units: float | None, dim: str) -> UsageRecord:
    at = START + timedelta(days=day)
    return UsageRecord(
        JobId(job),
        1,
        tenant,
        ProviderId("p"),
        RegionId("zz"),
        C1,
        NodeId("n"),
        Sector.RESEARCH,
        WorkloadClass.AI,
        dim,
        1.0,
        at,
        at + timedelta(seconds=60),
        60_000,  # ms
        None if units is None else 0.1,
        units,
    )


def test_units_by_tenant_day_sums_every_class_and_dimension(store: SqlStore) -> None:
    with store.unit_of_work() as uow:
        for job, tenant in (("j-a", T1), ("j-b", T2)):
            uow.jobs.add(Job(JobId(job), tenant, UserId("u"), spec(), JobStatus.PENDING, START))
        uow.usage.add(
            [
                _usage("j-a", T1, 0, 1.5, "cpu"),
                _usage("j-a", T1, 0, 2.0, "gpu:H100"),
                _usage("j-a", T1, 0, None, "memory"),  # unrated: counts 0
                _usage("j-a", T1, 1, 4.0, "cpu"),
                _usage("j-b", T2, -1, 8.0, "cpu"),  # before since_day
                _usage("j-b", T2, 1, None, "cpu"),
            ]
        )
        uow.commit()
    with store.unit_of_work(readonly=True) as uow:
        got = uow.usage.units_by_tenant_day("2026-03-01")
        assert got == [
            (T1, "2026-03-01", pytest.approx(3.5)),
            (T1, "2026-03-02", pytest.approx(4.0)),
            (T2, "2026-03-02", 0.0),
        ]
        earlier = uow.usage.units_by_tenant_day("2026-02-28")
        assert [(t, d) for t, d, _ in earlier] == [
            (T1, "2026-03-01"),
            (T1, "2026-03-02"),
            (T2, "2026-02-28"),
            (T2, "2026-03-02"),
        ]
        assert earlier[2][2] == pytest.approx(8.0)
        assert uow.usage.units_by_tenant_day("2026-03-03") == []
