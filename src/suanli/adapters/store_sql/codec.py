"""Conversions between rows and domain objects (the only place that knows both)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.job_links import ArrayTask, Dependency, DependencyKind
from suanli.domain.jobs import (
    Attempt,
    Job,
    JobSpec,
    JobStatus,
    Placement,
    PlacementConstraints,
    PriorityClass,
)
from suanli.domain.resources import Resources
from suanli.domain.standard import Sector, WorkloadClass

REASON_LIMIT = 1000  # the width of every reason column (tables.py)


def clip(text: str, limit: int = REASON_LIMIT) -> str:
    """Reasons are for people and may quote long inputs (a command, a region list): keep
    them within the column so a long one can never fail a transaction."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def spec_to_json(spec: JobSpec) -> dict[str, Any]:
    return {
        "command": list(spec.command),
        "resources": spec.resources.to_dict(),
        "name": spec.name,
        "time_limit_s": spec.time_limit_s,
        "priority_class": spec.priority_class.value,
        "regions": list(spec.placement.regions),
        "env": dict(spec.env),
        "working_dir": spec.working_dir,
        "max_attempts": spec.max_attempts,
        "sector": spec.sector.value,
        "workload_class": spec.workload_class.value if spec.workload_class else None,
        "gang_size": spec.gang_size,
        "deny_regions": list(spec.placement.deny_regions),
        "providers": list(spec.placement.providers),
        "deny_providers": list(spec.placement.deny_providers),
        "gpu_models": list(spec.placement.gpu_models),
        "data_region": spec.placement.data_region,
        "max_data_rtt_ms": spec.placement.max_data_rtt_ms,
        "client_region": spec.placement.client_region,
        "latency_slo_ms": spec.placement.latency_slo_ms,
        "service": spec.service,
        "job_type": spec.job_type,
        "throughput_hints": dict(spec.throughput_hints),
        "min_gang_size": spec.min_gang_size,
        "max_gang_size": spec.max_gang_size,
        "array": None
        if spec.array is None
        else {"id": spec.array.array_id, "index": spec.array.index, "limit": spec.array.limit},
        "dependencies": [{"kind": d.kind.value, "jobs": list(d.jobs)} for d in spec.dependencies],
    }


def spec_from_json(data: Mapping[Any, Any]) -> JobSpec:
    return JobSpec(
        command=tuple(data["command"]),
        resources=Resources.from_dict(data["resources"]),
        name=data.get("name", ""),
        time_limit_s=data.get("time_limit_s"),
        priority_class=PriorityClass(data.get("priority_class", "standard")),
        env=data.get("env") or {},
        working_dir=data.get("working_dir"),
        max_attempts=int(data.get("max_attempts", 3)),
        sector=Sector(data.get("sector", "other")),
        workload_class=WorkloadClass(data["workload_class"])
        if data.get("workload_class")
        else None,
        gang_size=int(data.get("gang_size", 1)),
        # stored flat, as before the constraints were one value: old rows read the same
        placement=PlacementConstraints(
            regions=tuple(RegionId(r) for r in data.get("regions", ())),
            deny_regions=tuple(RegionId(r) for r in data.get("deny_regions", ())),
            providers=tuple(ProviderId(p) for p in data.get("providers", ())),
            deny_providers=tuple(ProviderId(p) for p in data.get("deny_providers", ())),
            gpu_models=tuple(data.get("gpu_models", ())),
            data_region=RegionId(data["data_region"]) if data.get("data_region") else None,
            max_data_rtt_ms=data.get("max_data_rtt_ms"),
            client_region=RegionId(data["client_region"]) if data.get("client_region") else None,
            latency_slo_ms=data.get("latency_slo_ms"),
        ),
        service=data.get("service", ""),
        job_type=data.get("job_type", ""),
        throughput_hints=data.get("throughput_hints") or {},
        min_gang_size=data.get("min_gang_size"),
        max_gang_size=data.get("max_gang_size"),
        array=ArrayTask(str(a["id"]), int(a["index"]), a.get("limit"))
        if (a := data.get("array"))
        else None,
        dependencies=tuple(
            Dependency(DependencyKind(d["kind"]), tuple(d["jobs"]))
            for d in data.get("dependencies") or ()
        ),
    )


