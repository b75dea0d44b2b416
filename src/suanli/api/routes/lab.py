"""The policy lab over HTTP: list the bundled sample traces, start a simulation of some
policies on a sample or an uploaded trace, follow its progress, read its HTML report.

Runs are kept by `suanli.lab.runs.LabRuns` (`app.state.lab_runs`): checked when started
(a bad trace, policy or job count is a 422 and queues nothing), run one at a time in the
background, kept in this process's memory only. Each caller sees their own runs; an
operator sees everyone's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from suanli.adapters.traces import guess_format
from suanli.api.access import Scope, access
from suanli.api.schemas import Strict
from suanli.api.security import Caller
from suanli.domain.errors import InvalidInput
from suanli.domain.permissions import Permission
from suanli.lab.runs import MAX_JOBS, MAX_POLICIES, MAX_UPLOAD_BYTES, LabRun, LabRuns, Upload
from suanli.lab.sample_traces import SAMPLES
from suanli.lab.simulation import DEFAULT_POLICIES

router = APIRouter(prefix="/lab", tags=["lab"])

REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'self'"
)
"""The report is a self-contained page with no script that runs: nothing may load, and
only this origin (the dashboard) may frame it."""


async def lab_runs(request: Request) -> LabRuns:
    """Dependency: the process's runs (async: a dictionary lookup needs no thread)."""
    found: LabRuns = request.app.state.lab_runs
    return found


Lab = Annotated[LabRuns, Depends(lab_runs)]


class LabSamplePublic(BaseModel):
    name: str
    description: str
    rows: int = Field(description="jobs in the trace")
    format: str = Field(description="its format (docs/traces.md)")
    source: str = Field(description="where it was cut from, and its licence")


class LabRunCreate(Strict):
    """A run: one of `sample` or `trace_text`, then the policies and how many jobs."""

    sample: str | None = Field(None, description="a sample's name (GET /v1/lab/samples)")
    trace_text: str | None = Field(
        None,
        description=f"a trace file's text, at most {MAX_UPLOAD_BYTES // 1024} KiB (UTF-8), in "
        "any job-trace format of docs/traces.md; instead of `sample`",
    )
    filename: str | None = Field(
        None,
        description="the uploaded file's name: the format is guessed from it and the "
        "trace's header, and the report names it",
    )
    format: str | None = Field(
        None, description="the uploaded trace's format, where it cannot be guessed"
    )
    policies: list[str] = Field(
        default_factory=lambda: list(DEFAULT_POLICIES),
        description=f"scheduling policies to compare (`default`: the default policy), at "
        f"most {MAX_POLICIES}",
    )
    jobs: int | None = Field(
        None,
        strict=True,
        description=f"simulate the trace's first N jobs, 1 to {MAX_JOBS} (default: up to "
        f"{MAX_JOBS})",
    )


class LabRunPublic(BaseModel):
    id: str
    owner: str = Field(description="the user who started it")
    tenant: str | None = Field(description="that user's tenant")
    state: str = Field(description="QUEUED, RUNNING, SUCCEEDED or FAILED")
    trace: str = Field(description="the sample's name or the uploaded file's")
    trace_format: str
    jobs: int = Field(description="jobs simulated")
    policies: list[str]
    progress: dict[str, list[int]] = Field(description="policy -> [jobs finished, jobs in all]")
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None = Field(description="why it failed, once FAILED")
    report: str | None = Field(description="the HTML report's path, once SUCCEEDED")
    result: dict[str, Any] | None = Field(
        None,
        description="every metric (what `suanli sim --json` prints: `scenario`, and "
        "`policies` by name), once SUCCEEDED; left out of lists",
    )

    @classmethod
    def of(cls, run: LabRun, *, with_result: bool = True) -> LabRunPublic:
        return cls(
            id=run.id,
            owner=run.owner,
            tenant=run.tenant_id,
            state=run.state.value,
            trace=run.trace,
            trace_format=run.trace_format,
            jobs=run.jobs,
            policies=list(run.policies),
            progress={p: [done, total] for p, (done, total) in run.progress.items()},
            created_at=run.created_at,
            started_at=run.started_at,
            finished_at=run.finished_at,
            error=run.error,
            report=f"/v1/lab/runs/{run.id}/report" if run.report_html is not None else None,
            result=dict(run.result) if with_result and run.result is not None else None,
        )


@router.get("/samples", response_model=list[LabSamplePublic])
@access(Permission.LAB_RUN, Scope.TENANT)
def samples() -> list[LabSamplePublic]:
    """The sample traces bundled with suanli, to run without an upload."""
    return [
        LabSamplePublic(
            name=s.name,
            description=s.description,
            rows=s.rows(),
            format=guess_format(s.path()),
            source=s.source,
        )
        for s in SAMPLES
    ]


@router.post("/runs", status_code=202, response_model=LabRunPublic)
@access(Permission.LAB_RUN, Scope.TENANT)
def start_run(body: LabRunCreate, caller: Caller, lab: Lab) -> LabRunPublic:
    """Check the trace and policies and queue the simulation (202): poll the run for its
    progress. 422 for a bad trace, policy or job count (nothing is queued); 409 with 3 runs
    of yours queued or running."""
    trace: str | Upload
    if body.trace_text is not None:
        if body.sample is not None:
            raise _one_trace()
        trace = Upload(body.filename or "", body.trace_text, body.format)
    elif body.sample is not None:
        trace = body.sample
    else:
        raise _one_trace()
    return LabRunPublic.of(lab.start(caller, trace, tuple(body.policies), body.jobs))


def _one_trace() -> InvalidInput:
    return InvalidInput(
        "Give one trace: a sample's name or an uploaded trace's text.",
        field="sample",
        hint='send "sample" (GET /v1/lab/samples lists them) or "trace_text" with '
        '"filename", not both.',
    )


@router.get("/runs", response_model=list[LabRunPublic])
@access(Permission.LAB_RUN, Scope.TENANT)
def list_runs(caller: Caller, lab: Lab) -> list[LabRunPublic]:
    """Your runs (an operator: everyone's), newest first, without their results."""
    return [LabRunPublic.of(r, with_result=False) for r in lab.visible(caller)]


@router.get("/runs/{run_id}", response_model=LabRunPublic)
@access(Permission.LAB_RUN, Scope.TENANT)
def get_run(run_id: str, caller: Caller, lab: Lab) -> LabRunPublic:
    """One run with its progress and, once SUCCEEDED, its result."""
    return LabRunPublic.of(lab.get(caller, run_id))


@router.get(
    "/runs/{run_id}/report",
    response_class=HTMLResponse,
    responses={200: {"content": {"text/html": {}}}},
)
@access(Permission.LAB_RUN, Scope.TENANT)
def run_report(run_id: str, caller: Caller, lab: Lab) -> HTMLResponse:
    """The run's HTML report (as `suanli sim --report` writes it); 409 until SUCCEEDED."""
    return HTMLResponse(
        lab.report(caller, run_id),
        headers={"Content-Security-Policy": REPORT_CSP, "X-Content-Type-Options": "nosniff"},
    )
