"""What a simulation run measured, overall and per tenant.

Definitions (docs/simulator.md has them with examples):

- JCT (job completion time): finish - arrival, of finished jobs. Average, p50, p99.
  Percentiles are nearest-rank.
- Queueing delay: first start - arrival.
- Slowdown: JCT over the job's ideal run time, its run time alone on its best device
  (`ideal_s`: its work divided by its best speed); 1.0 is the physical limit.
- Makespan: when the last job finished (or the simulation stopped).
- GPU utilisation: busy GPU-seconds over (GPUs x makespan); over time, the busy GPUs
  after each scheduling cycle over the pool's GPUs, as a step series.
- Queue length over time: jobs waiting after each cycle, as a step series.
- Finish-time fairness (Themis, Mahajan et al., NSDI'20): rho = JCT / (ideal x N_avg),
  N_avg the time-weighted mean number of jobs present (queued or running, at least the
  job itself) over the job's lifetime, read from the timeline. rho <= 1: the job did at
  least as well as it would on a 1/N_avg share of the pool. Reported: max, average and
  the share of jobs with rho <= 1.
- Standard compute units: the sum of the jobs' metered units (GPU-hours x the model's
  metering rating, SCH), overall and per tenant.
- SLO attainment, over the jobs that have an SLO (finished or not):
  a job with a deadline factor f (Gavel's SLO column: deadline = arrival + f x its run
  time) met it when it finished with JCT <= f x ideal; an inference-service replica
  (`service` or `latency_slo_ms` in its spec; its latency bound is a placement filter, so
  any placement honours it) met it when it started within `service_start_s` of arriving
  and was never preempted. Unfinished jobs missed theirs.

Series are downsampled to at most `points` (+1) points for reports (`timeline.downsample`:
time-weighted means per bucket, so areas are kept).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from suanli.domain.ids import JobId
from suanli.logic.simulation.engine import JobOutcome, Sample, SimResult
from suanli.logic.simulation.jobs import SimJob
from suanli.logic.simulation.timeline import Point, StepSeries, downsample

SERIES_POINTS = 500
"""Most points per series in a report (charts need no more)."""
SERVICE_START_S = 60.0
"""Default start bound for service replicas: one scheduling gap of the live loop."""


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
    units: float = 0.0
    """Standard compute units (SCH) the jobs consumed."""

    def to_json(self) -> dict[str, float | int]:
        return {
            "jobs": self.jobs,
            "avg_jct_s": round(self.avg_jct_s, 1),
            "p50_jct_s": round(self.p50_jct_s, 1),
            "p99_jct_s": round(self.p99_jct_s, 1),
            "avg_queueing_s": round(self.avg_queueing_s, 1),
            "avg_slowdown": round(self.avg_slowdown, 3),
            "p99_slowdown": round(self.p99_slowdown, 3),
            "units": round(self.units, 4),
        }


def ideal_s(job: SimJob) -> float:
    """The job's run time alone on its best device at its best allowed size
    (`SimJob.best_rate`: measured scaling where known, else speeds)."""
    return job.work / max(job.best_rate(), 1e-9)


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
        sum(o.units for o in outcomes),
    )


# --- finish-time fairness --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fairness:
    """Finish-time fairness (rho) of the finished jobs."""

    jobs: int
    max_rho: float
    avg_rho: float
    share_fair: float
    """Share of jobs with rho <= 1."""

    def to_json(self) -> dict[str, float | int]:
        return {
            "jobs": self.jobs,
            "max_rho": round(self.max_rho, 3),
            "avg_rho": round(self.avg_rho, 3),
            "share_rho_le_1": round(self.share_fair, 4),
        }


def present_jobs(timeline: Sequence[Sample], end: float) -> StepSeries:
    """Jobs present (queued + running) after each cycle, holding until the next."""
    return StepSeries(
        [s.at_s for s in timeline], [float(s.queued + s.running) for s in timeline], end
    )


def finish_time_fairness(
    outcomes: Sequence[JobOutcome], jobs: Mapping[JobId, SimJob], present: StepSeries
) -> Fairness:
    """rho per finished job (see the module doc); N_avg is at least 1 (the job itself,
    which the timeline misses between its arrival and the next cycle)."""
    if not outcomes:
        return Fairness(0, 0.0, 0.0, 0.0)
    rhos = []
    for o in outcomes:
        n_avg = max(1.0, present.average(o.arrival_s, o.finish_s))
        rhos.append(o.jct_s / (max(ideal_s(jobs[o.job_id]), 1e-9) * n_avg))
    fair = sum(1 for r in rhos if r <= 1.0 + 1e-9)
    return Fairness(len(rhos), max(rhos), sum(rhos) / len(rhos), fair / len(rhos))


# --- SLO attainment --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SloCount:
    jobs: int
    met: int

    @property
    def attainment(self) -> float:
        return self.met / self.jobs if self.jobs else 0.0

    def to_json(self) -> dict[str, float | int]:
        return {"jobs": self.jobs, "met": self.met, "attainment": round(self.attainment, 4)}


@dataclass(frozen=True, slots=True)
class SloAttainment:
    overall: SloCount
    by_tenant: Mapping[str, SloCount]

    def to_json(self) -> dict[str, object]:
        return {
            **self.overall.to_json(),
            "by_tenant": {t: c.to_json() for t, c in sorted(self.by_tenant.items())},
        }


def has_service_slo(job: SimJob) -> bool:
    spec = job.job.spec
    return bool(spec.service) or spec.placement.latency_slo_ms is not None


def slo_attainment(
    result: SimResult,
    jobs: Sequence[SimJob],
    deadlines: Mapping[JobId, float],
    service_start_s: float = SERVICE_START_S,
) -> SloAttainment | None:
    """Share of jobs with an SLO that met it (module doc); None when no job has one.
    `deadlines` maps a job to its deadline factor (Gavel's SLO column, > 0)."""
    finished = {o.job_id: o for o in result.outcomes}
    counts: dict[str, list[int]] = {}
    for sj in jobs:
        jid = sj.job.id
        factor = deadlines.get(jid)
        if factor is None and not has_service_slo(sj):
            continue
        o = finished.get(jid)
        if o is None:
            met = False
        elif factor is not None:
            met = o.jct_s <= factor * ideal_s(sj) + 1e-9
        else:
            met = o.queueing_s <= service_start_s and o.preemptions == 0
        tally = counts.setdefault(sj.job.tenant_id, [0, 0])
        tally[0] += 1
        tally[1] += met
    if not counts:
        return None
    by_tenant = {t: SloCount(n, m) for t, (n, m) in counts.items()}
    total = SloCount(
        sum(c.jobs for c in by_tenant.values()), sum(c.met for c in by_tenant.values())
    )
    return SloAttainment(total, by_tenant)


# --- series ----------------------------------------------------------------------------------


def utilisation_series(result: SimResult, points: int = SERIES_POINTS) -> tuple[Point, ...]:
    """Busy GPUs / pool GPUs over time (0..1), downsampled."""
    total = max(result.total_gpus, 1)
    series = StepSeries(
        [s.at_s for s in result.timeline],
        [s.busy_gpus / total for s in result.timeline],
        result.makespan_s,
    )
    return downsample(series, points)


def queue_series(result: SimResult, points: int = SERIES_POINTS) -> tuple[Point, ...]:
    """Jobs waiting over time, downsampled (bucket means, so possibly fractional)."""
    series = StepSeries(
        [s.at_s for s in result.timeline],
        [float(s.queued) for s in result.timeline],
        result.makespan_s,
    )
    return downsample(series, points)


def jct_cdf(outcomes: Sequence[JobOutcome], points: int = SERIES_POINTS) -> tuple[Point, ...]:
    """(JCT s, fraction of finished jobs with at most that JCT): every job when there are
    at most `points`, else the nearest-rank JCT at `points` evenly spaced fractions."""
    jct = sorted(o.jct_s for o in outcomes)
    n = len(jct)
    if n <= points:
        return tuple((v, (i + 1) / n) for i, v in enumerate(jct))
    return tuple((percentile(jct, 100 * k / points), k / points) for k in range(1, points + 1))


# --- the report ------------------------------------------------------------------------------


def _rounded(points: Sequence[Point], digits: int) -> list[list[float]]:
    return [[round(t, 1), round(v, digits)] for t, v in points]


@dataclass(frozen=True, slots=True)
class Report:
    overall: Summary
    by_tenant: Mapping[str, Summary]
    makespan_s: float
    gpu_utilization: float
    unfinished: int
    fairness: Fairness = Fairness(0, 0.0, 0.0, 0.0)
    slo: SloAttainment | None = None
    preemptions: int = 0
    """Preemptions of the finished jobs."""
    utilization_over_time: tuple[Point, ...] = ()
    queue_over_time: tuple[Point, ...] = ()
    jct_cdf: tuple[Point, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            **self.overall.to_json(),
            "makespan_s": round(self.makespan_s, 1),
            "gpu_utilization": round(self.gpu_utilization, 4),
            "unfinished": self.unfinished,
            "preemptions": self.preemptions,
            "fairness": self.fairness.to_json(),
            "slo": None if self.slo is None else self.slo.to_json(),
            "by_tenant": {t: s.to_json() for t, s in sorted(self.by_tenant.items())},
            "series": {
                "gpu_utilization": _rounded(self.utilization_over_time, 4),
                "queued_jobs": _rounded(self.queue_over_time, 2),
                "jct_cdf": [[round(j, 1), round(f, 5)] for j, f in self.jct_cdf],
            },
        }


def report(
    result: SimResult,
    jobs: Sequence[SimJob],
    *,
    deadlines: Mapping[JobId, float] | None = None,
    service_start_s: float = SERVICE_START_S,
    points: int = SERIES_POINTS,
) -> Report:
    """Every metric of one run; `jobs` are the run's inputs, `deadlines` their deadline
    factors where the trace gives one (see `slo_attainment`)."""
    by_id = {j.job.id: j for j in jobs}
    tenants: dict[str, list[JobOutcome]] = {}
    for o in result.outcomes:
        tenants.setdefault(o.tenant, []).append(o)
    capacity = result.total_gpus * result.makespan_s
    present = present_jobs(result.timeline, result.makespan_s)
    return Report(
        summarise(result.outcomes, by_id),
        {t: summarise(os, by_id) for t, os in tenants.items()},
        result.makespan_s,
        result.busy_gpu_seconds / capacity if capacity else 0.0,
        len(result.unfinished),
        fairness=finish_time_fairness(result.outcomes, by_id, present),
        slo=slo_attainment(result, jobs, deadlines or {}, service_start_s),
        preemptions=sum(o.preemptions for o in result.outcomes),
        utilization_over_time=utilisation_series(result, points),
        queue_over_time=queue_series(result, points),
        jct_cdf=jct_cdf(result.outcomes, points),
    )
