"""Scheduling cycle at scale: placements per second, full-queue cycle time, memory.

Builds a seeded synthetic pool (--nodes nodes of 8 accelerators each, of 8 catalog
models, in 10 regions, --cluster-nodes nodes per cluster, 4 providers, about two thirds
of the clusters priced) and --jobs pending jobs whose GPU counts, durations and virtual
clusters are drawn from Microsoft's Philly trace (Jeon et al., ATC'19) at --traces
(philly/philly_full.csv). A job asking for more than 8 GPUs becomes a gang of ceil(g/8)
members x 8 GPUs; jobs ask for one model or for `any`, tenants are Philly's virtual
clusters, time limits come from the trace's durations. Then, in one run:

1. fill: cycles of the policy (default "suanli") from an empty pool, each over the first
   --cycle-jobs pending jobs (submission order) on a snapshot whose free capacity and
   running jobs reflect the admissions before it, until the pool is full (a cycle admits
   nothing or free GPUs fall under 1%): placements_per_s = admissions / wall time of the
   `run_cycle` calls (building snapshots is not counted);
2. full queue: on the full pool, --repeat cycles over --jobs pending jobs (the fill's
   leftovers, topped up with new jobs drawn the same way): cycle_p50_ms / cycle_p99_ms;
3. naive: the same first --naive-jobs jobs placed from an empty pool by the policy's
   cycle and by a plain first-fit that scans every node for every job
   (`Resources.bind`; a gang's members all in one cluster): vs_naive = naive time /
   cycle time. The same on the full pool for --naive-full-jobs pending jobs
   (vs_naive_full_pool), where first-fit scans all nodes for a job that does not fit.

Last stdout line:

    {"bench": "scheduler", "placements_per_s": ..., "cycle_p50_ms": ..., "cycle_p99_ms":
     ..., "peak_rss_mb": ..., "vs_naive": ..., ...}

Targets (issue): >= 1,000 placements/s, a full-queue cycle (100,000 jobs) < 2 s, peak
RSS < 2 GB.

    .venv/bin/python bench/scheduler.py [--nodes 10000] [--jobs 100000] [--repeat 20]
        [--seed 0] [--traces ../shared/traces]
    .venv/bin/python bench/scheduler.py --nodes 500 --jobs 5000 --repeat 3   # smoke
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import math
import random
import resource
import sys
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from suanli.domain.devices import ANY_GPU
from suanli.domain.errors import DomainError
from suanli.domain.geo import LatencyMatrix
from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.jobs import MAX_TIME_LIMIT_S, Job, JobSpec, JobStatus, PriorityClass
from suanli.domain.quota import TenantShare
from suanli.domain.resources import Resources
from suanli.logic.scheduling.cycle import CycleResult, run_cycle
from suanli.logic.scheduling.placement import filter_key
from suanli.logic.scheduling.policies import get_policy
from suanli.logic.scheduling.policy import Policy
from suanli.logic.scheduling.snapshot import ClusterView, NodeView, RegionView, Snapshot
from suanli.logic.scheduling.state import SchedulerSettings

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TRACES = REPO.parent / "shared" / "traces"
PHILLY = Path("philly") / "philly_full.csv"
NOW = datetime(2026, 1, 5, tzinfo=UTC)
GPUS_PER_NODE = 8
FULL_FREE_FRACTION = 0.01
"""The fill stops when free GPUs fall under this fraction of all GPUs."""


@dataclass(frozen=True, slots=True)
class Model:
    name: str
    """Canonical catalog name (src/suanli/domain/devices.json)."""
    share: float
    """Relative share of the pool's nodes."""
    price: float
    """Typical posted price per GPU-hour."""
    memory_gb: int
    cpus: int
    memory_mb: int
    """Host cores and memory of one 8-device node."""


