"""The SQL store on SQLite and PostgreSQL: schema, round trips, pagination, idempotent
logs, usage uniqueness, and rollback of failed units of work."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from suanli.adapters.store_sql.store import SqlStore
from suanli.adapters.store_sql.tables import metadata
from suanli.domain.errors import Conflict
from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.jobs import Job, JobStatus
from suanli.domain.pool import Cluster, ClusterState, Node, Provider, Region
from suanli.domain.resources import Resources
from suanli.domain.standard import Sector, WorkloadClass
from suanli.domain.tenancy import Tenant
from suanli.domain.usage import UsageRecord
from suanli.ports.store import JobFilter
from tests.builders import spec
from tests.conftest import START


@pytest.fixture
def store(database_url: str) -> SqlStore:
    s = SqlStore(database_url)
    with s.unit_of_work() as uow:
        uow.tenancy.add_tenant(Tenant(TenantId("t1"), "T1"))
        uow.tenancy.add_tenant(Tenant(TenantId("t2"), "T2"))
        uow.commit()
    return s


def make_job(i: int, tenant: str = "t1") -> Job:
    return Job(
        JobId(f"j-{i:04d}"),
        TenantId(tenant),
        UserId("u"),
        spec("echo", str(i), gpus={"A100": 2}),
        JobStatus.PENDING,
        START,
    )


def test_migrations_match_the_table_definitions(store: SqlStore) -> None:
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diffs == []


def test_migrating_twice_is_a_no_op(database_url: str) -> None:
    SqlStore(database_url)
    SqlStore(database_url)


def test_job_round_trip_keeps_every_field(store: SqlStore) -> None:
    job = make_job(1)
    with store.unit_of_work() as uow:
        saved = uow.jobs.add(job)
        uow.commit()
    assert saved.seq > 0
    with store.unit_of_work(readonly=True) as uow:
        back = uow.jobs.get(job.id)
    assert back is not None
    assert back.spec == job.spec and back.submitted_at == START and back.status is JobStatus.PENDING
    assert back.submitted_at.tzinfo is not None


def test_keyset_pagination_newest_first_and_tenant_filter(store: SqlStore) -> None:
    with store.unit_of_work() as uow:
        for i in range(25):
            uow.jobs.add(make_job(i, "t1" if i % 5 else "t2"))
        uow.commit()
    seen: list[str] = []
    cursor = None
    with store.unit_of_work(readonly=True) as uow:
        while True:
            page = uow.jobs.search(JobFilter(tenant_id=TenantId("t1"), before_seq=cursor, limit=7))
            seen += [j.id for j in page]
            if len(page) < 7:
                break
            cursor = page[-1].seq
    assert len(seen) == 20 and len(set(seen)) == 20
    assert seen == sorted(seen, reverse=True)


def test_a_unit_of_work_without_commit_writes_nothing(store: SqlStore) -> None:
    with pytest.raises(RuntimeError), store.unit_of_work() as uow:
        uow.jobs.add(make_job(1))
        raise RuntimeError("boom")
    with store.unit_of_work(readonly=True) as uow:
        assert uow.jobs.get(JobId("j-0001")) is None


def test_logs_append_is_idempotent_and_refuses_gaps(store: SqlStore) -> None:
    with store.unit_of_work() as uow:
        uow.jobs.add(make_job(1))
        uow.logs.append(JobId("j-0001"), 1, "stdout", 0, b"hello ")
        uow.logs.append(JobId("j-0001"), 1, "stdout", 0, b"hello ")  # a retried upload
        uow.logs.append(JobId("j-0001"), 1, "stdout", 3, b"lo world")  # overlapping
        with pytest.raises(Conflict):
            uow.logs.append(JobId("j-0001"), 1, "stdout", 100, b"gap")
        uow.commit()
    with store.unit_of_work(readonly=True) as uow:
        assert uow.logs.read(JobId("j-0001"), 1, "stdout", 0, 1000) == b"hello world"
        assert uow.logs.read(JobId("j-0001"), 1, "stdout", 6, 3) == b"wor"
        assert uow.logs.size(JobId("j-0001"), 1, "stdout") == 11


def test_usage_of_an_attempt_is_recorded_once(store: SqlStore) -> None:
    record = UsageRecord(
        JobId("j-0001"),
        1,
        TenantId("t1"),
        ProviderId("p"),
        RegionId("r"),
        ClusterId("c"),
        NodeId("n"),
        Sector.RESEARCH,
        WorkloadClass.AI,
        "gpu:H100",
        2.0,
        START,
        START,
        10_000,  # ms
        0.5,
        2.0 * 10 * 0.5 / 3600,
    )
    with store.unit_of_work() as uow:
        uow.jobs.add(make_job(1))
        uow.usage.add([record])
        uow.commit()
    with pytest.raises(sa.exc.IntegrityError), store.unit_of_work() as uow:
        uow.usage.add([record])
    with store.unit_of_work(readonly=True) as uow:
        assert len(uow.usage.for_job(JobId("j-0001"))) == 1
        (total,) = uow.usage.totals(by=("tenant",), tenant_id=None, since=None)
        assert (total.key, total.amount, total.jobs) == ("t1", 20.0, 1)
        assert total.standard_units == pytest.approx(10 / 3600)
        (day,) = uow.usage.totals(by=("tenant", "day"), tenant_id=None, since=None)
        assert day.key == "t1/2026-03-01" and day.workload_class == "ai"


def test_usage_totals_sum_milliseconds(store: SqlStore) -> None:
    """Three 333 ms records are 0.999 s, not 0 s (whole seconds each) nor 1 s; the
    amounts and standard units follow the milliseconds; a record read back keeps its ms."""

    def gpu(attempt: int, ms: int) -> UsageRecord:
        start = START + timedelta(seconds=attempt)
        return UsageRecord(
            JobId("j-0001"),
            attempt,
            TenantId("t1"),
            ProviderId("p"),
            RegionId("r"),
            ClusterId("c"),
            NodeId("n"),
            Sector.RESEARCH,
            WorkloadClass.AI,
            "gpu:H100",
            2.0,
            start,
            start + timedelta(milliseconds=ms),
            ms,
            0.5,
            2.0 * ms * 0.5 / 3_600_000,
        )

    with store.unit_of_work() as uow:
        uow.jobs.add(make_job(1))
        uow.usage.add([gpu(n, 333) for n in (1, 2, 3)])
        uow.commit()
    with store.unit_of_work(readonly=True) as uow:
        back = uow.usage.for_job(JobId("j-0001"))
        (total,) = uow.usage.totals(by=("tenant", "day"), tenant_id=None, since=None)
    assert [r.milliseconds for r in back] == [333, 333, 333]
    assert back[0].ended_at - back[0].started_at == timedelta(milliseconds=333)
    assert total.seconds == 0.999
    assert total.amount == pytest.approx(2 * 0.999)
    assert total.standard_units == pytest.approx(2 * 999 * 0.5 / 3_600_000)


def test_pool_round_trip(store: SqlStore) -> None:
    with store.unit_of_work() as uow:
        uow.pool.add_region(Region(RegionId("zz"), "Zhengzhou", 34.75, 113.62))
        uow.pool.add_provider(Provider(ProviderId("p"), "P"))
        uow.pool.add_cluster(
            Cluster(
                ClusterId("c"),
                ProviderId("p"),
                RegionId("zz"),
                "local",
                ClusterState.REGISTERED,
                START,
            )
        )
        uow.pool.replace_nodes(
            ClusterId("c"),
            [Node(ClusterId("c"), NodeId("n1"), Resources(64000, 512000, {"H100": 8}, 81920))],
        )
        uow.commit()
    with store.unit_of_work(readonly=True) as uow:
        (node,) = uow.pool.list_nodes(ClusterId("c"))
        assert dict(node.capacity.gpus) == {"H100": 8} and node.capacity.gpu_memory_mb == 81920
        assert uow.pool.get_region(RegionId("zz")) == Region(
            RegionId("zz"), "Zhengzhou", 34.75, 113.62
        )
