"""The agent protocol (agents pull; they may sit behind firewalls). Agent tokens only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.concurrency import run_in_threadpool

from suanli.api.access import Scope, access
from suanli.api.schemas import (
    AgentCalibration,
    AgentHeartbeat,
    AgentRegister,
    AssignmentPublic,
    AttemptRef,
    Claim,
    Instructions,
    PlacementPublic,
    ReportAck,
    ResourcesPublic,
    StateIn,
)
from suanli.api.security import Caller, Plat
from suanli.domain.devices import canonical_gpu_model
from suanli.domain.errors import InvalidInput
from suanli.domain.ids import JobId
from suanli.domain.jobs import JobStatus
from suanli.domain.permissions import Permission
from suanli.domain.resources import Resources
from suanli.services import agents as svc

router = APIRouter(prefix="/agent", tags=["agent"])
AttemptNo = Annotated[int, Path(ge=1, le=2**31 - 1)]
MAX_LOG_CHUNK = 4 * 1024 * 1024


def _keys(refs: list[AttemptRef]) -> list[svc.AttemptKey]:
    return [(JobId(r.job_id), r.attempt) for r in refs]


def _instructions(i: svc.Instructions) -> Instructions:
    return Instructions(
        calibrate=i.calibrate,
        cancel=[AttemptRef(job_id=j, attempt=n) for j, n in i.cancel],
        abandon=[AttemptRef(job_id=j, attempt=n) for j, n in i.abandon],
        preempt=_refs(i.preempt),
    )


def _refs(keys: list[svc.AttemptKey]) -> list[AttemptRef]:
    return [AttemptRef(job_id=j, attempt=n) for j, n in keys]


@router.post("/register", response_model=Instructions)
@access(Permission.AGENT, Scope.CLUSTER)
def register(body: AgentRegister, caller: Caller, plat: Plat) -> Instructions:
    nodes = [
        svc.NodeReport(
            n.hostname,
            Resources(
                round(n.cpus * 1000),
                n.memory_mb,
                {canonical_gpu_model(m, field="nodes.gpus"): c for m, c in n.gpus.items()},
                n.gpu_memory_mb,
            ),
            n.calibration.to_domain() if n.calibration else None,
        )
        for n in body.nodes
    ]
    return _instructions(
        plat.agents.register(
            caller,
            nodes,
            agent_version=body.agent_version,
            known=_keys(body.known),
            capabilities=None if body.capabilities is None else frozenset(body.capabilities),
        )
    )


@router.post("/heartbeat", response_model=Instructions)
@access(Permission.AGENT, Scope.CLUSTER)
def heartbeat(body: AgentHeartbeat, caller: Caller, plat: Plat) -> Instructions:
    return _instructions(plat.agents.heartbeat(caller, _keys(body.known)))


@router.post("/claim", response_model=Claim)
@access(Permission.AGENT, Scope.CLUSTER)
def claim(caller: Caller, plat: Plat, limit: Annotated[int, Query(ge=1, le=1000)] = 50) -> Claim:
    assignments, cancel, preempt = plat.agents.claim(caller, limit)
    return Claim(
        assignments=[
            AssignmentPublic(
                job_id=a.job_id,
                attempt=a.attempt,
                argv=list(a.argv),
                env=a.env,
                working_dir=a.working_dir,
                time_limit_s=a.time_limit_s,
                allocation=ResourcesPublic.of(a.allocation),
                node_id=a.node_id,
                placements=PlacementPublic.all_of(a.placements),
                nodes=list(a.nodes),
                gang_size=a.gang_size,
                tenant_id=a.tenant_id,
            )
            for a in assignments
        ],
        cancel=_refs(cancel),
        preempt=_refs(preempt),
    )


@router.post("/jobs/{job_id}/attempts/{attempt}/state", response_model=ReportAck)
@access(Permission.AGENT, Scope.CLUSTER)
def report_state(
    job_id: str, attempt: AttemptNo, body: StateIn, caller: Caller, plat: Plat
) -> ReportAck:
    try:
        status = JobStatus(body.status)
    except ValueError:
        raise InvalidInput(f"Unknown status {body.status!r}.", field="status") from None
    report = svc.StateReport(
        JobId(job_id),
        attempt,
        status,
        body.engine_job_id,
        body.started_at,
        body.ended_at,
        body.exit_code,
        body.reason,
        body.cpu_s,
    )
    return ReportAck(forget=plat.agents.report(caller, report))


@router.post("/jobs/{job_id}/attempts/{attempt}/logs/{stream}", status_code=204)
@access(Permission.AGENT, Scope.CLUSTER)
async def append_log(
    job_id: str,
    attempt: AttemptNo,
    stream: str,
    request: Request,
    caller: Caller,
    plat: Plat,
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
) -> None:
    data = await request.body()
    if len(data) > MAX_LOG_CHUNK:
        raise InvalidInput(
            f"A log chunk may be at most {MAX_LOG_CHUNK} bytes.",
            field="body",
            hint="send smaller chunks.",
        )
    # The store call blocks; run it off the event loop.
    await run_in_threadpool(
        plat.agents.append_log, caller, JobId(job_id), attempt, stream, offset, data
    )


@router.post("/calibration", status_code=204)
@access(Permission.AGENT, Scope.CLUSTER)
def calibration(body: AgentCalibration, caller: Caller, plat: Plat) -> None:
    """New measurements of this cluster's nodes (after an operator's request)."""
    plat.agents.calibrated(caller, {n.hostname: n.calibration.to_domain() for n in body.nodes})
