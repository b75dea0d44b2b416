"""Fidelity against the Sia artifact's simulator: its setup, suanli's simulator.

The Sia artifact (siasosp23/artifacts@aaf7a0d, sia-simulator) reports on its default
64-GPU cluster (6 nodes x 4 T4 "aws", 2 x 8 A100 "dgx-ext", 3 x 8 RTX 2080 Ti "rtx") an
average JCT of 1,950 / 2,691 / 2,070 s for Sia and 6,016 / 7,572 / 4,781 s for Gavel's
max-sum-throughput-perf on philly workloads 1 / 2 / 3. This runs the same workloads on
the same cluster through suanli's simulator with the goodput job model
(`adapters/traces/sia_goodput.py`) and suanli's implementations of the two policies
(`policies/sia.py`: adaptive jobs, 60 s rounds; `policies/gavel.py`: rigid jobs at their
submitted size and batch, 360 s rounds), restore delays charged at every start.

Prints one JSON line per run, then

    {"bench": "sia_fidelity", "sia": [jct1, jct2, jct3],
     "gavel_max_sum_throughput_perf": [...], "reference": {...}, "ratio": {...},
     "within_15pct": bool, "wall_s": ...}

    .venv/bin/python bench/sia_fidelity.py [--traces ../shared/traces] [--workloads 1-3]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from suanli.adapters.traces import TraceError, load_sia_workload
from suanli.lab.native_output import native_stdout_to_stderr
from suanli.lab.sia import (
    ADAPTIVE_POLICIES,
    SIA_ARTIFACT_POOL,
    goodput_sia_jobs,
    profiled_types,
    sia_pool,
)
from suanli.logic.scheduling.policies import get_policy
from suanli.logic.scheduling.policies.gavel import GavelMaxSumAsInSia
from suanli.logic.scheduling.policy import Policy
from suanli.logic.scheduling.snapshot import ClusterView
from suanli.logic.scheduling.state import SchedulerSettings
from suanli.logic.simulation.engine import SimSettings, Simulator
from suanli.logic.simulation.metrics import report

REPO = Path(__file__).resolve().parents[1]
START = datetime(2026, 1, 1, tzinfo=UTC)
CLUSTER = SIA_ARTIFACT_POOL
REFERENCE = {
    # the Sia paper's artifact, philly workloads 1-3, average JCT (s) (issue 15)
    "sia": (1950.0, 2691.0, 2070.0),
    "gavel_max_sum_throughput_perf": (6016.0, 7572.0, 4781.0),
}
TOLERANCE = 0.15


def pool() -> tuple[ClusterView, ...]:
    return sia_pool(CLUSTER, CLUSTER)


def make_policy(name: str) -> Policy:
    """The registered policy; Gavel's max-sum policy as the artifact's gavel.py codes it."""
    if name == "gavel_max_sum_throughput_perf":
        return GavelMaxSumAsInSia(SchedulerSettings())
    return get_policy(name)


def run_one(policy: str, trace_path: Path, profiles: Path) -> dict[str, object]:
    trace = load_sia_workload(trace_path)
    clusters = pool()
    # the same jobs as bench/sia_results.py and `suanli sim` (lab/sia.py)
    rigid, adaptive = goodput_sia_jobs(
        trace, profiles, profiled_types(profiles), clusters, start=START
    )
    jobs = adaptive if policy in ADAPTIVE_POLICIES else rigid
    settings = SimSettings(restore_at_first_start=True)
    sim = Simulator(clusters, jobs, make_policy(policy), start=START, settings=settings)
    t0 = time.perf_counter()
    with native_stdout_to_stderr():
        result = sim.run()
    measured = report(result, jobs).to_json()
    return {
        "policy": policy,
        "workload": trace_path.stem,
        "avg_jct_s": measured["avg_jct_s"],
        "p99_jct_s": measured["p99_jct_s"],
        "finished": measured["jobs"],
        "unfinished": measured["unfinished"],
        "preemptions": measured["preemptions"],
        "cycles": result.cycles,
        "wall_s": round(time.perf_counter() - t0, 2),
    }


def numbers(spec: str) -> list[int]:
    lo, _, hi = spec.partition("-")
    return list(range(int(lo), int(hi or lo) + 1))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, default=REPO.parent / "shared" / "traces")
    parser.add_argument("--workloads", default="1-3", help="philly workload numbers")
    parser.add_argument("--policy", action="append", help="default: sia and gavel")
    args = parser.parse_args(argv)
    root = args.traces / "sia-workloads"
    policies = args.policy or list(REFERENCE)
    t0 = time.perf_counter()
    got: dict[str, list[float]] = {p: [] for p in policies}
    try:
        for n in numbers(args.workloads):
            for policy in policies:
                row = run_one(
                    policy, root / "philly" / f"workload-{n}.csv", root / "throughput_profiles"
                )
                got[policy].append(float(str(row["avg_jct_s"])))
                print(json.dumps(row), flush=True)
    except TraceError as e:
        print(f"error: {e}; pass --traces DIR (see README)", file=sys.stderr)
        return 1
    ratio = {
        p: [round(v / r, 3) for v, r in zip(got[p], REFERENCE[p], strict=False)]
        for p in policies
        if p in REFERENCE
    }
    summary = {
        "bench": "sia_fidelity",
        **got,
        "reference": {p: list(REFERENCE[p]) for p in policies if p in REFERENCE},
        "ratio": ratio,
        "within_15pct": all(abs(x - 1) <= TOLERANCE for r in ratio.values() for x in r),
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
