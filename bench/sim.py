"""Simulator speed: replay the whole Philly trace through the live scheduling cycle.

Loads every job of Microsoft's Philly trace (Jeon et al., ATC'19;
`philly/philly_full.csv` under --traces) and replays it on a heterogeneous 2,000-GPU
pool (8 GPUs per node: 800 V100, 600 P100, 400 T4, 200 K80) with the default policy
(`suanli`), cycles at most every --gap simulated seconds. Speeds by model are metering
ratings relative to the trace's reference hardware (--reference); see
`adapters/traces/simulation_input.py`. Prints one JSON line:

    {"bench": "sim", "jobs": ..., "events_per_s": ..., "wall_s": ..., "peak_rss_mb": ...}

Target (issue 5): < 60 s on this machine.

    .venv/bin/python bench/sim.py [--traces ../shared/traces] [--jobs N] [--policy suanli]
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from suanli.adapters.traces import load_philly_csv
from suanli.adapters.traces.simulation_input import sim_jobs
from suanli.domain.ids import ClusterId, NodeId, ProviderId, RegionId
from suanli.domain.resources import Resources
from suanli.logic.scheduling.policies import get_policy
from suanli.logic.scheduling.snapshot import ClusterView, NodeView
from suanli.logic.simulation.engine import SimSettings, Simulator
from suanli.logic.simulation.metrics import report

REPO = Path(__file__).resolve().parents[1]
START = datetime(2017, 10, 1, tzinfo=UTC)
POOL = {"V100": 800, "P100": 600, "T4": 400, "K80": 200}
GPUS_PER_NODE = 8


def pool() -> tuple[ClusterView, ...]:
    clusters = []
    for model, gpus in POOL.items():
        cid = ClusterId(model.lower())
        cap = Resources(64_000, 512 * 1024, {model: GPUS_PER_NODE})
        nodes = tuple(
            NodeView(cid, NodeId(f"n{i:03d}"), cap, cap) for i in range(gpus // GPUS_PER_NODE)
        )
        clusters.append(ClusterView(cid, RegionId("philly"), ProviderId("sim"), "sim", nodes))
    return tuple(clusters)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, default=REPO.parent / "shared" / "traces")
    parser.add_argument("--jobs", type=int, default=None, help="first N jobs (default all)")
    parser.add_argument("--policy", default="suanli")
    parser.add_argument("--gap", type=float, default=60.0, help="min simulated s per cycle")
    parser.add_argument("--reference", default="P100", help="hardware the trace ran on")
    args = parser.parse_args(argv)
    path = args.traces / "philly" / "philly_full.csv"
    if not path.exists():
        print(f"error: {path} not found; pass --traces DIR (see README)", file=sys.stderr)
        return 1
    rows = load_philly_csv(path, limit=args.jobs)
    converted = sim_jobs(rows, start=START, models=list(POOL), reference=args.reference)
    simulator = Simulator(
        pool(),
        converted.jobs,
        get_policy(args.policy),
        start=START,
        settings=SimSettings(min_gap_s=args.gap),
    )
    t0 = time.perf_counter()
    result = simulator.run()
    wall = time.perf_counter() - t0
    measured = report(result, converted.jobs)
    print(
        json.dumps(
            {
                "bench": "sim",
                "jobs": len(converted.jobs),
                "events_per_s": round(result.events / wall, 1),
                "wall_s": round(wall, 2),
                "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                "policy": args.policy,
                "gpus": sum(POOL.values()),
                "skipped_rows": converted.skipped,
                "events": result.events,
                "cycles": result.cycles,
                "finished": len(result.outcomes),
                "unfinished": len(result.unfinished),
                "avg_jct_s": round(measured.overall.avg_jct_s, 1),
                "p99_jct_s": round(measured.overall.p99_jct_s, 1),
                "makespan_s": round(result.makespan_s, 1),
                "gpu_utilization": round(measured.gpu_utilization, 4),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
