"""How the Kubernetes engine reads a Job and its pods (no API server needed)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from suanli.adapters.engines.kubernetes_status import EndRecord, NodeLoss, verdict
from suanli.domain.jobs import JobStatus

NOW = datetime(2025, 1, 2, 3, 10, 0, tzinfo=UTC)
T0, T1 = "2025-01-02T03:04:05Z", "2025-01-02T03:05:05Z"


def job(
    notes: Mapping[str, str] | None = None,
    *,
    conditions: list[dict[str, Any]] | None = None,
    deadline: int = 600,
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "suanli-j-1-abc",
            "annotations": {"suanli.io/job-id": "j", "suanli.io/attempt": "1", **(notes or {})},
        },
        "spec": {"activeDeadlineSeconds": deadline},
        "status": {"startTime": T0, "conditions": conditions or []},
    }


def pod(
    phase: str = "Running",
    state: dict[str, Any] | None = None,
    *,
    node: str | None = "n1",
    deleting: bool = False,
    reason: str | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "suanli-j-1-abc-x1", "creationTimestamp": T0}
    if deleting:
        meta["deletionTimestamp"] = T1
    status: dict[str, Any] = {"phase": phase}
    if state is not None:
        status["containerStatuses"] = [{"name": "task", "state": state}]
    if reason:
        status["reason"], status["message"] = reason, "The node was low on memory."
    spec: dict[str, Any] = {
        "containers": [{"name": "task", "resources": {"limits": {"memory": "1Gi"}}}]
    }
    if node:
        spec["nodeName"] = node
    return {"metadata": meta, "spec": spec, "status": status}


def running() -> dict[str, Any]:
    return {"running": {"startedAt": T0}}


def terminated(code: int, reason: str = "Error") -> dict[str, Any]:
    return {"terminated": {"exitCode": code, "reason": reason, "startedAt": T0, "finishedAt": T1}}


def healthy(_: str) -> NodeLoss | None:
    return None


def condition(kind: str, reason: str = "", message: str = "") -> dict[str, Any]:
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": T1,
    }


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_pending_pod_is_running_without_a_start() -> None:
    v = verdict(job(), [pod("Pending", node=None)], healthy, NOW)
    assert v.state.status == JobStatus.RUNNING and v.state.started_at is None
    assert not v.annotations and not v.stop


def test_a_started_container_is_running_and_its_start_is_recorded_once() -> None:
    v = verdict(job(), [pod("Running", running())], healthy, NOW)
    assert v.state.status == JobStatus.RUNNING
    assert v.state.started_at == at(T0)
    assert v.annotations == {"suanli.io/started-at": at(T0).isoformat()}
    again = verdict(job(v.annotations), [pod("Running", running())], healthy, NOW)
    assert not again.annotations


def test_a_complete_job_succeeded_with_the_containers_times() -> None:
    v = verdict(
        job(conditions=[condition("Complete")]),
        [pod("Succeeded", terminated(0, "Completed"))],
        healthy,
        NOW,
    )
    s = v.state
    assert (s.status, s.exit_code, s.started_at, s.ended_at) == (
        JobStatus.SUCCEEDED,
        0,
        at(T0),
        at(T1),
    )
    assert (s.job_id, s.attempt, s.engine_job_id) == ("j", 1, "suanli-j-1-abc")


def test_a_failed_pod_gives_its_exit_code_before_the_job_controller_answers() -> None:
    s = verdict(job(), [pod("Failed", terminated(3))], healthy, NOW).state
    assert (s.status, s.exit_code, s.reason) == (JobStatus.FAILED, 3, "")


def test_deadline_exceeded_is_a_timeout() -> None:
    failed = condition(
        "Failed", "DeadlineExceeded", "Job was active longer than specified deadline"
    )
    s = verdict(job(conditions=[failed], deadline=60), [], healthy, NOW).state
    assert s.status == JobStatus.FAILED
    assert s.reason.startswith("TIMEOUT: time limit of 60 s exceeded")
    assert s.started_at == at(T0) and s.ended_at == at(T1)


def test_oom_killed_is_oom() -> None:
    failed = condition("Failed", "BackoffLimitExceeded")
    s = verdict(
        job(conditions=[failed]), [pod("Failed", terminated(137, "OOMKilled"))], healthy, NOW
    ).state
    assert (s.status, s.exit_code) == (JobStatus.FAILED, 137)
    assert s.reason == "OOM: the container exceeded its memory limit of 1Gi"


def test_an_eviction_by_the_kubelet_is_a_node_failure() -> None:
    s = verdict(job(), [pod("Failed", None, reason="Evicted")], healthy, NOW).state
    assert s.status == JobStatus.LOST
    assert s.reason.startswith("NODE_FAIL: the pod was failed for its node (Evicted")


def test_a_lost_node_loses_the_task_stops_the_job_and_records_it() -> None:
    last = at("2025-01-02T03:06:00Z")

    def lost(node: str) -> NodeLoss | None:
        return NodeLoss(f"node {node} stopped reporting (NodeStatusUnknown)", last)

    v = verdict(job(), [pod("Running", running())], lost, NOW)
    assert v.state.status == JobStatus.LOST and v.stop
    assert v.state.reason.startswith("NODE_FAIL: node n1 stopped reporting")
    assert v.state.ended_at == last  # billed to the last sign of life
    record = EndRecord.parse(v.annotations["suanli.io/end"])
    assert record is not None and record.status == JobStatus.LOST
    # Once recorded, the answer stays, whatever the pods and nodes do next.
    later = verdict(job(v.annotations), [], healthy, NOW.replace(hour=9))
    assert later.state == v.state and not later.stop


def test_a_pod_deleted_by_the_cluster_is_a_node_failure() -> None:
    v = verdict(job(), [pod("Running", running(), deleting=True)], healthy, NOW)
    assert v.state.status == JobStatus.LOST and v.stop
    assert "deleted by the cluster" in v.state.reason


def test_a_cancel_runs_until_the_pod_stops_then_is_recorded() -> None:
    end = EndRecord(JobStatus.CANCELLED, at(T1), started_at=at(T0), grace_s=2.0).to_json()
    stopping = verdict(
        job({"suanli.io/end": end}), [pod("Running", running(), deleting=True)], healthy, NOW
    )
    assert stopping.state.status == JobStatus.RUNNING
    assert "suanli.io/end" not in stopping.annotations
    gone = verdict(job({"suanli.io/end": end}), [], healthy, NOW)
    assert gone.state.status == JobStatus.CANCELLED and gone.state.ended_at == NOW
    recorded = json.loads(gone.annotations["suanli.io/end"])
    assert recorded["ended_at"] == NOW.isoformat() and recorded["grace_s"] == 2.0
    later = verdict(job(gone.annotations), [], healthy, NOW.replace(hour=9))
    assert later.state == gone.state and not later.annotations


def test_a_cancelled_pod_on_a_lost_node_does_not_keep_it_running() -> None:
    end = EndRecord(JobStatus.CANCELLED, at(T1)).to_json()

    def lost(node: str) -> NodeLoss | None:
        return NodeLoss("gone")

    v = verdict(job({"suanli.io/end": end}), [pod("Running", running(), deleting=True)], lost, NOW)
    assert v.state.status == JobStatus.CANCELLED


@pytest.mark.parametrize("text", [None, "", "not json", '{"status": "RUNNING", "at": "x"}'])
def test_unreadable_end_records_are_ignored(text: str | None) -> None:
    assert EndRecord.parse(text) is None


def test_a_deadline_the_job_controller_misses_is_enforced_by_the_engine() -> None:
    # v1.20 notices a passed deadline only when the Job is synced for another reason
    overdue = verdict(job(deadline=60), [pod("Running", running())], healthy, NOW)
    assert overdue.state.status == JobStatus.RUNNING and overdue.stop
    end = json.loads(overdue.annotations["suanli.io/end"])
    assert end["status"] == "FAILED" and end["reason"].startswith("TIMEOUT: time limit of 60 s")
    stopped = verdict(job(overdue.annotations, deadline=60), [], healthy, NOW)
    assert stopped.state.status == JobStatus.FAILED
    assert stopped.state.reason.startswith("TIMEOUT")