MODELS = (
    Model("H100", 0.16, 2.9, 80, 192, 2_097_152),
    Model("H800", 0.10, 2.6, 80, 192, 2_097_152),
    Model("A100-80GB", 0.18, 1.8, 80, 128, 1_048_576),
    Model("A800", 0.10, 1.6, 80, 128, 1_048_576),
    Model("ASCEND-910B", 0.12, 1.4, 64, 192, 1_572_864),
    Model("L40S", 0.12, 1.0, 48, 96, 786_432),
    Model("V100", 0.12, 0.6, 16, 80, 786_432),
    Model("T4", 0.10, 0.3, 16, 64, 524_288),
)
# Places in the geo table (suanli.domain.geo), so that latency SLOs can be estimated.
REGIONS = (
    "beijing",
    "shanghai",
    "guangzhou",
    "hangzhou",
    "zhengzhou",
    "wuhan",
    "chengdu",
    "guiyang",
    "qingyang",
    "zhangjiakou",
)
PROVIDERS = ("alpha-cloud", "beta-compute", "gamma-idc", "delta-hpc")
CPUS_PER_GPU = (2, 4, 6, 8)
_H = 3600
TIME_LIMITS: tuple[int, ...] = (
    600,
    1800,
    _H,
    2 * _H,
    4 * _H,
    8 * _H,
    12 * _H,
    24 * _H,
    48 * _H,
    72 * _H,
)
TIME_LIMITS += (7 * 24 * _H, 14 * 24 * _H, 30 * 24 * _H, 90 * 24 * _H, 180 * 24 * _H)
GIB_PER_GPU = (16, 32, 48, 64)


class BenchError(Exception):
    """A failure the bench reports as one line and exit status 1."""


def log(msg: str) -> None:
    print(f"[bench scheduler] {msg}", file=sys.stderr, flush=True)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- the trace --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TraceRow:
    gpus: int
    duration_s: float | None
    vc: str


def load_philly(traces: Path) -> list[TraceRow]:
    path = traces / PHILLY
    if not path.is_file():
        raise BenchError(
            f"Philly trace not found at {path} (expected {PHILLY} under --traces "
            f"{traces}); see ../shared/traces/README.md, or pass --traces DIR."
        )
    rows: list[TraceRow] = []
    with path.open(newline="") as f:
        for rec in csv.DictReader(f):
            try:
                gpus = int(rec["num_gpus"])
            except (KeyError, TypeError, ValueError):
                continue
            if gpus < 1:
                continue
            try:
                duration: float | None = float(rec.get("duration") or "nan")
            except ValueError:
                duration = None
            if duration is not None and not (duration > 0 and math.isfinite(duration)):
                duration = None
            rows.append(TraceRow(gpus, duration, (rec.get("cluster") or "default").strip()))
    if not rows:
        raise BenchError(f"{path} has no rows with a num_gpus column >= 1")
    return rows


# --- the pool ---------------------------------------------------------------------------


@dataclass(slots=True)
class Pool:
    clusters: list[ClusterView]
    free: dict[tuple[ClusterId, NodeId], Resources]
    regions: dict[RegionId, RegionView]
    latency: LatencyMatrix
    gpus: int
    gpus_by_model: dict[str, int]
    regions_by_model: dict[str, set[str]]
    dirty: set[int]

    def views(self) -> tuple[ClusterView, ...]:
        """The clusters with their current free capacity (rebuilding changed ones)."""
        for i in self.dirty:
            c = self.clusters[i]
            nodes = tuple(replace(n, free=self.free[(c.id, n.node_id)]) for n in c.nodes)
            self.clusters[i] = replace(c, nodes=nodes)
        self.dirty.clear()
        return tuple(self.clusters)

    def free_gpus(self) -> int:
        return sum(sum(r.gpus.values()) for r in self.free.values())


