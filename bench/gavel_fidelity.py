"""Fidelity: Gavel's published simulator figures, reproduced through suanli's cycle.

Gavel (Narayanan et al., OSDI'20; github.com/stanford-futuredata/gavel) simulated its
policies on `gavel/generated_philly_dist_seed0_lam1800_first_jobs.trace` (under
--traces) with `gavel/simulation_throughputs.json`, on 12 V100 + 12 P100 + 12 K80 GPUs
(one GPU per server, its driver's default), 360 s rounds, seed 0, and measured the
average job completion time of jobs 0-99 (`--window-start 0 --window-end 100`):

    FIFO 64,886 s; FIFO perf 51,282 s; max-min fairness 78,949 s; max-min perf 54,913 s

This bench runs the same trace and pool through suanli's simulator (rounds mode) with
the `gavel_*` policies, set up as Gavel's simulator runs: no checkpoint-restore cost,
the allocation recomputed at most every 1,920 s (`minimum_time_between_allocation_
resets`), Gavel's FIFO choosing models as its code does (`GavelFifoAsCoded`; the
uniformly random choice it means is reported as `fifo_uniform_random`). Every job of the
trace runs (later jobs compete with the window's); the window's average JCT is
computed from the simulated outcomes. See docs/fidelity.md. Prints one JSON line:

    {"bench": "gavel_fidelity", "fifo": ..., "fifo_perf": ..., "max_min_fairness": ...,
     "max_min_fairness_perf": ..., "reference": {...}, "ratio": {...},
     "within_15pct": ..., "order_preserved": ..., "wall_s": ...}

Target (issue 5): each of the four within 15% of Gavel's figure, in the same order.

    .venv/bin/python bench/gavel_fidelity.py [--traces ../shared/traces] [--window 100]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from suanli.adapters.traces.gavel import load_gavel_throughputs, load_gavel_trace
from suanli.adapters.traces.model import Throughputs, TraceJob
from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.jobs import Job, JobSpec, JobStatus
from suanli.domain.resources import Resources
from suanli.logic.scheduling.gavel_base import GavelPolicy
from suanli.logic.scheduling.policies.gavel import (
    GavelFifo,
    GavelFifoAsCoded,
    GavelFifoPerf,
    GavelMaxMin,
    GavelMaxMinPerf,
    GavelMaxSumThroughputPerf,
)
from suanli.logic.scheduling.snapshot import ClusterView, NodeView
from suanli.logic.scheduling.state import SchedulerSettings
from suanli.logic.simulation.engine import SimSettings, Simulator
from suanli.logic.simulation.jobs import SimJob

REPO = Path(__file__).resolve().parents[1]
START = datetime(2020, 1, 1, tzinfo=UTC)
TRACE = "generated_philly_dist_seed0_lam1800_first_jobs.trace"
THROUGHPUTS = "simulation_throughputs.json"
POOL = {"V100": 12, "P100": 12, "K80": 12}
ROUND_S = 360.0
SEED = 0
RESET_S = 1920.0
"""Gavel's `minimum_time_between_allocation_resets` (its Scheduler's default)."""
REFERENCE = {
    "fifo": 64_886.0,
    "fifo_perf": 51_282.0,
    "max_min_fairness": 78_949.0,
    "max_min_fairness_perf": 54_913.0,
}
"""Gavel's simulator, average JCT (s) of jobs 0-99 (module doc)."""
TOLERANCE = 0.15


def gavel_jobs(rows: Sequence[TraceJob], table: Throughputs) -> list[SimJob]:
    """One simulator job per trace row, in trace order (Gavel's job ids): `scale_factor`
    members of one GPU of any model (servers have one GPU), `total_steps` of work, and
    the measured steps/s of its job type at its scale factor on each model."""
    jobs: list[SimJob] = []
    for seq, row in enumerate(rows):
        scaling: dict[str, dict[int, float]] = {}
        for model in POOL:
            measured = table.get(row.job_type, model, row.gpus)
            if measured is None:
                raise SystemExit(
                    f"error: no throughput for {row.job_type!r} x{row.gpus} on {model}"
                )
            scaling[model] = {row.gpus: measured}
        spec = JobSpec.create(
            command=["gavel", row.id],
            resources=Resources.request(cpus=1, memory_mb=1024, gpus={"any": 1}),
            gang_size=row.gpus,
            job_type=row.job_type,
        )
        job = Job(
            JobId(f"gavel-{seq:04d}"),
            TenantId("gavel"),
            UserId("gavel"),
            spec,
            JobStatus.PENDING,
            START,
            seq=seq,
        )
        work = float(row.extra["total_steps"])
        jobs.append(SimJob(job, row.submit_s, work, {}, scaling, restart_s=0.0))
    return jobs


