"""Policy quality on the Sia workloads: every registered policy, side by side.

Replays the Sia paper's sampled workloads (Jayaram Subramanya et al., SOSP'23; 160 jobs
each, from Microsoft Philly and SenseTime Helios "saturn"; `sia-workloads/` under
--traces) on the Sia artifact's default heterogeneous cluster of 64 GPUs: 6 nodes x 4 T4
(its "aws" profiles), 2 x 8 A100 ("dgx"), 3 x 8 RTX 2080 Ti ("rtx"). Each job's work and
speed come from the artifact's validation curves and profiled step times
(`adapters/traces/sia_jobs.py`); every job accepts 1 to 2x the GPUs it asked for at the
same batch size (only the elastic-aware default policy uses that range; the others run
each job at the size it asked for). `suanli-rigid` is the default policy on the same jobs
made rigid, to show what elasticity adds.

Prints one JSON line per workload and policy, then one summary line

    {"bench": "sia_results", "workloads": ..., "avg_jct_s": {policy: mean over workloads},
     "p99_jct_s": {...}, "suanli_vs": {policy: ratio of average JCTs}, ...}

and, with --markdown FILE, the tables of docs/results.md.

    .venv/bin/python bench/sia_results.py [--traces ../shared/traces]
        [--workloads philly:1-8 saturn:1-10] [--policy NAME ...] [--markdown FILE]
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
from suanli.adapters.traces.sia_jobs import load_sia_profiles, sia_sim_jobs
from suanli.domain.ids import ClusterId, NodeId, ProviderId, RegionId
from suanli.domain.resources import Resources
from suanli.logic.scheduling.policies import get_policy, policy_names
from suanli.logic.scheduling.snapshot import ClusterView, NodeView
from suanli.logic.simulation.engine import SimSettings, Simulator
from suanli.logic.simulation.jobs import SimJob
from suanli.logic.simulation.metrics import Report, report

REPO = Path(__file__).resolve().parents[1]
START = datetime(2026, 1, 1, tzinfo=UTC)
CLUSTER = {
    # Sia cluster type: (GPU model as the catalog names it, nodes, GPUs per node)
    "aws": ("T4", 6, 4),
    "dgx": ("A100-40GB", 2, 8),
    "rtx": ("RTX2080TI", 3, 8),
}
ELASTIC = (0.01, 2.0)
"""Each job accepts ceil(0.01 x n) = 1 to 2n GPUs, n being what it asked for."""
RIGID = "suanli-rigid"
REFERENCE = {
    # Sia artifact's own simulator, default 64-GPU cluster, philly workloads 1/2/3,
    # average JCT in seconds (issue 5)
    "Gavel max_sum_throughput_perf": (6016, 7572, 4781),
    "Gavel max-min fairness (agnostic)": (10207, 12603, 8817),
    "Sia (adaptive)": (1950, 2691, 2070),
}


def pool() -> tuple[ClusterView, ...]:
    out = []
    for name, (model, nodes, per_node) in CLUSTER.items():
        cid = ClusterId(name)
        cap = Resources(64_000, 512 * 1024, {model: per_node})
        out.append(
            ClusterView(
                cid,
                RegionId("sia"),
                ProviderId("sia"),
                "sim",
                tuple(NodeView(cid, NodeId(f"{name}-{i}"), cap, cap) for i in range(nodes)),
            )
        )
    return tuple(out)


def workloads(spec: Sequence[str]) -> list[tuple[str, int]]:
    """'philly:1-3' 'saturn:2' -> [('philly', 1), ...]."""
    out: list[tuple[str, int]] = []
    for item in spec:
        family, _, numbers = item.partition(":")
        lo, _, hi = numbers.partition("-")
        out += [(family, n) for n in range(int(lo), int(hi or lo) + 1)]
    return out


def run(policy: str, jobs: list[SimJob]) -> tuple[Report, float]:
    name = "suanli" if policy == RIGID else policy
    simulator = Simulator(pool(), jobs, get_policy(name), start=START, settings=SimSettings())
    t0 = time.perf_counter()
    result = simulator.run()
    return report(result, jobs), time.perf_counter() - t0


def markdown(rows: list[dict[str, object]], policies: list[str]) -> str:
    out: list[str] = []
    for family in dict.fromkeys(str(r["family"]) for r in rows):
        numbers = sorted({int(str(r["workload"])) for r in rows if r["family"] == family})
        for metric, label in (("avg_jct_s", "average JCT (s)"), ("p99_jct_s", "p99 JCT (s)")):
            out.append(f"\n**{family}: {label}**\n")
            out.append("| policy | " + " | ".join(f"w{n}" for n in numbers) + " | mean |")
            out.append("|---" * (len(numbers) + 2) + "|")
            for p in policies:
                vals = [
                    float(str(r[metric]))
                    for n in numbers
                    for r in rows
                    if r["family"] == family and r["workload"] == n and r["policy"] == p
                ]
                cells = " | ".join(f"{v:,.0f}" for v in vals)
                out.append(f"| {p} | {cells} | {sum(vals) / len(vals):,.0f} |")
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, default=REPO.parent / "shared" / "traces")
    parser.add_argument("--workloads", nargs="+", default=["philly:1-8", "saturn:1-10"])
    parser.add_argument("--policy", action="append", help="default: every registered one")
    parser.add_argument("--markdown", type=Path, help="write the result tables here")
    args = parser.parse_args(argv)
    root = args.traces / "sia-workloads"
    try:
        profiles = load_sia_profiles(root / "throughput_profiles", list(CLUSTER))
    except TraceError as e:
        print(f"error: {e}; pass --traces DIR (see README)", file=sys.stderr)
        return 1
    per_node = {model: g for model, _, g in CLUSTER.values()}
    policies = args.policy or [*policy_names(), RIGID]
    rows: list[dict[str, object]] = []
    t0 = time.perf_counter()
    for family, number in workloads(args.workloads):
        trace = load_sia_workload(root / family / f"workload-{number}.csv")
        for policy in policies:
            elastic = None if policy == RIGID else ELASTIC
            jobs = sia_sim_jobs(trace, profiles, per_node, start=START, elastic=elastic)
            measured, wall = run(policy, jobs)
            row: dict[str, object] = {
                "family": family,
                "workload": number,
                "policy": policy,
                **{k: v for k, v in measured.to_json().items() if k not in ("by_tenant", "series")},
                "wall_s": round(wall, 2),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)

    def mean(policy: str, metric: str) -> float:
        vals = [float(str(r[metric])) for r in rows if r["policy"] == policy]
        return sum(vals) / len(vals)

    avg = {p: round(mean(p, "avg_jct_s"), 1) for p in policies}
    p99 = {p: round(mean(p, "p99_jct_s"), 1) for p in policies}
    summary = {
        "bench": "sia_results",
        "workloads": [f"{f}-{n}" for f, n in workloads(args.workloads)],
        "avg_jct_s": avg,
        "p99_jct_s": p99,
        "suanli_vs": {p: round(avg[p] / avg["suanli"], 2) for p in policies if "suanli" in avg},
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(summary))
    if args.markdown is not None:
        args.markdown.write_text(markdown(rows, policies))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