def placements_to_json(placements: tuple[Placement, ...]) -> list[dict[str, Any]] | None:
    if not placements:
        return None
    return [
        {"node_id": p.node_id, "allocation": p.allocation.to_dict(), "members": p.members}
        for p in placements
    ]


def placements_from_json(data: Any) -> tuple[Placement, ...]:
    if not data:
        return ()
    return tuple(
        Placement(
            NodeId(p["node_id"]), Resources.from_dict(p["allocation"]), int(p.get("members", 1))
        )
        for p in data
    )


def job_to_row(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "tenant_id": job.tenant_id,
        "user_id": job.user_id,
        "name": job.spec.name,
        "spec": spec_to_json(job.spec),
        "status": job.status.value,
        "reason": clip(job.reason),
        "attempt": job.attempt,
        "cluster_id": job.cluster_id,
        "node_id": job.node_id,
        "allocation": job.allocation.to_dict() if job.allocation else None,
        "submitted_at": job.submitted_at,
        "started_at": job.started_at,
        "ended_at": job.ended_at,
        "exit_code": job.exit_code,
        "cancel_requested": job.cancel_requested,
        "updated_at": job.updated_at,
        "placements": placements_to_json(job.placements),
        "preempt_requested": job.preempt_requested,
        "array_id": job.spec.array.array_id if job.spec.array else None,
    }


def job_from_row(row: Mapping[Any, Any]) -> Job:
    return Job(
        id=JobId(row["id"]),
        tenant_id=TenantId(row["tenant_id"]),
        user_id=UserId(row["user_id"]),
        spec=spec_from_json(row["spec"]),
        status=JobStatus(row["status"]),
        submitted_at=row["submitted_at"],
        seq=row["seq"],
        reason=row["reason"],
        attempt=row["attempt"],
        cluster_id=row["cluster_id"],
        node_id=row["node_id"],
        allocation=Resources.from_dict(row["allocation"]) if row["allocation"] else None,
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        exit_code=row["exit_code"],
        cancel_requested=bool(row["cancel_requested"]),
        updated_at=row["updated_at"],
        placements=placements_from_json(row["placements"]),
        preempt_requested=bool(row["preempt_requested"]),
    )


def attempt_to_row(attempt: Attempt) -> dict[str, Any]:
    return {
        "job_id": attempt.job_id,
        "number": attempt.number,
        "cluster_id": attempt.cluster_id,
        "node_id": attempt.node_id,
        "region_id": attempt.region_id,
        "allocation": attempt.allocation.to_dict(),
        "status": attempt.status.value,
        "scheduled_at": attempt.scheduled_at,
        "dispatched_at": attempt.dispatched_at,
        "engine_job_id": attempt.engine_job_id,
        "started_at": attempt.started_at,
        "ended_at": attempt.ended_at,
        "exit_code": attempt.exit_code,
        "reason": clip(attempt.reason),
        "placements": placements_to_json(attempt.placements),
        "cpu_s": attempt.cpu_s,
    }


def attempt_from_row(row: Mapping[Any, Any]) -> Attempt:
    return Attempt(
        job_id=JobId(row["job_id"]),
        number=row["number"],
        cluster_id=ClusterId(row["cluster_id"]),
        node_id=NodeId(row["node_id"]),
        region_id=RegionId(row["region_id"]),
        allocation=Resources.from_dict(row["allocation"]),
        status=JobStatus(row["status"]),
        scheduled_at=row["scheduled_at"],
        dispatched_at=row["dispatched_at"],
        engine_job_id=row["engine_job_id"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        exit_code=row["exit_code"],
        reason=row["reason"],
        placements=placements_from_json(row["placements"]),
        cpu_s=row["cpu_s"],
    )