def gavel_pool(gpus: Mapping[str, int]) -> tuple[ClusterView, ...]:
    """One cluster of one-GPU servers (Gavel's `--num_gpus_per_server` default)."""
    cid = ClusterId("gavel")
    nodes = []
    for model, count in gpus.items():
        cap = Resources(8_000, 64 * 1024, {model: 1})
        nodes += [NodeView(cid, NodeId(f"{model.lower()}-{i:02d}"), cap, cap) for i in range(count)]
    return (ClusterView(cid, RegionId("gavel"), ProviderId("sim"), "sim", tuple(nodes)),)


def policies() -> dict[str, Callable[[], GavelPolicy]]:
    """Each measured policy, built as Gavel's simulator runs it (module doc)."""
    settings = SchedulerSettings(seed=SEED)
    reset = RESET_S
    return {
        "fifo": lambda: GavelFifoAsCoded(settings, min_reset_s=reset),
        "fifo_perf": lambda: GavelFifoPerf(settings, min_reset_s=reset),
        "max_min_fairness": lambda: GavelMaxMin(settings, min_reset_s=reset),
        "max_min_fairness_perf": lambda: GavelMaxMinPerf(settings, min_reset_s=reset),
        "fifo_uniform_random": lambda: GavelFifo(settings, min_reset_s=reset),
        "max_sum_throughput_perf": lambda: GavelMaxSumThroughputPerf(settings, min_reset_s=reset),
    }


def average_jct(jobs: Sequence[SimJob], policy: GavelPolicy, window: int) -> float:
    """Simulate every job; the average JCT of the first `window` (by trace order)."""
    settings = SimSettings(round_s=ROUND_S, restart_cost_s=0.0, grace_s=0.0)
    result = Simulator(gavel_pool(POOL), jobs, policy, start=START, settings=settings).run()
    measured = {j.job.id for j in jobs[:window]}
    jcts = [o.jct_s for o in result.outcomes if o.job_id in measured]
    if len(jcts) != len(measured):
        raise SystemExit(f"error: {len(measured) - len(jcts)} window jobs did not finish")
    return sum(jcts) / len(jcts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--traces", type=Path, default=REPO.parent / "shared" / "traces")
    parser.add_argument("--window", type=int, default=100, help="measure jobs 0..N-1")
    args = parser.parse_args(argv)
    trace, throughputs = args.traces / "gavel" / TRACE, args.traces / "gavel" / THROUGHPUTS
    for path in (trace, throughputs):
        if not path.exists():
            print(f"error: {path} not found; pass --traces DIR (see README)", file=sys.stderr)
            return 1
    jobs = gavel_jobs(load_gavel_trace(trace), load_gavel_throughputs(throughputs))
    window = min(args.window, len(jobs))
    t0 = time.perf_counter()
    measured = {name: average_jct(jobs, make(), window) for name, make in policies().items()}
    wall = time.perf_counter() - t0
    ratio = {name: measured[name] / ref for name, ref in REFERENCE.items()}
    ours = sorted(REFERENCE, key=lambda name: measured[name])
    theirs = sorted(REFERENCE, key=lambda name: REFERENCE[name])
    out: dict[str, object] = {"bench": "gavel_fidelity"}
    out |= {name: round(value, 1) for name, value in measured.items()}
    out |= {
        "reference": REFERENCE,
        "ratio": {name: round(value, 4) for name, value in ratio.items()},
        "within_15pct": all(abs(r - 1.0) <= TOLERANCE for r in ratio.values()),
        "order_preserved": ours == theirs,
        "wall_s": round(wall, 2),
        "jobs": len(jobs),
        "window": window,
        "gpus": POOL,
        "round_s": ROUND_S,
        "min_reset_s": RESET_S,
        "seed": SEED,
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