def build_pool(nodes: int, cluster_nodes: int, rng: random.Random) -> Pool:
    count = max(1, math.ceil(nodes / cluster_nodes))
    weights = [m.share for m in MODELS]
    # every model in some cluster (when there are enough clusters), the rest by share
    plan = list(MODELS[:count]) + rng.choices(MODELS, weights, k=max(0, count - len(MODELS)))
    rng.shuffle(plan)
    clusters: list[ClusterView] = []
    free: dict[tuple[ClusterId, NodeId], Resources] = {}
    by_model: dict[str, int] = {}
    regions_of: dict[str, set[str]] = {}
    left = nodes
    for i in range(count):
        size = min(cluster_nodes, left)
        left -= size
        cid = ClusterId(f"c{i:03d}")
        main = plan[i]
        # a quarter of the clusters are mixed: their last third runs a second model
        second = rng.choices(MODELS, weights)[0] if rng.random() < 0.25 else main
        views: list[NodeView] = []
        for j in range(size):
            m = second if j >= size - size // 3 else main
            cap = Resources(m.cpus * 1000, m.memory_mb, {m.name: GPUS_PER_NODE}, m.memory_gb * 1024)
            nid = NodeId(f"{cid}-n{j:04d}")
            views.append(NodeView(cid, nid, cap, cap))
            free[(cid, nid)] = cap
            by_model[m.name] = by_model.get(m.name, 0) + GPUS_PER_NODE
        priced = rng.random() < 0.65
        region = REGIONS[i] if i < len(REGIONS) else rng.choice(REGIONS)
        for name in {main.name, second.name if size // 3 else main.name}:
            regions_of.setdefault(name, set()).add(region)
        clusters.append(
            ClusterView(
                cid,
                RegionId(region),
                ProviderId(rng.choice(PROVIDERS)),
                "slurm" if rng.random() < 0.5 else "kubernetes",
                tuple(views),
                gpu_hour_price=round(main.price * rng.uniform(0.8, 1.25), 3) if priced else None,
                reliability=round(rng.uniform(0.9, 1.0), 3),
            )
        )
    regions = {
        RegionId(r): RegionView(
            RegionId(r),
            energy_price=round(rng.uniform(0.3, 0.8), 3) if k % 2 == 0 else None,
            carbon_intensity=round(rng.uniform(300, 700), 1) if k % 3 == 0 else None,
        )
        for k, r in enumerate(REGIONS)
    }
    latency = LatencyMatrix(region_places={r: r for r in REGIONS})
    return Pool(
        clusters,
        free,
        regions,
        latency,
        nodes * GPUS_PER_NODE,
        by_model,
        regions_of,
        set(range(count)),
    )


# --- the jobs ---------------------------------------------------------------------------


class JobMaker:
    """Draws jobs from the trace with a seeded mix of models, tenants and constraints."""

    def __init__(
        self,
        rows: Sequence[TraceRow],
        pool: Pool,
        rng: random.Random,
        guaranteed: float,
        preemptible: float,
    ) -> None:
        self._rows = rows
        self._rng = rng
        self._models = sorted(pool.gpus_by_model)
        self._regions_of = {m: sorted(r) for m, r in pool.regions_by_model.items()}
        self._model_weights = [pool.gpus_by_model[m] for m in self._models]
        self._guaranteed = guaranteed
        self._preemptible = preemptible
        self._specs: dict[tuple[object, ...], JobSpec] = {}
        self.seq = 0
        vcs = sorted({r.vc for r in rows})
        self.tenants = [TenantId(f"vc-{vc}"[:63].lower()) for vc in vcs]
        self._tenant_of = dict(zip(vcs, self.tenants, strict=True))

    def _spec(self, key: tuple[object, ...], build: dict[str, Any]) -> JobSpec:
        spec = self._specs.get(key)
        if spec is None:
            spec = JobSpec.create(command=["python3", "train.py"], **build)
            self._specs[key] = spec
        return spec

    @property
    def specs(self) -> int:
        return len(self._specs)

    def make(self, count: int, start: datetime, end: datetime) -> list[Job]:
        """`count` jobs submitted between start and end, in submission order."""
        rng = self._rng
        span = (end - start).total_seconds()
        stamps = sorted(rng.uniform(0, span) for _ in range(count))
        jobs: list[Job] = []
        for offset in stamps:
            row = rng.choice(self._rows)
            members = math.ceil(row.gpus / GPUS_PER_NODE)
            per = row.gpus if members == 1 else GPUS_PER_NODE
            allowed: tuple[str, ...] = ()
            if rng.random() < 0.35:
                model = ANY_GPU
                if rng.random() < 0.2:
                    allowed = tuple(sorted(rng.sample(self._models, min(3, len(self._models)))))
            else:
                model = rng.choices(self._models, self._model_weights)[0]
            cpus = rng.choice(CPUS_PER_GPU) * per
            memory = rng.choice(GIB_PER_GPU) * per * 1024
            limit: int | None = None
            if row.duration_s is not None:
                # users ask for more than they use, and pick round limits
                want = row.duration_s * rng.uniform(1.2, 2.0)
                limit = next((t for t in TIME_LIMITS if t >= want), MAX_TIME_LIMIT_S)
            # users name regions (and clients' regions) where their models are
            near = sorted(
                {r for m in (allowed or self._models) for r in self._regions_of[m]}
                if model == ANY_GPU
                else self._regions_of[model]
            )
            regions: tuple[str, ...] = ()
            if rng.random() < 0.1:
                regions = tuple(rng.sample(near, min(len(near), rng.randint(1, 3))))
            client: str | None = None
            slo: float | None = None
            if members == 1 and per == 1 and rng.random() < 0.03:
                client, slo = rng.choice(near), 30.0
            r = rng.random()
            if r < self._guaranteed:
                cls = PriorityClass.GUARANTEED
            elif r < self._guaranteed + self._preemptible:
                cls = PriorityClass.PREEMPTIBLE
            else:
                cls = PriorityClass.STANDARD
            key = (per, model, allowed, cpus, memory, limit, regions, client, slo, cls, members)
            spec = self._spec(
                key,
                {
                    "resources": Resources.request(cpus=cpus, memory_mb=memory, gpus={model: per}),
                    "time_limit_s": limit,
                    "priority_class": cls,
                    "regions": regions,
                    "gang_size": members,
                    "gpu_models": allowed,
                    "client_region": client,
                    "latency_slo_ms": slo,
                },
            )
            tenant = self._tenant_of[row.vc]
            self.seq += 1
            jobs.append(
                Job(
                    JobId(f"j-{self.seq:08d}"),
                    tenant,
                    UserId(f"u-{tenant[-4:]}-{rng.randrange(8)}"),
                    spec,
                    JobStatus.PENDING,
                    start + timedelta(seconds=offset),
                    seq=self.seq,
                )
            )
        return jobs


# --- cycles -----------------------------------------------------------------------------


@dataclass(slots=True)
class World:
    pool: Pool
    shares: dict[TenantId, TenantShare]
    usage_units: dict[TenantId, float]
    running: list[Job]
    with_running: bool

    def snapshot(self, queue: Sequence[Job], now: datetime) -> Snapshot:
        return Snapshot(
            now,
            self.pool.views(),
            tuple(queue),
            running=tuple(self.running) if self.with_running else (),
            shares=self.shares,
            usage_units=self.usage_units,
            regions=self.pool.regions,
            latency=self.pool.latency,
        )

    def apply(self, result: CycleResult, by_id: dict[JobId, Job], now: datetime) -> int:
        """Take the admissions' capacity; the admitted jobs start running. Returns GPUs.
        Preemptions are not carried out (their victims keep running)."""
        pool = self.pool
        index = {c.id: i for i, c in enumerate(pool.clusters)}
        gpus = 0
        for a in result.admitted:
            for p in a.placements:
                key = (a.cluster_id, p.node_id)
                left = pool.free[key] - p.allocation
                if (
                    left.cpu_milli < 0
                    or left.memory_mb < 0
                    or min(left.gpus.values(), default=0) < 0
                ):
                    raise BenchError(f"the cycle admitted {a.job_id} over capacity on {key}")
                pool.free[key] = left
                gpus += sum(p.allocation.gpus.values())
            pool.dirty.add(index[a.cluster_id])
            job = by_id[a.job_id]
            self.running.append(
                replace(
                    job,
                    status=JobStatus.RUNNING,
                    cluster_id=a.cluster_id,
                    node_id=a.node_id,
                    allocation=a.allocation,
                    placements=a.placements,
                    started_at=now,
                    updated_at=now,
                    attempt=1,
                )
            )
        return gpus


def seq(job: Job) -> int:
    return job.seq


def shapes(jobs: Sequence[Job]) -> int:
    """Distinct shapes as the policy's caches see them (request and constraints)."""
    return len({filter_key(j) for j in jobs})


def timed_cycle(snapshot: Snapshot, policy: Policy) -> tuple[CycleResult, float]:
    t0 = time.perf_counter()
    result = run_cycle(snapshot, policy)
    return result, time.perf_counter() - t0


# --- the naive baseline -----------------------------------------------------------------


def _cluster_allows(c: ClusterView, spec: JobSpec, latency: LatencyMatrix) -> bool:
    p = spec.placement
    if p.regions and c.region_id not in p.regions:
        return False
    if c.region_id in p.deny_regions:
        return False
    if p.providers and c.provider_id not in p.providers:
        return False
    if c.provider_id in p.deny_providers:
        return False
    if p.client_region is not None and p.latency_slo_ms is not None:
        return latency.rtt_ms(p.client_region, c.region_id) <= p.latency_slo_ms
    return True


def _model_allowed(bound: Resources, spec: JobSpec) -> bool:
    allowed = spec.placement.gpu_models
    return not allowed or all(m in allowed for m in bound.gpus)


def naive_first_fit(snapshot: Snapshot, jobs: Sequence[Job], latency: LatencyMatrix) -> int:
    """First fit, plainly: for each job in order, for each node in order, bind. A gang's
    members go to the first cluster that holds all of them (first fit inside it).
    Returns how many jobs it placed."""
    flat = snapshot.nodes()
    free = [n.free for _, n in flat]
    cluster_at = [c for c, _ in flat]
    ranges: list[tuple[ClusterView, int, int]] = []
    start = 0
    for c in snapshot.clusters:
        ranges.append((c, start, start + len(c.nodes)))
        start += len(c.nodes)
    placed = 0
    for job in jobs:
        spec = job.spec
        request = spec.resources
        ok = {c.id: _cluster_allows(c, spec, latency) for c in snapshot.clusters}
        if spec.gang_size == 1:
            for i in range(len(free)):
                if not ok[cluster_at[i].id]:
                    continue
                bound = request.bind(free[i])
                if bound is None or not _model_allowed(bound, spec):
                    continue
                free[i] = free[i] - bound
                placed += 1
                break
            continue
        for c, lo, hi in ranges:
            if not ok[c.id]:
                continue
            trial: dict[int, Resources] = {}
            member = request
            need = spec.gang_size
            for i in range(lo, hi):
                room = free[i]
                while need:
                    bound = member.bind(room)
                    if bound is None or not _model_allowed(bound, spec):
                        break
                    # the other members take the same model
                    member = Resources(
                        request.cpu_milli, request.memory_mb, bound.gpus, request.gpu_memory_mb
                    )
                    room = room - bound
                    need -= 1
                if room is not free[i]:
                    trial[i] = room
                if need == 0:
                    break
            if need == 0:
                for i, room in trial.items():
                    free[i] = room
                placed += 1
                break
    return placed


def compare_naive(
    world: World, policy: Policy, jobs: Sequence[Job], now: datetime
) -> tuple[float, float, int, int]:
    """(cycle seconds, naive seconds, cycle placements, naive placements) on one snapshot."""
    snap = world.snapshot(jobs, now)
    result, cycle_s = timed_cycle(snap, policy)
    # the cycle runs with the cyclic collector paused (cycle.py); so does the baseline,
    # so that the ratio compares the algorithms
    collecting = gc.isenabled()
    gc.disable()
    try:
        t0 = time.perf_counter()
        naive = naive_first_fit(snap, jobs, world.pool.latency)
        naive_s = time.perf_counter() - t0
    finally:
        if collecting:
            gc.enable()
    return cycle_s, naive_s, len(result.admitted), naive


# --- main -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nodes", type=int, default=10_000, help="nodes of 8 GPUs each")
    parser.add_argument(
        "--cluster-nodes",
        type=int,
        default=None,
        help="nodes per cluster (default: 250, fewer for small pools so there are 40 clusters)",
    )
    parser.add_argument("--jobs", type=int, default=100_000, help="pending jobs")
    parser.add_argument(
        "--cycle-jobs", type=int, default=5_000, help="queue cap per fill cycle (first N)"
    )
    parser.add_argument("--repeat", type=int, default=20, help="full-queue cycles to time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--traces",
        type=Path,
        default=DEFAULT_TRACES,
        help="folder with philly/philly_full.csv (default ../shared/traces from the repo)",
    )
    parser.add_argument("--policy", default="suanli", help="scheduling policy by name")
    parser.add_argument(
        "--naive-jobs", type=int, default=2_000, help="jobs for the empty-pool comparison"
    )
    parser.add_argument(
        "--naive-full-jobs", type=int, default=200, help="jobs for the full-pool comparison"
    )
    parser.add_argument(
        "--guaranteed", type=float, default=0.05, help="fraction of guaranteed jobs"
    )
    parser.add_argument(
        "--preemptible", type=float, default=0.10, help="fraction of preemptible jobs"
    )
    parser.add_argument(
        "--no-preemption", action="store_true", help="policy setting preemption=False"
    )
    parser.add_argument("--no-backfill", action="store_true", help="policy setting backfill=False")
    parser.add_argument(
        "--no-running",
        action="store_true",
        help="leave the admitted (running) jobs out of the snapshots",
    )
    args = parser.parse_args(argv)
    if args.cluster_nodes is None:
        args.cluster_nodes = max(1, min(250, math.ceil(args.nodes / 40)))
    if min(args.nodes, args.cluster_nodes, args.jobs, args.cycle_jobs, args.repeat) < 1:
        parser.error("--nodes, --cluster-nodes, --jobs, --cycle-jobs and --repeat must be >= 1")
    if args.naive_jobs < 0 or args.naive_full_jobs < 0:
        parser.error("--naive-jobs and --naive-full-jobs must be >= 0")
    if min(args.guaranteed, args.preemptible) < 0 or args.guaranteed + args.preemptible > 1:
        parser.error("--guaranteed and --preemptible are fractions summing to at most 1")
    return args


def fill(world: World, policy: Policy, pending: list[Job], cycle_jobs: int) -> dict[str, Any]:
    """Cycles from an empty pool until it is full; `pending` loses the admitted jobs.

    Each cycle decides the first `cycle_jobs` jobs of a rotating list: the jobs a cycle
    left waiting go to its back, so that a head of jobs that cannot fit now does not
    hide the jobs behind it (the live scheduler decides the whole queue every cycle).
    Stops when free GPUs fall under 1% or a whole pass over the list admits nothing."""
    pool = world.pool
    by_id = {j.id: j for j in pending}
    line = deque(pending)
    cycles: list[float] = []
    admitted = gpus = 0
    stale = 0
    now = NOW
    free = pool.free_gpus()
    while line:
        batch = sorted((line.popleft() for _ in range(min(cycle_jobs, len(line)))), key=seq)
        result, dt = timed_cycle(world.snapshot(batch, now), policy)
        cycles.append(dt)
        done = {a.job_id for a in result.admitted}
        taken = world.apply(result, by_id, now)
        gpus += taken
        free -= taken
        admitted += len(done)
        line.extend(j for j in batch if j.id not in done)
        stale = 0 if done else stale + len(batch)
        if len(cycles) % 10 == 1:
            log(
                f"fill cycle {len(cycles)}: {len(done)} admitted in {dt * 1000:.0f} ms, "
                f"{admitted} in all, {free} of {pool.gpus} GPUs free"
            )
        if free < FULL_FREE_FRACTION * pool.gpus or stale >= len(line):
            break
        now += timedelta(seconds=10)
    log(f"fill: {admitted} admitted in {len(cycles)} cycles, {free} of {pool.gpus} GPUs free")
    pending[:] = sorted(line, key=seq)
    wall = sum(cycles)
    return {
        "placements_per_s": round(admitted / wall, 1) if wall else 0.0,
        "admitted": admitted,
        "admitted_gpus": gpus,
        "fill_cycles": len(cycles),
        "fill_cycle_s": round(wall, 3),
        "fill_first_cycle_ms": round(cycles[0] * 1000, 1) if cycles else None,
        "gpu_utilization": round(1 - free / pool.gpus, 4),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    t_setup = time.perf_counter()
    rng = random.Random(args.seed)
    rows = load_philly(args.traces)
    pool = build_pool(args.nodes, args.cluster_nodes, rng)
    settings = SchedulerSettings(preemption=not args.no_preemption, backfill=not args.no_backfill)

    def fresh() -> Policy:
        # a policy instance keeps memos across cycles, as the live scheduler's does; the
        # comparisons with first-fit start cold
        return get_policy(args.policy, settings)

    policy = fresh()
    maker = JobMaker(rows, pool, rng, args.guaranteed, args.preemptible)
    pending = maker.make(args.jobs, NOW - timedelta(days=3), NOW)
    world = World(
        pool,
        {t: TenantShare(t, weight=float(rng.choice((1, 1, 2, 4)))) for t in maker.tenants},
        {t: round(rng.uniform(0, 5_000), 1) for t in maker.tenants},
        [],
        not args.no_running,
    )
    models = sorted(pool.gpus_by_model)
    log(
        f"{args.nodes} nodes, {pool.gpus} GPUs of {len(models)} models in "
        f"{len({c.region_id for c in pool.clusters})} regions, {len(pool.clusters)} clusters; "
        f"{len(pending)} jobs of {shapes(pending)} shapes from {len(rows)} Philly rows, "
        f"{len(maker.tenants)} tenants ({time.perf_counter() - t_setup:.1f} s)"
    )
    result: dict[str, Any] = {"bench": "scheduler", "policy": policy.name}

    # 3a. naive versus the cycle on the first jobs, from the empty pool
    sample = pending[: args.naive_jobs]
    if sample:
        log(f"empty pool: the cycle and naive first-fit over the first {len(sample)} jobs")
        cycle_s, naive_s, cycle_n, naive_n = compare_naive(world, fresh(), sample, NOW)
        log(f"cycle {cycle_s:.3f} s ({cycle_n} placed), naive {naive_s:.3f} s ({naive_n})")

    # 1. fill
    log(f"fill: cycles over the first {args.cycle_jobs} pending jobs until the pool is full")
    filled = fill(world, policy, pending, args.cycle_jobs)

    # 2. full queue
    top_up = args.jobs - len(pending)
    if top_up > 0:
        pending.extend(maker.make(top_up, NOW, NOW + timedelta(hours=1)))
    now = NOW + timedelta(hours=1)
    snap = world.snapshot(pending, now)
    log(
        f"full queue: {args.repeat} cycles over {len(pending)} pending jobs, "
        f"{len(world.running)} running"
    )
    times: list[float] = []
    last: CycleResult | None = None
    for i in range(args.repeat):
        last, dt = timed_cycle(snap, policy)
        times.append(dt)
        log(f"full-queue cycle {i + 1}: {dt * 1000:.0f} ms, {len(last.admitted)} admitted")
    first_ms = times[0] * 1000
    times.sort()
    assert last is not None

    result.update(
        {
            "placements_per_s": filled["placements_per_s"],
            "cycle_p50_ms": round(percentile(times, 50) * 1000, 1),
            "cycle_p99_ms": round(percentile(times, 99) * 1000, 1),
            "peak_rss_mb": 0.0,
            "vs_naive": None,
        }
    )
    if sample:
        result["vs_naive"] = round(naive_s / cycle_s, 2)
        result.update(
            {
                "vs_naive_on": f"first {len(sample)} jobs from an empty pool, one cycle",
                "naive_s": round(naive_s, 3),
                "naive_placed": naive_n,
                "cycle_s": round(cycle_s, 3),
                "cycle_placed": cycle_n,
            }
        )

    # 3b. naive versus the cycle on the full pool
    full_sample = pending[: args.naive_full_jobs]
    if full_sample:
        log(f"full pool: the cycle and naive first-fit over {len(full_sample)} pending jobs")
        fc_s, fn_s, fc_n, fn_n = compare_naive(world, fresh(), full_sample, now)
        log(f"cycle {fc_s:.3f} s ({fc_n} placed), naive {fn_s:.3f} s ({fn_n})")
        result.update(
            {
                "vs_naive_full_pool": round(fn_s / fc_s, 2),
                "full_pool_sample": len(full_sample),
                "full_pool_naive_s": round(fn_s, 3),
                "full_pool_cycle_s": round(fc_s, 3),
            }
        )

    result.update(
        {
            "nodes": args.nodes,
            "gpus": pool.gpus,
            "models": len(models),
            "regions": len({c.region_id for c in pool.clusters}),
            "clusters": len(pool.clusters),
            "providers": len({c.provider_id for c in pool.clusters}),
            "jobs": args.jobs,
            "shapes": shapes(pending),
            "tenants": len(maker.tenants),
            **filled,
            "full_queue": len(pending),
            "running": len(world.running) if world.with_running else 0,
            "full_cycle_admitted": len(last.admitted),
            "full_cycle_preemptions": len(last.preemptions),
            "cycle_first_ms": round(first_ms, 1),
            "cycle_max_ms": round(times[-1] * 1000, 1),
            "repeat": args.repeat,
            "seed": args.seed,
            "preemption": settings.preemption,
            "backfill": settings.backfill,
            "guaranteed": args.guaranteed,
            "preemptible": args.preemptible,
        }
    )
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = run(args)
    except (BenchError, DomainError) as exc:
        log(f"error: {exc}")
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
