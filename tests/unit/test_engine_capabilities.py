"""Engine capabilities are carried to the cycle and used: a gang goes only to a cluster
whose engine starts gangs (an elastic job stays one member elsewhere), and the engine
port itself refuses a gang task and a bad log request, once for every engine."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.jobs import Job, JobSpec, JobStatus
from suanli.domain.pool import Capability
from suanli.domain.resources import Resources
from suanli.logic.scheduling.cycle import run_cycle
from suanli.logic.scheduling.policies import get_policy, policy_names
from suanli.logic.scheduling.snapshot import ClusterView, NodeView, Snapshot
from suanli.ports.engine import DetectedNode, Engine, EngineError, EngineState, EngineTask

NOW = datetime(2026, 1, 1, tzinfo=UTC)
NO_GANG = frozenset({Capability.GPUS_BY_MODEL, Capability.LOG_STREAMING})


def _cluster(name: str, capabilities: frozenset[Capability] | None) -> ClusterView:
    cap = Resources(64_000, 256_000, {"A100-80GB": 8})
    nodes = tuple(NodeView(ClusterId(name), NodeId(f"{name}-n{i}"), cap, cap) for i in range(2))
    return ClusterView(
        ClusterId(name),
        RegionId("r1"),
        ProviderId("p"),
        "kubernetes" if capabilities == NO_GANG else "slurm",
        nodes,
        capabilities=capabilities,
    )


def _job(i: int, gang: int, *, low: int | None = None, high: int | None = None) -> Job:
    spec = JobSpec.create(
        command=["true"],
        resources=Resources.request(cpus=1, memory_mb=1024, gpus={"A100": 4}),
        gang_size=gang,
        min_gang_size=low,
        max_gang_size=high,
    )
    return Job(JobId(f"j-{i}"), TenantId("t"), UserId("u"), spec, JobStatus.PENDING, NOW, seq=i)


@pytest.mark.parametrize("name", policy_names())
def test_a_gang_goes_only_where_the_engine_starts_gangs(name: str) -> None:
    clusters = (_cluster("a-k8s", NO_GANG), _cluster("b-slurm", NO_GANG | {Capability.GANG}))
    snap = Snapshot(NOW, clusters, (_job(1, 2),), ())
    result = run_cycle(snap, get_policy(name))
    assert [a.cluster_id for a in result.admitted] in ([], ["b-slurm"])

    only_k8s = Snapshot(NOW, clusters[:1], (_job(1, 2), _job(2, 1)), ())
    result = run_cycle(only_k8s, get_policy(name))
    assert [a.job_id for a in result.admitted] == ["j-2"]
    (waiting,) = result.waiting
    assert "cannot start gangs (kubernetes)" in waiting.reason


def test_an_unreported_cluster_is_assumed_able() -> None:
    snap = Snapshot(NOW, (_cluster("old", None),), (_job(1, 2),), ())
    assert [a.cluster_id for a in run_cycle(snap, get_policy("suanli")).admitted] == ["old"]


def test_an_elastic_job_stays_one_member_where_gangs_cannot_start() -> None:
    snap = Snapshot(NOW, (_cluster("k8s", NO_GANG),), (_job(1, 1, low=1, high=4),), ())
    (admit,) = run_cycle(snap, get_policy("suanli")).admitted
    assert admit.allocation.gpus == {"A100-80GB": 4}


class _NoGang(Engine):
    """An engine without GANG: only the port's own checks are exercised."""

    name = "nogang"
    capabilities = NO_GANG

    def __init__(self) -> None:
        self.submitted: list[EngineTask] = []

    def detect(self) -> list[DetectedNode]:
        return []

    def _submit(self, task: EngineTask) -> str:
        self.submitted.append(task)
        return task.key

    def _poll(self, engine_job_id: str) -> EngineState:
        raise AssertionError("not polled here")

    def _cancel(self, engine_job_id: str, grace_s: float) -> None:
        raise AssertionError("not cancelled here")

    def _read_log(self, engine_job_id: str, stream: str, offset: int, limit: int) -> bytes:
        return b"ok"

    def _known(self) -> list[EngineState]:
        return []

    def _forget(self, engine_job_id: str) -> None:
        return None


def test_the_port_refuses_a_gang_and_bad_log_requests_for_every_engine(tmp_path: Path) -> None:
    engine = _NoGang()
    one = EngineTask(JobId("j"), 1, ("true",), Resources(1000, 1024), nodes=(NodeId("n1"),))
    assert engine.submit(one) == "j.1"
    gang = EngineTask(
        JobId("g"), 1, ("true",), Resources(1000, 1024), nodes=(NodeId("n1"), NodeId("n2"))
    )
    with pytest.raises(EngineError, match="cannot start a gang of 2"):
        engine.submit(gang)
    assert [t.job_id for t in engine.submitted] == ["j"]
    with pytest.raises(EngineError, match="unknown log stream"):
        engine.read_log("j.1", "stdin", 0, 10)
    with pytest.raises(EngineError, match="negative"):
        engine.read_log("j.1", "stdout", -1, 10)
    assert engine.read_log("j.1", "stderr", 0, 10) == b"ok"
