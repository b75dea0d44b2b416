"""What a simulation run measured: job completion time (average, p50, p99), queueing
delay, slowdown, makespan, GPU utilisation, and the same per tenant.

Slowdown is JCT over the job's run time alone on its best device (its work divided by
its best speed): 1.0 is the physical limit. Percentiles are nearest-rank.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from suanli.domain.ids import JobId
from suanli.logic.simulation.engine import JobOutcome, SimJob, SimResult


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values (q in 0..100); 0.0 when empty."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass(frozen=True, slots=True)
class Summary:
    jobs: int
    avg_jct_s: float
    p50_jct_s: float
    p99_jct_s: float
    avg_queueing_s: float
    avg_slowdown: float
    p99_slowdown: float

    def to_json(self) -> dict[str, float | int]:
        return {
            "jobs": self.jobs,
            "avg_jct_s": round(self.avg_jct_s, 1),
            "p50_jct_s": round(self.p50_jct_s, 1),
            "p99_jct_s": round(self.p99_jct_s, 1),
            "avg_queueing_s": round(self.avg_queueing_s, 1),
            "avg_slowdown": round(self.avg_slowdown, 3),
            "p99_slowdown": round(self.p99_slowdown, 3),
        }


def ideal_s(job: SimJob) -> float:
    """The job's run time alone on its best device."""
    best = max([1.0, *job.speed.values()])
    return job.work / best


def summarise(outcomes: Sequence[JobOutcome], jobs: Mapping[JobId, SimJob]) -> Summary:
    if not outcomes:
        return Summary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    jct = sorted(o.jct_s for o in outcomes)
    slow = sorted(o.jct_s / max(ideal_s(jobs[o.job_id]), 1e-9) for o in outcomes)
    n = len(outcomes)
    return Summary(
        n,
        sum(jct) / n,
        percentile(jct, 50),
        percentile(jct, 99),
        sum(o.queueing_s for o in outcomes) / n,
        sum(slow) / n,
        percentile(slow, 99),
    )


@dataclass(frozen=True, slots=True)
class Report:
    overall: Summary
    by_tenant: Mapping[str, Summary]
    makespan_s: float
    gpu_utilization: float
    unfinished: int

    def to_json(self) -> dict[str, object]:
        return {
            **self.overall.to_json(),
            "makespan_s": round(self.makespan_s, 1),
            "gpu_utilization": round(self.gpu_utilization, 4),
            "unfinished": self.unfinished,
            "by_tenant": {t: s.to_json() for t, s in sorted(self.by_tenant.items())},
        }


def report(result: SimResult, jobs: Sequence[SimJob]) -> Report:
    """Every metric of one run; `jobs` are the run's inputs."""
    by_id = {j.job.id: j for j in jobs}
    tenants: dict[str, list[JobOutcome]] = {}
    for o in result.outcomes:
        tenants.setdefault(o.tenant, []).append(o)
    capacity = result.total_gpus * result.makespan_s
    return Report(
        summarise(result.outcomes, by_id),
        {t: summarise(os, by_id) for t, os in tenants.items()},
        result.makespan_s,
        result.busy_gpu_seconds / capacity if capacity else 0.0,
        len(result.unfinished),
    )
