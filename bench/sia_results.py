"""Policy quality on the Sia workloads: every registered policy, side by side.

Replays the Sia paper's sampled workloads (Jayaram Subramanya et al., SOSP'23; 160 jobs
each, from Microsoft Philly and SenseTime Helios "saturn"; `sia-workloads/` under
--traces) on the Sia artifact's default heterogeneous cluster of 64 GPUs.

`--model goodput` (the default): the artifact's goodput job model and cluster, as
bench/sia_fidelity.py checks them (6 nodes x 4 T4 "aws", 2 x 8 A100 "dgx-ext", 3 x 8
RTX 2080 Ti "rtx"; `adapters/traces/sia_goodput.py`; restores charged at every start).
Jobs of the adaptive policies (`sia`, `suanli`) take any GPU count from 1 to 64 and tune
their batch size; the others run every job at the GPUs and batch it was submitted with,
as the artifact runs Gavel. `suanli-rigid` is the default policy on the rigid jobs.

`--model fixed`: the model of issue 5, to reproduce its figures: the "dgx" profiles,
each job's work the iterations to its last epoch at its submitted batch
(`adapters/traces/sia_jobs.py`), every job accepting 1 to 2x its GPUs at that batch.

Independent (workload, policy) runs go to `--jobs` local processes, or with `--ray
ADDRESS` to a Ray cluster as tasks (its workers need this package installed).

Prints one JSON line per workload and policy, then one summary line

    {"bench": "sia_results", "workloads": ..., "avg_jct_s": {policy: mean over workloads},
     "p99_jct_s": {...}, "suanli_vs": {policy: ratio of average JCTs}, ...}

and, with --markdown FILE, the tables of docs/results.md.

    .venv/bin/python bench/sia_results.py [--traces ../shared/traces]
        [--workloads philly:1-8 saturn:1-10] [--policy NAME ...] [--markdown FILE]
        [--model goodput|fixed] [--jobs N | --ray ADDRESS] [--workload-root DIR]

The heavy workloads of issue 15 (1,000 jobs each at 1-4x the published arrival rate,
written by scripts/make-heavy-workloads.py) are in the repository:

    .venv/bin/python bench/sia_results.py --workload-root bench/workloads/sia-workloads \
        --workloads heavy-philly:1-4 heavy-saturn:1-4 --policy sia --policy suanli
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from suanli.adapters.traces import TraceError, TraceJob, load_sia_workload
from suanli.adapters.traces.sia_jobs import SiaProfile, load_sia_profiles, sia_sim_jobs
from suanli.lab.native_output import native_stdout_to_stderr
from suanli.lab.sia import (
    ADAPTIVE_POLICIES,
    SIA_ARTIFACT_POOL,
    SIA_POOL,
    goodput_sia_jobs,
    profiled_types,
    sia_pool,
)
from suanli.logic.scheduling.policies import get_policy, policy_names
from suanli.logic.scheduling.snapshot import ClusterView
from suanli.logic.simulation.engine import SimSettings, Simulator
from suanli.logic.simulation.jobs import SimJob
from suanli.logic.simulation.metrics import report

REPO = Path(__file__).resolve().parents[1]
START = datetime(2026, 1, 1, tzinfo=UTC)
CLUSTER = SIA_POOL
"""--model fixed: the cluster of issue 5 ("dgx" profiles for the A100s)."""
ELASTIC = (0.01, 2.0)
"""--model fixed: each job accepts ceil(0.01 x n) = 1 to 2n GPUs, n being what it asked for."""
RIGID = "suanli-rigid"
REFERENCE = {
    # Sia artifact's own simulator, default 64-GPU cluster, philly workloads 1/2/3,
    # average JCT in seconds (issue 5)
    "Gavel max_sum_throughput_perf": (6016, 7572, 4781),
    "Gavel max-min fairness (agnostic)": (10207, 12603, 8817),
    "Sia (adaptive)": (1950, 2691, 2070),
}


def workloads(spec: Sequence[str]) -> list[tuple[str, int]]:
    """'philly:1-3' 'saturn:2' -> [('philly', 1), ...]."""
    out: list[tuple[str, int]] = []
    for item in spec:
        family, _, numbers = item.partition(":")
        lo, _, hi = numbers.partition("-")
        out += [(family, n) for n in range(int(lo), int(hi or lo) + 1)]
    return out


@functools.cache
def _fixed_profiles(root: Path) -> dict[tuple[str, str], SiaProfile]:
    return load_sia_profiles(root / "throughput_profiles", list(CLUSTER))


@functools.cache
def _types(root: Path) -> dict[str, str]:
    return profiled_types(root / "throughput_profiles")


def jobs_and_pool(
    model: str, root: Path, trace: list[TraceJob], policy: str
) -> tuple[list[SimJob], tuple[ClusterView, ...], SimSettings]:
    """The simulator's jobs, pool and settings for one run (see the module doc)."""
    if model == "goodput":
        clusters = sia_pool(SIA_ARTIFACT_POOL, SIA_ARTIFACT_POOL)
        rigid, adaptive = goodput_sia_jobs(
            trace, root / "throughput_profiles", _types(root), clusters, start=START
        )
        jobs = adaptive if policy in ADAPTIVE_POLICIES else rigid
        return jobs, clusters, SimSettings(restore_at_first_start=True)
    per_node = {m: g for m, _, g in CLUSTER.values()}
    elastic = None if policy == RIGID else ELASTIC
    jobs = sia_sim_jobs(trace, _fixed_profiles(root), per_node, start=START, elastic=elastic)
    return jobs, sia_pool(CLUSTER), SimSettings()


