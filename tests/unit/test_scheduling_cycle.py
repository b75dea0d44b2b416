from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.jobs import Job, JobSpec, JobStatus
from suanli.domain.resources import Resources
from suanli.logic.scheduling.cycle import run_cycle
from suanli.logic.scheduling.decisions import Admit
from suanli.logic.scheduling.policies import get_policy
from suanli.logic.scheduling.snapshot import ClusterView, NodeView, Snapshot

NOW = datetime(2026, 1, 1, tzinfo=UTC)
MODELS = ["T4", "A100-80GB"]


def job(i: int, cpus: int, mem: int, gpus: int, model: str, region: str | None) -> Job:
    spec = JobSpec.create(
        command=["true"],
        resources=Resources.request(cpus=cpus, memory_mb=mem, gpus={model: gpus} if gpus else None),
        regions=[region] if region else [],
    )
    return Job(JobId(f"j-{i}"), TenantId("t"), UserId("u"), spec, JobStatus.PENDING, NOW, seq=i)


def node(c: int, n: int, cpus: int, mem: int, gpus: int, model: str) -> NodeView:
    cap = Resources(cpus * 1000, mem, {model: gpus} if gpus else {})
    return NodeView(ClusterId(f"c{c}"), NodeId(f"n{n}"), cap, cap)


jobs_st = st.lists(
    st.tuples(
        st.integers(1, 16),
        st.integers(1, 65536),
        st.integers(0, 8),
        st.sampled_from(MODELS),
        st.sampled_from([None, "r0", "r1"]),
    ),
    max_size=40,
)
clusters_st = st.lists(
    st.lists(
        st.tuples(
            st.integers(1, 32),
            st.integers(1024, 131072),
            st.integers(0, 8),
            st.sampled_from(MODELS),
        ),
        min_size=1,
        max_size=4,
    ),
    max_size=4,
)


def snapshot(
    cluster_specs: list[list[tuple[int, int, int, str]]],
    job_specs: list[tuple[int, int, int, str, str | None]],
) -> Snapshot:
    clusters = tuple(
        ClusterView(
            ClusterId(f"c{c}"),
            RegionId(f"r{c % 2}"),
            ProviderId("p"),
            "local",
            tuple(node(c, n, *ns) for n, ns in enumerate(nodes)),
        )
        for c, nodes in enumerate(cluster_specs)
    )
    return Snapshot(NOW, clusters, tuple(job(i, *js) for i, js in enumerate(job_specs)))


@settings(max_examples=200, deadline=None)
@given(clusters_st, jobs_st)
def test_fifo_invariants(
    cluster_specs: list[list[tuple[int, int, int, str]]],
    job_specs: list[tuple[int, int, int, str, str | None]],
) -> None:
    snap = snapshot(cluster_specs, job_specs)
    result = run_cycle(snap, get_policy("fifo"))
    # every job gets exactly one decision, and every waiting job a reason
    decided = [d.job_id for d in result.decisions()]
    assert sorted(decided) == sorted(j.id for j in snap.queue)
    assert all(w.reason for w in result.waiting)
    # capacity is never exceeded
    used: dict[tuple[str, str], Resources] = {}
    for a in result.admitted:
        used[(a.cluster_id, a.node_id)] = (
            used.get((a.cluster_id, a.node_id), Resources()) + a.allocation
        )
    for c in snap.clusters:
        for n in c.nodes:
            u = used.get((c.id, n.node_id), Resources())
            assert u.cpu_milli <= n.free.cpu_milli and u.memory_mb <= n.free.memory_mb
            for model, count in u.gpus.items():
                assert count <= n.free.gpus.get(model, 0)
    # region constraints hold
    by_id = {j.id: j for j in snap.queue}
    regions = {c.id: c.region_id for c in snap.clusters}
    for a in result.admitted:
        allowed = by_id[a.job_id].spec.placement.regions
        assert not allowed or regions[a.cluster_id] in allowed
    # strict FIFO: nothing admitted after the first blocking wait
    order = {j.id: j.seq for j in snap.queue}
    blockers = [w for w in result.waiting if w.blocking]
    if blockers:
        first = min(order[w.job_id] for w in blockers)
        assert all(order[a.job_id] < first for a in result.admitted)


def test_a_job_that_can_never_fit_names_the_closest_miss_and_does_not_block() -> None:
    snap = snapshot([[(4, 8192, 0, "T4")]], [(64, 1024, 0, "T4", None), (1, 1024, 0, "T4", None)])
    result = run_cycle(snap, get_policy("fifo"))
    (wait,) = result.waiting
    assert wait.job_id == "j-0" and not wait.blocking
    assert "c0/n0" in wait.reason and "CPUs" in wait.reason and "suanli pool" in wait.reason
    assert [a.job_id for a in result.admitted] == ["j-1"]
    assert isinstance(result.admitted[0], Admit)


def test_unknown_policy_lists_the_valid_names() -> None:
    import pytest

    from suanli.domain.errors import InvalidInput

    with pytest.raises(InvalidInput) as exc:
        get_policy("nope")
    assert exc.value.hint and "fifo" in exc.value.hint
