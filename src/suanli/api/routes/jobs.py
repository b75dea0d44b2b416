"""Jobs: submit, list (filters, keyset pagination), get, cancel, logs; and services:
POST /v1/services queues an inference service's replicas (one job each) together."""

from __future__ import annotations

import hashlib
from functools import partial
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from suanli.api.access import Scope, access
from suanli.api.schemas import (
    JobArrayCreate,
    JobArrayPublic,
    JobCreate,
    JobPage,
    JobPublic,
    ServiceCreate,
    ServicePublic,
)
from suanli.api.security import Caller, Plat, platform_of
from suanli.domain.errors import InvalidInput
from suanli.domain.ids import ClusterId, JobId, TenantId
from suanli.domain.job_links import parse_array
from suanli.domain.jobs import JobStatus
from suanli.domain.permissions import Permission
from suanli.ports.store import JobFilter

router = APIRouter(prefix="/jobs", tags=["jobs"])
services_router = APIRouter(prefix="/services", tags=["jobs"])


@router.post(
    "",
    status_code=201,
    response_model=JobPublic,
    responses={200: {"model": JobPublic, "description": "an Idempotency-Key replayed"}},
)
@access(Permission.JOB_SUBMIT, Scope.TENANT)
async def submit(
    body: JobCreate,
    caller: Caller,
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            max_length=200,
            description="a unique key per logical submission (e.g. a UUID): resending "
            "the same body with the same key within a day returns the job the first "
            "request made (200) instead of making another",
        ),
    ] = None,
) -> Response:
    """Queue a job. Returns 201 with the job once it is durable (200 with the earlier
    job when an Idempotency-Key is replayed; 409 when the key was used for another
    body)."""
    spec = body.to_spec()
    if idempotency_key is not None:
        digest = hashlib.sha256(body.model_dump_json().encode()).hexdigest()
        plat = platform_of(request)
        job, created = await run_in_threadpool(
            partial(
                plat.jobs.submit_idempotent,
                caller,
                spec,
                key=idempotency_key,
                request_hash=digest,
            )
        )
        return Response(
            JobPublic.of(job, []).model_dump_json(),
            201 if created else 200,
            media_type="application/json",
        )
    # Group-committed with the submissions that arrive alongside (api/batching.py).
    job = await request.app.state.submit_batcher.submit(caller, spec)
    # Serialised here, once: returning the model would make FastAPI validate it again.
    return Response(JobPublic.of(job, []).model_dump_json(), 201, media_type="application/json")


@router.post("/arrays", status_code=201, response_model=JobArrayPublic)
@access(Permission.JOB_SUBMIT, Scope.TENANT)
def submit_array(body: JobArrayCreate, caller: Caller, plat: Plat) -> JobArrayPublic:
    """Queue a job array: one job of the spec per index of `array` (Slurm's syntax,
    '0-99%10': indices 0 to 99, at most 10 running at once), in one transaction (all or
    none). Each task has SLURM_ARRAY_TASK_ID (and SUANLI_ARRAY_INDEX) in its environment.
    Returns 201 with the array's id (`a-...`, which dependencies may name) and its jobs."""
    spec = body.to_spec()
    array_id, jobs = plat.jobs.submit_array(caller, spec, parse_array(body.array))
    return JobArrayPublic(array_id=array_id, jobs=[JobPublic.of(j, []) for j in jobs])


@services_router.post("", status_code=201, response_model=ServicePublic)
@access(Permission.JOB_SUBMIT, Scope.TENANT)
def submit_service(body: ServiceCreate, caller: Caller, plat: Plat) -> ServicePublic:
    """Queue an inference service: `replicas` jobs of one spec, named SERVICE-0 ..
    SERVICE-{R-1}, each with `service` set, in one transaction (all or none). Returns 201
    with the jobs once they are durable. (POST /v1/jobs queues one job, which may name a
    service too.)"""
    spec = body.to_spec()
    jobs = plat.jobs.submit_service(caller, spec, body.replicas)
    return ServicePublic(service=spec.service, jobs=[JobPublic.of(j, []) for j in jobs])


@router.get("", response_model=JobPage)
@access(Permission.JOB_READ, Scope.TENANT)
def list_jobs(
    caller: Caller,
    plat: Plat,
    status: Annotated[list[str] | None, Query(description="repeatable")] = None,
    tenant: str | None = None,
    cluster: str | None = None,
    name: str | None = None,
    array: Annotated[str | None, Query(description="only the tasks of this job array")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: Annotated[
        int | None, Query(ge=1, le=2**31 - 1, description="next_cursor of the previous page")
    ] = None,
) -> JobPage:
    statuses: list[JobStatus] = []
    for s in status or []:
        try:
            statuses.append(JobStatus(s.upper()))
        except ValueError:
            raise InvalidInput(
                f"Unknown status {s!r}.",
                field="status",
                hint=f"use one of {', '.join(x.value for x in JobStatus)}.",
            ) from None
    flt = JobFilter(
        tenant_id=TenantId(tenant) if tenant else None,
        statuses=tuple(statuses),
        cluster_id=ClusterId(cluster) if cluster else None,
        name=name,
        array_id=array,
        before_seq=cursor,
        limit=limit,
    )
    jobs = plat.jobs.search(caller, flt)
    usage = plat.jobs.usage_of(caller, [j.id for j in jobs])
    return JobPage(
        items=[JobPublic.of(j, usage.get(j.id, [])) for j in jobs],
        next_cursor=jobs[-1].seq if len(jobs) == limit else None,
    )


@router.get("/{job_id}", response_model=JobPublic)
@access(Permission.JOB_READ, Scope.TENANT)
def get_job(job_id: str, caller: Caller, plat: Plat) -> JobPublic:
    detail = plat.jobs.get(caller, JobId(job_id))
    return JobPublic.of(detail.job, detail.usage, attempts=detail.attempts, events=detail.events)


@router.post("/{job_id}/cancel", response_model=JobPublic)
@access(Permission.JOB_CANCEL, Scope.TENANT)
def cancel_job(job_id: str, caller: Caller, plat: Plat) -> JobPublic:
    job = plat.jobs.cancel(caller, JobId(job_id))
    return JobPublic.of(job, [])


@router.get(
    "/{job_id}/logs",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
@access(Permission.JOB_LOGS, Scope.TENANT)
def job_logs(
    job_id: str,
    caller: Caller,
    plat: Plat,
    stream: str = "stdout",
    offset: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=4 * 1024 * 1024)] = 1024 * 1024,
    attempt: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """Raw bytes of one stream. Headers: X-Suanli-Attempt (attempt read), X-Suanli-Status
    (job status, so a follower knows when to stop), X-Suanli-Next-Offset."""
    data, number, job = plat.jobs.logs(
        caller, JobId(job_id), stream=stream, offset=offset, limit=limit, attempt=attempt
    )
    return Response(
        content=data,
        media_type="application/octet-stream",
        headers={
            "X-Suanli-Attempt": str(number),
            "X-Suanli-Status": job.status.value,
            "X-Suanli-Next-Offset": str(offset + len(data)),
        },
    )