def run_pair(
    model: str, root: Path, family: str, number: int, policy: str, source: Path | None = None
) -> dict[str, object]:
    """One (workload, policy) run: its JSON row (a process of the pool runs it). The
    workload is read from `source` (default `root`)/FAMILY/workload-N.csv."""
    trace = load_sia_workload((source or root) / family / f"workload-{number}.csv")
    jobs, clusters, settings = jobs_and_pool(model, root, trace, policy)
    name = "suanli" if policy == RIGID else policy
    simulator = Simulator(clusters, jobs, get_policy(name), start=START, settings=settings)
    t0 = time.perf_counter()
    with native_stdout_to_stderr():
        result = simulator.run()
    measured = report(result, jobs).to_json()
    return {
        "family": family,
        "workload": number,
        "policy": policy,
        **{k: v for k, v in measured.items() if k not in ("by_tenant", "series")},
        "wall_s": round(time.perf_counter() - t0, 2),
    }


Call = tuple[str, Path, str, int, str, Path | None]
"""run_pair's arguments."""


def run_here(jobs: int, calls: Sequence[Call]) -> Iterator[dict[str, object]]:
    """The runs in `jobs` local processes; rows in the order of `calls` (the output is
    reproducible)."""
    with ProcessPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(run_pair, *call) for call in calls]
        for future in futures:
            yield future.result()


class RayUnavailable(Exception):
    """--ray was given but Ray cannot be used."""


def run_on_ray(address: str, calls: Sequence[Call]) -> Iterator[dict[str, object]]:
    """The runs as tasks (one CPU each) on the Ray cluster at `address` (host:port of its
    head, e.g. 127.0.0.1:6389 as scripts/ensure-ray.sh starts it); its workers need this
    repository's package (`pip install -e .` in their Python). Rows in the order of
    `calls`."""
    host, _, port = address.rpartition(":")
    try:  # Ray itself retries a dead address for minutes
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=5).close()
    except (OSError, ValueError) as exc:
        raise RayUnavailable(
            f"nothing answers at {address!r} ({exc}); give the head's host:port "
            "(scripts/ensure-ray.sh start runs one at 127.0.0.1:6389)"
        ) from exc
    if host in ("127.0.0.1", "localhost"):
        # a head bound to loopback (as ensure-ray.sh starts it): without this Ray swaps
        # 127.0.0.1 for the machine's outward address, where the head does not answer
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    try:
        import ray  # an optional dependency: only this option needs it
    except ImportError as exc:
        raise RayUnavailable(
            "--ray needs Ray in this Python: scripts/ensure-ray.sh start installs it (and "
            "starts a local head at 127.0.0.1:6389)"
        ) from exc
    try:
        ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise RayUnavailable(f"no Ray cluster answers at {address!r}: {exc}") from exc
    try:
        # by reference to this file as a module (as __main__ its cached helpers do not
        # pickle); Ray's workers find it on the driver's sys.path, which they are given
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        module = importlib.import_module("sia_results")
        task = ray.remote(num_cpus=1)(module.run_pair)
        refs = [task.remote(*call) for call in calls]
        for ref in refs:
            yield ray.get(ref)
    finally:
        ray.shutdown()


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
    parser.add_argument("--model", choices=("goodput", "fixed"), default="goodput")
    parser.add_argument(
        "--ray",
        metavar="ADDRESS",
        help="run the (workload, policy) pairs as tasks on the Ray cluster whose head is "
        "at ADDRESS (host:port; scripts/ensure-ray.sh starts one at 127.0.0.1:6389) "
        "instead of --jobs local processes",
    )
    parser.add_argument(
        "--workload-root",
        type=Path,
        help="read FAMILY/workload-N.csv from here (default: TRACES/sia-workloads); the "
        "repository's heavy workloads: bench/workloads/sia-workloads",
    )
    parser.add_argument(
        "--jobs", type=int, default=os.cpu_count() or 1, help="parallel processes (default: CPUs)"
    )
    args = parser.parse_args(argv)
    root = args.traces / "sia-workloads"
    if not (root / "throughput_profiles").is_dir():
        print(
            f"error: no {root / 'throughput_profiles'}; pass --traces DIR (see README)",
            file=sys.stderr,
        )
        return 1
    policies = args.policy or [*policy_names(), RIGID]
    pairs = [(f, n, p) for f, n in workloads(args.workloads) for p in policies]
    rows: list[dict[str, object]] = []
    t0 = time.perf_counter()
    calls = [(args.model, root, f, n, p, args.workload_root) for f, n, p in pairs]
    try:
        for row in run_on_ray(args.ray, calls) if args.ray else run_here(args.jobs, calls):
            rows.append(row)
            print(json.dumps(row), flush=True)
    except TraceError as e:
        print(f"error: {e}; pass --traces DIR (see README)", file=sys.stderr)
        return 1
    except RayUnavailable as e:
        print(f"error: {e}", file=sys.stderr)
        return 1

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
        "model": args.model,
        "processes": None if args.ray else args.jobs,
        "ray": args.ray,
        "wall_s": round(time.perf_counter() - t0, 1),
    }
    print(json.dumps(summary))
    if args.markdown is not None:
        args.markdown.write_text(markdown(rows, policies))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
