"""What a batch/v1 Job and its pods mean as an EngineState (pure: no API calls).

`verdict` reads the Job and pod objects as the API returns them (JSON dicts, camelCase)
and answers the task's state plus what the engine must write back to keep that answer
stable (first observations go into the Job's annotations, which outlive the pod):

- The engine's own end record (annotation ``suanli.io/end``) wins: LOST stays LOST;
  CANCELLED is RUNNING while a pod of the Job still runs (it is being stopped), then
  CANCELLED, its end time recorded once.
- Job condition Complete -> SUCCEEDED. Failed with reason DeadlineExceeded -> FAILED with
  reason ``TIMEOUT: ...``; any other Failed -> read from the pod (below).
- No condition yet, but the pod ended by itself (terminal phase, no deletion) -> the pod's
  end, so the answer does not wait for the Job controller.
- The pod ended: Succeeded -> SUCCEEDED; Failed -> FAILED with the container's exit code;
  reason ``OOM: ...`` for OOMKilled; LOST with ``NODE_FAIL: ...`` when the kubelet failed it
  for its node (Evicted, NodeLost, Shutdown...).
- A live pod whose node is gone or stopped reporting (the node lifecycle controller sets
  Ready=Unknown), or that was deleted by someone other than this engine (taint-based
  eviction, drain) -> LOST ``NODE_FAIL: ...`` and the engine must stop the Job (else the
  v1.20 Job controller replaces the pod and the attempt would run twice).
- Otherwise RUNNING; ``started_at`` is when the container started (None while pending).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from suanli.adapters.engines.kubernetes_manifest import (
    ATTEMPT,
    CONTAINER,
    END,
    JOB_ID,
    STARTED_AT,
)
from suanli.domain.ids import JobId
from suanli.domain.jobs import JobStatus
from suanli.ports.engine import EngineState

Obj = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class NodeLoss:
    """Why a node cannot be running pods any more, and when it was last heard of."""

    reason: str
    last_seen: datetime | None = None


NodeProblem = Callable[[str], NodeLoss | None]
"""The loss of the named node (gone, stopped reporting), or None while it is fine."""

NODE_POD_REASONS = frozenset({"Evicted", "NodeLost", "Shutdown", "NodeShutdown", "Terminated"})
"""Pod status reasons with which a kubelet or the node controller fails a pod for its node."""
_PLAIN_EXIT_REASONS = frozenset({"", "Error", "Completed"})


DEADLINE_SLACK_S = 10.0
"""How long past a Job's activeDeadlineSeconds the engine waits for the Job controller
before it stops the Job itself."""


@dataclass(frozen=True, slots=True)
class EndRecord:
    """The engine's record of an end it caused or declared (annotation ``suanli.io/end``)."""

    status: JobStatus  # CANCELLED, LOST, or FAILED (a time limit the engine enforced)
    at: datetime
    reason: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    grace_s: float | None = None

    def to_json(self) -> str:
        data: dict[str, Any] = {"status": self.status.value, "at": self.at.isoformat()}
        if self.reason:
            data["reason"] = self.reason
        if self.started_at:
            data["started_at"] = self.started_at.isoformat()
        if self.ended_at:
            data["ended_at"] = self.ended_at.isoformat()
        if self.grace_s is not None:
            data["grace_s"] = self.grace_s
        return json.dumps(data, sort_keys=True)

    @classmethod
    def parse(cls, text: str | None) -> EndRecord | None:
        if not text:
            return None
        try:
            data = json.loads(text)
            status = JobStatus(data["status"])
            at = datetime.fromisoformat(data["at"])
        except (ValueError, KeyError, TypeError):
            return None
        if status not in (JobStatus.CANCELLED, JobStatus.LOST, JobStatus.FAILED):
            return None
        grace = data.get("grace_s")
        return cls(
            status,
            at,
            str(data.get("reason") or ""),
            parse_time(data.get("started_at")),
            parse_time(data.get("ended_at")),
            float(grace) if isinstance(grace, int | float) else None,
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    state: EngineState
    annotations: Mapping[str, str] = field(default_factory=dict)
    """Annotations the engine should add to the Job (first observations)."""
    stop: bool = False
    """The engine must stop the Job's pods (declared LOST)."""


def verdict(job: Obj, pods: Sequence[Obj], node_problem: NodeProblem, now: datetime) -> Verdict:
    """The state of the task run by `job` (see the module doc)."""
    meta = job.get("metadata") or {}
    annotations: Mapping[str, str] = meta.get("annotations") or {}
    name = str(meta.get("name", ""))
    pod = _primary(pods)
    started = parse_time(annotations.get(STARTED_AT)) or _container_start(pod)
    record: dict[str, str] = {}
    if STARTED_AT not in annotations and _container_start(pod) is not None:
        record[STARTED_AT] = _iso(_container_start(pod))

    def state(status: JobStatus, **kw: Any) -> EngineState:
        return EngineState(
            engine_job_id=name,
            job_id=JobId(annotations.get(JOB_ID, "")),
            attempt=_int(annotations.get(ATTEMPT)) or 0,
            status=status,
            **kw,
        )

    end = EndRecord.parse(annotations.get(END))
    if end is not None:
        return _recorded_end(end, pods, pod, node_problem, now, state, started, record)

    status = job.get("status") or {}
    fallback_start = started or parse_time(status.get("startTime"))
    ended_by_controller = _controller_end(job, pod, state, fallback_start)
    if ended_by_controller is not None:
        return Verdict(ended_by_controller, record)
    lost = _lost(pods, node_problem)
    if lost is not None:
        return _lost_verdict(lost, now, started, state, record)
    if (overdue := _overdue(job, now, fallback_start)) is not None:
        record[END] = overdue.to_json()
        return Verdict(state(JobStatus.RUNNING, started_at=fallback_start), record, stop=True)
    return Verdict(state(JobStatus.RUNNING, started_at=_container_start(pod) or started), record)


def _controller_end(
    job: Obj, pod: Obj | None, state: Callable[..., EngineState], started: datetime | None
) -> EngineState | None:
    """The end the Job controller or the pod reports (complete, past its deadline, the
    pod's container ended, failed without a pod), else None."""
    status = job.get("status") or {}
    complete = _condition(job, "Complete")
    if complete is not None:
        ended = _container_end(pod) or parse_time(status.get("completionTime"))
        ended = ended or parse_time(complete.get("lastTransitionTime"))
        code = _exit_code(pod)
        return state(
            JobStatus.SUCCEEDED,
            started_at=started,
            ended_at=ended,
            exit_code=0 if code is None else code,
        )
    failed = _condition(job, "Failed")
    if failed is not None and failed.get("reason") == "DeadlineExceeded":
        limit = (job.get("spec") or {}).get("activeDeadlineSeconds")
        return state(
            JobStatus.FAILED,
            started_at=started,
            ended_at=parse_time(failed.get("lastTransitionTime")),
            exit_code=_exit_code(pod),
            reason=f"TIMEOUT: time limit of {limit} s exceeded (Kubernetes: "
            f"{failed.get('message')})",
        )
    if pod is not None and _terminal(pod) and not _deleting(pod):
        return _pod_end(pod, state, started)
    if failed is not None:  # failed without a pod to read (deleted by hand)
        return state(
            JobStatus.FAILED,
            started_at=started,
            ended_at=parse_time(failed.get("lastTransitionTime")),
            reason=f"{failed.get('reason')}: {failed.get('message')}",
        )
    return None


def _lost_verdict(
    lost: NodeLoss,
    now: datetime,
    started: datetime | None,
    state: Callable[..., EngineState],
    record: dict[str, str],
) -> Verdict:
    """LOST, recorded on the Job and stopped. A lost attempt is billed up to its node's
    last sign of life, not to when the loss was noticed."""
    ended = min(lost.last_seen, now) if lost.last_seen else now
    if started is not None:
        ended = max(ended, started)
    record[END] = EndRecord(JobStatus.LOST, now, lost.reason, started, ended).to_json()
    st = state(JobStatus.LOST, started_at=started, ended_at=ended, reason=lost.reason)
    return Verdict(st, record, stop=True)


def _overdue(job: Obj, now: datetime, started: datetime | None) -> EndRecord | None:
    """A FAILED end to record if the Job is past its deadline by DEADLINE_SLACK_S. The Job
    controller of v1.20 notices a passed deadline only when the Job is synced again for
    another reason: suanli enforces it (parallelism 0 stops the pods)."""
    limit = (job.get("spec") or {}).get("activeDeadlineSeconds")
    if not limit or started is None:
        return None
    overdue = (now - started).total_seconds() - float(limit)
    if overdue <= DEADLINE_SLACK_S:
        return None
    why = (
        f"TIMEOUT: time limit of {limit} s exceeded (enforced by suanli after "
        f"{overdue:.0f} s without the Job controller's DeadlineExceeded)"
    )
    return EndRecord(JobStatus.FAILED, now, why, started)


def _recorded_end(
    end: EndRecord,
    pods: Sequence[Obj],
    pod: Obj | None,
    node_problem: NodeProblem,
    now: datetime,
    state: Callable[..., EngineState],
    started: datetime | None,
    record: dict[str, str],
) -> Verdict:
    started = end.started_at or started
    if end.status == JobStatus.LOST:
        st = state(
            JobStatus.LOST, started_at=started, ended_at=end.ended_at or end.at, reason=end.reason
        )
        return Verdict(st, record)
    if end.ended_at is not None:
        st = state(end.status, started_at=started, ended_at=end.ended_at, reason=end.reason)
        return Verdict(st, record, stop=False)
    live = [p for p in pods if _live(p) and not _on_problem_node(p, node_problem)]
    if live:  # still being stopped
        return Verdict(state(JobStatus.RUNNING, started_at=started), record)
    ends = [e for e in (_container_end(p) for p in pods) if e is not None]
    ended = max(ends) if ends else now
    done = EndRecord(end.status, end.at, end.reason, started, ended, end.grace_s)
    record[END] = done.to_json()
    return Verdict(state(end.status, started_at=started, ended_at=ended, reason=end.reason), record)


def _pod_end(pod: Obj, state: Callable[..., EngineState], started: datetime | None) -> EngineState:
    status = pod.get("status") or {}
    terminated = _terminated(pod) or {}
    ended = parse_time(terminated.get("finishedAt"))
    code = _int(terminated.get("exitCode"))
    if status.get("phase") == "Succeeded":
        return state(
            JobStatus.SUCCEEDED,
            started_at=started,
            ended_at=ended,
            exit_code=0 if code is None else code,
        )
    pod_reason = str(status.get("reason") or "")
    if pod_reason in NODE_POD_REASONS:
        message = status.get("message") or "no message"
        return state(
            JobStatus.LOST,
            started_at=started,
            ended_at=ended,
            exit_code=code,
            reason=f"NODE_FAIL: the pod was failed for its node ({pod_reason}: {message})",
        )
    why = str(terminated.get("reason") or "")
    if why == "OOMKilled":
        limit = _memory_limit(pod)
        reason = f"OOM: the container exceeded its memory limit{f' of {limit}' if limit else ''}"
    elif why not in _PLAIN_EXIT_REASONS:
        reason = f"{why}: {terminated.get('message') or 'no message'}"
    else:
        reason = ""
    return state(
        JobStatus.FAILED, started_at=started, ended_at=ended, exit_code=code, reason=reason
    )


def _lost(pods: Sequence[Obj], node_problem: NodeProblem) -> NodeLoss | None:
    for pod in pods:
        if not _live(pod):
            continue
        name = (pod.get("metadata") or {}).get("name", "?")
        node = (pod.get("spec") or {}).get("nodeName")
        problem = node_problem(node) if node else None
        if problem:
            reason = f"NODE_FAIL: {problem.reason}; pod {name} was running there"
            return NodeLoss(reason, problem.last_seen)
        if _deleting(pod):
            return NodeLoss(
                f"NODE_FAIL: pod {name} was deleted by the cluster (eviction, drain or by hand) "
                "before it ended"
            )
    return None


def _on_problem_node(pod: Obj, node_problem: NodeProblem) -> bool:
    node = (pod.get("spec") or {}).get("nodeName")
    return isinstance(node, str) and bool(node) and node_problem(node) is not None


# ---- small readers --------------------------------------------------------------------------


def _primary(pods: Sequence[Obj]) -> Obj | None:
    """The pod that speaks for the Job: the newest (backoffLimit 0: normally the only one)."""
    if not pods:
        return None
    return max(pods, key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp", "")))


def _container(pod: Obj | None) -> Obj:
    if pod is None:
        return {}
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        if status.get("name") == CONTAINER:
            return dict(status)
    return {}


def _terminated(pod: Obj | None) -> Obj | None:
    terminated = (_container(pod).get("state") or {}).get("terminated")
    return terminated if isinstance(terminated, Mapping) else None


def _container_start(pod: Obj | None) -> datetime | None:
    state = _container(pod).get("state") or {}
    for phase in ("running", "terminated"):
        started = parse_time((state.get(phase) or {}).get("startedAt"))
        if started is not None:
            return started
    return None


def _container_end(pod: Obj | None) -> datetime | None:
    return parse_time((_terminated(pod) or {}).get("finishedAt"))


def _exit_code(pod: Obj | None) -> int | None:
    return _int((_terminated(pod) or {}).get("exitCode"))


def _terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


def _live(pod: Obj) -> bool:
    return not _terminal(pod) and _terminated(pod) is None


def _deleting(pod: Obj) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def _memory_limit(pod: Obj) -> str | None:
    for container in (pod.get("spec") or {}).get("containers") or []:
        if container.get("name") == CONTAINER:
            limit = ((container.get("resources") or {}).get("limits") or {}).get("memory")
            return str(limit) if limit else None
    return None


def _condition(job: Obj, kind: str) -> Obj | None:
    for condition in (job.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind and condition.get("status") == "True":
            return dict(condition)
    return None


def parse_time(value: object) -> datetime | None:
    """An API timestamp ("2025-01-02T03:04:05Z"), or None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None
