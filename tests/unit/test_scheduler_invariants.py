"""Invariants of the scheduling cycle on random pools, holders, quotas and queues: under
every registered policy, capacity and quota hold and every job gets one decision; under
the "suanli" policy, also:

- capacity is never exceeded, node by node;
- gangs are all-or-nothing, inside one cluster;
- quota is never exceeded except by borrowing within its limits (an independent
  recomputation of the rules in domain/quota.py);
- backfill never delays the head reservation: with everything admitted this cycle, the
  reserved job still fits at the reservation's start;
- every queued job gets exactly one decision and every waiting job a reason;
- victims of preemption are of a lower class (or borrowers) and on the named cluster.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.jobs import Job, JobSpec, JobStatus, Placement, PriorityClass
from suanli.domain.quota import Quota, TenantShare, flavors_of, gpu_flavor
from suanli.domain.resources import ZERO, Resources
from suanli.logic.scheduling.backfill import Release
from suanli.logic.scheduling.capacity import place_on
from suanli.logic.scheduling.cycle import CycleResult, run_cycle
from suanli.logic.scheduling.policies import get_policy, policy_names
from suanli.logic.scheduling.snapshot import ClusterView, NodeView, Snapshot, expected_end

NOW = datetime(2026, 6, 1, tzinfo=UTC)
MODELS = ["H100", "A100", "T4"]
TENANTS = [TenantId("t0"), TenantId("t1"), TenantId("t2")]
CLASSES = list(PriorityClass)


@dataclass(frozen=True)
class World:
    snapshot: Snapshot
    held: dict[tuple[ClusterId, NodeId], Resources]


node_st = st.tuples(st.integers(4, 64), st.sampled_from([0, 4, 8]), st.sampled_from(MODELS))
cluster_st = st.tuples(st.integers(0, 2), st.lists(node_st, min_size=1, max_size=4))
queued_st = st.tuples(
    st.sampled_from(TENANTS),
    st.sampled_from(CLASSES),
    st.integers(0, 8),  # GPUs per member
    st.sampled_from([*MODELS, "any"]),
    st.integers(1, 3),  # gang
    st.sampled_from([None, 600, 3600, 36000]),
    st.sampled_from([(), ("r0",), ("r1", "r0")]),
)
running_st = st.tuples(
    st.sampled_from(TENANTS),
    st.sampled_from(CLASSES),
    st.integers(1, 8),
    st.sampled_from([None, 1800, 7200]),
    st.booleans(),  # preempt requested
)
quota_st = st.lists(
    st.tuples(
        st.sampled_from(TENANTS[:2]),
        st.sampled_from(MODELS),
        st.sampled_from([0, 4, 8, 16]),
        st.sampled_from([None, 0, 4]),
        st.sampled_from([None, 0, 4]),
    ),
    max_size=6,
)


def build(
    clusters: list[tuple[int, list[tuple[int, int, str]]]],
    running: list[tuple[TenantId, PriorityClass, int, int | None, bool]],
    queued: list[tuple[TenantId, PriorityClass, int, str, int, int | None, tuple[str, ...]]],
    quotas: list[tuple[TenantId, str, int, int | None, int | None]],
    cohort: bool,
) -> World:
    nodes: dict[tuple[ClusterId, NodeId], Resources] = {}
    layout: list[tuple[ClusterId, RegionId, list[NodeId]]] = []
    for c, (region, specs) in enumerate(clusters):
        cid = ClusterId(f"c{c}")
        ids = []
        for n, (cpus, gpus, model) in enumerate(specs):
            nid = NodeId(f"n{n}")
            nodes[(cid, nid)] = Resources(cpus * 1000, cpus * 4096, {model: gpus} if gpus else {})
            ids.append(nid)
        layout.append((cid, RegionId(f"r{region}"), ids))
    # holders: place each running job greedily where it fits
    free = dict(nodes)
    holders: list[Job] = []
    for i, (tenant, cls, gpus, limit, stopping) in enumerate(running):
        for key, cap in free.items():
            held_model = next(iter(cap.gpus), None)
            if held_model is None or cap.gpus[held_model] < gpus or cap.cpu_milli < 1000:
                continue
            alloc = Resources(1000, 1024, {held_model: gpus})
            free[key] = cap - alloc
            spec = JobSpec.create(
                command=["x"],
                resources=Resources.request(cpus=1, memory_mb=1024, gpus={held_model: gpus}),
                time_limit_s=limit,
                priority_class=cls,
            )
            holders.append(
                Job(
                    JobId(f"r{i}"),
                    tenant,
                    UserId("u"),
                    spec,
                    JobStatus.RUNNING,
                    NOW - timedelta(hours=2),
                    seq=i,
                    cluster_id=ClusterId(key[0]),
                    node_id=NodeId(key[1]),
                    allocation=alloc,
                    started_at=NOW - timedelta(minutes=10 * i),
                    preempt_requested=stopping,
                )
            )
            break
    views = tuple(
        ClusterView(
            cid,
            region,
            ProviderId("p"),
            "local",
            tuple(NodeView(cid, n, nodes[(cid, n)], free[(cid, n)]) for n in ids),
        )
        for cid, region, ids in layout
    )
    queue = []
    for i, (tenant, cls, gpus, model, gang, limit, regions) in enumerate(queued):
        spec = JobSpec.create(
            command=["x"],
            resources=Resources.request(
                cpus=1, memory_mb=2048, gpus={model: gpus} if gpus else None
            ),
            gang_size=gang,
            time_limit_s=limit,
            priority_class=cls,
            regions=list(regions),
        )
        queue.append(
            Job(
                JobId(f"q{i}"),
                tenant,
                UserId("u"),
                spec,
                JobStatus.PENDING,
                NOW - timedelta(minutes=i),
                seq=1000 + i,
            )
        )
    quota_rows = {}
    for tenant, model, nominal, borrow, lend in quotas:
        quota_rows[(tenant, model)] = Quota(
            tenant,
            gpu_flavor(model),
            nominal,
            borrow,
            None if lend is None else min(lend, nominal),
        )
    shares = {t: TenantShare(t, 1.0, "c" if cohort else None) for t in TENANTS}
    snap = Snapshot(
        NOW,
        views,
        tuple(queue),
        tuple(holders),
        shares=shares,
        quotas=tuple(quota_rows.values()),
    )
    return World(snap, free)


def check_quota(world: World, result: CycleResult) -> None:
    snap = world.snapshot
    quotas = {(q.tenant_id, q.flavor): q for q in snap.quotas}
    limited = {q.tenant_id for q in snap.quotas}
    usage_before: dict[tuple[TenantId, str], int] = defaultdict(int)
    for job in snap.running:
        for f, n in flavors_of(job.allocation or ZERO).items():
            usage_before[(job.tenant_id, f)] += n
    usage = defaultdict(int, usage_before)
    tenant_of = {j.id: j.tenant_id for j in snap.queue}
    grew: set[tuple[TenantId, str]] = set()
    for a in result.admitted:
        for f, n in flavors_of(a.allocation).items():
            usage[(tenant_of[a.job_id], f)] += n
            grew.add((tenant_of[a.job_id], f))
    cohort = {t: s.cohort for t, s in snap.shares.items() if t in limited and s.cohort}

    def q(t: TenantId, f: str) -> Quota:
        return quotas.get((t, f)) or Quota(t, f, 0, None, 0)

    for tenant, flavor in grew:
        if tenant not in limited:
            continue
        quota = q(tenant, flavor)
        after = usage[(tenant, flavor)]
        if tenant not in cohort:
            assert after <= quota.nominal, (tenant, flavor, after, quota)
        elif quota.borrowing_limit is not None:
            assert after - quota.nominal <= quota.borrowing_limit, (tenant, flavor, after, quota)
    # a cohort pool that grew this cycle is not overdrawn
    for name in set(cohort.values()):
        members = [t for t, c in cohort.items() if c == name]
        for flavor in {f for _, f in grew}:

            def draw(
                u: dict[tuple[TenantId, str], int], f: str = flavor, ms: list[TenantId] = members
            ) -> int:
                return sum(max(0, u[(t, f)] - (q(t, f).nominal - q(t, f).lendable)) for t in ms)

            pool = sum(q(t, flavor).lendable for t in members)
            if draw(usage) > draw(usage_before):
                assert draw(usage) <= pool


worlds = st.builds(
    build,
    st.lists(cluster_st, min_size=1, max_size=3),
    st.lists(running_st, max_size=8),
    st.lists(queued_st, max_size=25),
    quota_st,
    st.booleans(),
)
"""Random pools, holders, queues, quotas, with or without a cohort."""


@settings(max_examples=300, deadline=None)
@given(worlds)
def test_suanli_policy_invariants(world: World) -> None:
    snap = world.snapshot
    result = run_cycle(snap, get_policy("suanli"))
    by_id = {j.id: j for j in snap.queue}

    # exactly one decision per queued job, and every waiting job has a reason
    decided = [d.job_id for d in result.decisions()]
    assert sorted(decided) == sorted(by_id)
    assert all(w.reason.strip() for w in result.waiting)

    taken = check_capacity(world, result)

    # gangs: all members, one cluster, one model
    for a in result.admitted:
        spec = by_id[a.job_id].spec
        total = a.allocation
        assert total.cpu_milli == spec.resources.cpu_milli * spec.gang_size
        assert total.gpu_count == spec.resources.gpu_count * spec.gang_size
        assert len(total.gpus) <= 1
        regions = {c.id: c.region_id for c in snap.clusters}
        assert not spec.placement.regions or regions[a.cluster_id] in spec.placement.regions

    check_quota(world, result)

    # preemption victims: lower class or borrowers, on the named cluster, never admitted
    running_by_id = {j.id: j for j in snap.running}
    admitted_ids = {a.job_id for a in result.admitted}
    for pre in result.preemptions:
        assert pre.job_id not in admitted_ids
        for v in pre.victims:
            victim = running_by_id[v]
            assert victim.cluster_id == pre.cluster_id and not victim.preempt_requested
            preemptor = by_id[pre.job_id]
            lower = list(PriorityClass).index(victim.spec.priority_class) > list(
                PriorityClass
            ).index(preemptor.spec.priority_class)
            assert lower or victim.tenant_id != preemptor.tenant_id

    # backfill never delays the head reservation
    res = result.reservation
    if res is not None:
        head = by_id[res.job_id]
        free_now = dict(world.held)
        for key, used in taken.items():
            free_now[key] = free_now[key] - used
        releases = []
        for job in snap.running:
            end = expected_end(job, NOW)
            if job.preempt_requested:
                grace = NOW + timedelta(seconds=30)
                end = min(end, grace) if end else grace
            if end is not None and end <= res.start:
                releases.append(
                    Release(
                        end,
                        (job.cluster_id or ClusterId(""), job.node_id or NodeId("")),
                        job.allocation or ZERO,
                    )
                )
        for a in result.admitted:
            limit = by_id[a.job_id].spec.time_limit_s
            if limit is not None and NOW + timedelta(seconds=limit) <= res.start:
                for p in a.placements:
                    releases.append(Release(NOW, (a.cluster_id, p.node_id), p.allocation))
        at_start = dict(free_now)
        for r in releases:
            at_start[r.key] = at_start[r.key] + r.allocation
        keys = [k for k in at_start if k[0] == res.cluster_id]
        bound = next(iter(res.placements[0].allocation.gpus), None)
        member = head.spec.resources
        if bound is not None:
            count = member.gpus[next(iter(member.gpus))]
            member = Resources(member.cpu_milli, member.memory_mb, {bound: count})
        assert place_on(at_start, keys, member, head.spec.gang_size) is not None


def check_capacity(world: World, result: CycleResult) -> dict[tuple[ClusterId, NodeId], Resources]:
    """Capacity, node by node; returns what the admissions take per node."""
    taken: dict[tuple[ClusterId, NodeId], Resources] = defaultdict(lambda: ZERO)
    for a in result.admitted:
        for p in a.placements:
            taken[(a.cluster_id, p.node_id)] = taken[(a.cluster_id, p.node_id)] + p.allocation
    for key, used in taken.items():
        free = world.held[key]
        assert used.cpu_milli <= free.cpu_milli and used.memory_mb <= free.memory_mb
        for model, n in used.gpus.items():
            assert n <= free.gpus.get(model, 0)
    return taken


@pytest.mark.parametrize("name", policy_names())
@settings(max_examples=60, deadline=None)
@given(world=worlds)
def test_every_policy_keeps_capacity_and_quota(name: str, world: World) -> None:
    """Quota, like capacity, is an invariant of the cycle: a policy that does not weigh
    quotas (fifo, sjf, the literature's) still never admits past one."""
    result = run_cycle(world.snapshot, get_policy(name))
    decided = [d.job_id for d in result.decisions()]
    assert sorted(decided) == sorted(j.id for j in world.snapshot.queue)
    assert all(w.reason.strip() for w in result.waiting)
    check_capacity(world, result)
    check_quota(world, result)


def test_same_snapshot_same_decisions() -> None:
    world = build(
        [(0, [(16, 8, "H100"), (16, 8, "A100")]), (1, [(8, 4, "T4")])],
        [(TENANTS[0], PriorityClass.PREEMPTIBLE, 4, 1800, False)],
        [(TENANTS[i % 3], CLASSES[i % 3], i % 9, "any", 1 + i % 2, 3600, ()) for i in range(20)],
        [],
        False,
    )
    a = run_cycle(world.snapshot, get_policy("suanli"))
    b = run_cycle(world.snapshot, get_policy("suanli"))
    assert a == b


def test_placements_are_per_node() -> None:
    world = build(
        [(0, [(16, 8, "H100"), (16, 8, "H100")])],
        [],
        [(TENANTS[0], PriorityClass.STANDARD, 8, "H100", 2, None, ())],
        [],
        False,
    )
    (admit,) = run_cycle(world.snapshot, get_policy("suanli")).admitted
    assert {p.node_id for p in admit.placements} == {"n0", "n1"}
    assert all(p.allocation.gpus == {"H100": 8} for p in admit.placements)
    assert isinstance(admit.placements[0], Placement)
