"""From trace records to the simulator's jobs.

A trace job asking for g GPUs becomes one member of g GPUs of model ``any`` when g fits
one node (`gpus_per_node`), else a gang of ceil(g / gpus_per_node) members of
`gpus_per_node` GPUs. Its work is its measured duration; its speed on each GPU model is
that model's metering rating relative to `reference` (the hardware the trace ran on),
unless a throughput table for its job type says otherwise. Its time limit is its
duration times `limit_factor` (what a user would ask for), so backfill has limits to
work with. Jobs without a duration or with no GPUs are skipped (counted in the result).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from suanli.adapters.traces.model import Throughputs, TraceJob
from suanli.domain.ids import JobId, TenantId, UserId
from suanli.domain.jobs import MAX_TIME_LIMIT_S, Job, JobSpec, JobStatus
from suanli.domain.resources import Resources
from suanli.logic.scheduling.fairshare import gpu_rating
from suanli.logic.simulation.jobs import SimJob


@dataclass(frozen=True, slots=True)
class Converted:
    jobs: list[SimJob]
    skipped: int


def speeds(
    models: Sequence[str], reference: str, job_type: str = "", table: Throughputs | None = None
) -> dict[str, float]:
    """Relative speed per model: measured throughputs when the table has the job type on
    the reference and the model, else the ratio of metering ratings."""
    base = gpu_rating(reference)
    out: dict[str, float] = {}
    for model in models:
        measured = None
        if table is not None and job_type:
            ref = table.get(job_type, reference)
            got = table.get(job_type, model)
            if ref and got:
                measured = got / ref
        out[model] = measured if measured is not None else gpu_rating(model) / base
    return out


def sim_jobs(
    trace: Sequence[TraceJob],
    *,
    start: datetime,
    models: Sequence[str],
    reference: str,
    gpus_per_node: int = 8,
    limit_factor: float = 2.0,
    table: Throughputs | None = None,
) -> Converted:
    """Simulator jobs for `trace`, in submission order (see the module doc)."""
    jobs: list[SimJob] = []
    skipped = 0
    cache: dict[str, dict[str, float]] = {}
    for seq, row in enumerate(sorted(trace, key=lambda r: (r.submit_s, r.id)), start=1):
        if row.duration_s is None or row.duration_s <= 0 or row.gpus <= 0:
            skipped += 1
            continue
        per_member, gang = row.gpus, 1
        if row.gpus > gpus_per_node:
            per_member, gang = gpus_per_node, math.ceil(row.gpus / gpus_per_node)
        limit = min(MAX_TIME_LIMIT_S, max(60, math.ceil(row.duration_s * limit_factor)))
        spec = JobSpec.create(
            command=["trace", row.id],
            resources=Resources.request(cpus=1, memory_mb=1024, gpus={"any": per_member}),
            gang_size=gang,
            time_limit_s=limit,
            job_type=row.job_type,
        )
        job = Job(
            JobId(f"t-{row.id}"),
            TenantId(row.tenant or "default"),
            UserId(row.tenant or "default"),
            spec,
            JobStatus.PENDING,
            start,
            seq=seq,
        )
        if row.job_type not in cache:
            cache[row.job_type] = speeds(models, reference, row.job_type, table)
        jobs.append(SimJob(job, row.submit_s, row.duration_s, cache[row.job_type]))
    return Converted(jobs, skipped)
