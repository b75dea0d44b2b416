"""Sia workloads as simulator jobs, with the work and speeds of the Sia artifact's model.

A Sia job (Jayaram Subramanya et al., SOSP'23) trains `application` at a global batch
size `batch_size` on `num_replicas` GPUs. Its work is the number of iterations that
batch size needs to reach the application's final epoch, from the artifact's validation
curves (`sia_iterations.json`, cut from siasosp23/artifacts@aaf7a0d:sia-simulator/traces/
APP/validation-B.csv, last epoch's `iteration`; linear between measured batch sizes as
the artifact interpolates). One iteration on `g` GPUs of a model takes the profiled
`step_time` at local batch ceil(B / g) for the most compact placement of g GPUs on that
model's nodes (linear between profiled local batches); past the largest profiled local
batch the job accumulates gradients (the artifact's rule: extra micro-steps cost
step_time - sync_time each). So `rate(model, g)` is iterations per second, measured, not
assumed linear; counts never profiled stay at the largest profiled count's rate.

Restart cost: the artifact charges each application a fixed checkpoint-restore delay
(`rescale_time`); it is kept per job in `SimJob.restart_s`.

Jobs ask for `num_replicas` one-GPU members (`gang_size`); with `elastic` they also
accept a range (`min_gang_size`..`max_gang_size`), which an elastic-aware policy may use
at the same global batch size (Sia also changes the batch size; that is not modelled).
Policies that do not resize run every job at `num_replicas`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from itertools import pairwise
from pathlib import Path

from suanli.adapters.traces._read import map_gpu, read_csv
from suanli.adapters.traces.model import TraceError, TraceJob
from suanli.adapters.traces.sia import PLACEMENT, SIA_PLACEMENT_COLUMNS
from suanli.domain.ids import JobId, TenantId, UserId
from suanli.domain.jobs import MAX_GANG, Job, JobSpec, JobStatus
from suanli.domain.resources import Resources
from suanli.logic.scheduling.policies.sia import DEFAULT_RESTORE_S, RESTORE_S
from suanli.logic.simulation.jobs import SimJob


@dataclass(frozen=True, slots=True)
class _Point:
    local_bsz: int
    step_s: float
    sync_s: float


@dataclass(frozen=True, slots=True)
class SiaProfile:
    """Profiled step times of one application on one GPU model, by placement."""

    app: str
    model: str
    by_placement: Mapping[str, tuple[_Point, ...]]
    """Placement ('24': 2 GPUs on one node, 4 on another; normalised to its smallest
    rotation) -> points sorted by local batch."""
    max_local_bsz: int

    def step_s(self, gpus: int, gpus_per_node: int, local_bsz: int) -> float | None:
        """Seconds per iteration of `local_bsz` per GPU on `gpus` GPUs, accumulating
        gradients past the largest profiled local batch; None if never profiled."""
        points = self._points(gpus, gpus_per_node)
        if points is None:
            return None
        accum = max(0, math.ceil(local_bsz / self.max_local_bsz - 1e-8) - 1)
        atomic = math.ceil(local_bsz / (accum + 1) - 1e-8)
        step, sync = _interpolate(points, atomic)
        return step + accum * (step - sync)

    def _points(self, gpus: int, gpus_per_node: int) -> tuple[_Point, ...] | None:
        packed = normalise(compact(gpus, gpus_per_node))
        if packed in self.by_placement:
            return self.by_placement[packed]
        same = [p for p in self.by_placement if sum(int(d) for d in p) == gpus]
        if not same:
            return None
        return self.by_placement[min(same, key=lambda p: (len(p), p))]

    def gpu_counts(self) -> list[int]:
        return sorted({sum(int(d) for d in p) for p in self.by_placement})


def compact(gpus: int, per_node: int) -> tuple[int, ...]:
    """`gpus` GPUs on whole nodes of `per_node` first, the rest on one more node."""
    full, rest = divmod(gpus, per_node)
    return (per_node,) * full + ((rest,) if rest else ())


def normalise(placement: Sequence[int]) -> str:
    """The artifact's placement id: the lexicographically smallest rotation."""
    parts = tuple(p for p in placement if p)
    best = min(parts[i:] + parts[:i] for i in range(len(parts)))
    return "".join(str(p) for p in best)


def _interpolate(points: Sequence[_Point], local_bsz: int) -> tuple[float, float]:
    if local_bsz <= points[0].local_bsz:
        return points[0].step_s, points[0].sync_s
    for lo, hi in pairwise(points):
        if local_bsz <= hi.local_bsz:
            f = (local_bsz - lo.local_bsz) / (hi.local_bsz - lo.local_bsz)
            return lo.step_s + f * (hi.step_s - lo.step_s), lo.sync_s + f * (hi.sync_s - lo.sync_s)
    return points[-1].step_s, points[-1].sync_s


def load_sia_profiles(folder: Path, clusters: Sequence[str]) -> dict[tuple[str, str], SiaProfile]:
    """(application, GPU model) -> profile, from `APP/placements-CLUSTER.csv` for each
    of `clusters` (Sia's cluster types: 'aws', 'dgx', 'rtx', ...)."""
    if not folder.is_dir():
        raise TraceError(folder, None, None, "a folder of APP/placements-CLUSTER.csv files")
    out: dict[tuple[str, str], SiaProfile] = {}
    for cluster in clusters:
        files = sorted(folder.glob(f"*/placements-{cluster}.csv"))
        if not files:
            raise TraceError(
                folder, None, None, f"APP/placements-{cluster}.csv files", "none for it"
            )
        for file in files:
            model = map_gpu(None, file, "file name", cluster, "sia-workloads")
            if model is None:
                raise TraceError(file, None, "file name", "a cluster type with a known model")
            by: dict[str, list[_Point]] = {}
            for row in read_csv(file, SIA_PLACEMENT_COLUMNS):
                placement = row.text("placement")
                if not PLACEMENT.fullmatch(placement):
                    raise row.fail("placement", "GPUs per node as digits 1-9", placement)
                point = _Point(
                    row.whole("local_bsz", what="samples", minimum=1),
                    row.number("step_time", what="seconds"),
                    row.number("sync_time", what="seconds"),
                )
                by.setdefault(normalise([int(d) for d in placement]), []).append(point)
            if not by:
                raise TraceError(file, None, None, "at least one placement row", "none")
            points = {p: tuple(sorted(v, key=lambda x: x.local_bsz)) for p, v in by.items()}
            app = file.parent.name
            max_local = max(pt.local_bsz for v in points.values() for pt in v)
            out[(app, model)] = SiaProfile(app, model, points, max_local)
    return out


@cache
def sia_iterations() -> Mapping[str, Mapping[int, int]]:
    """Iterations to the final epoch by application and global batch size."""
    text = resources.files("suanli.adapters.traces").joinpath("sia_iterations.json").read_text()
    data = json.loads(text)["iterations"]
    return {app: {int(b): int(n) for b, n in by.items()} for app, by in data.items()}


def iterations_to_finish(app: str, batch_size: int) -> float:
    """Iterations a job of `app` at global batch `batch_size` needs (linear between the
    measured batch sizes, clamped to their range)."""
    table = sia_iterations().get(app)
    if table is None:
        raise TraceError(
            "sia_iterations.json",
            None,
            "application",
            f"one of {', '.join(sorted(sia_iterations()))}",
            app,
        )
    sizes = sorted(table)
    if batch_size <= sizes[0]:
        return float(table[sizes[0]])
    if batch_size >= sizes[-1]:
        return float(table[sizes[-1]])
    hi = next(b for b in sizes if b >= batch_size)
    lo = max(b for b in sizes if b <= batch_size)
    if hi == lo:
        return float(table[lo])
    f = (batch_size - lo) / (hi - lo)
    return table[lo] + f * (table[hi] - table[lo])


def sia_sim_jobs(
    trace: Sequence[TraceJob],
    profiles: Mapping[tuple[str, str], SiaProfile],
    gpus_per_node: Mapping[str, int],
    *,
    start: datetime,
    elastic: tuple[float, float] | None = None,
    tenant: str = "sia",
) -> list[SimJob]:
    """Simulator jobs for a Sia workload on models `gpus_per_node` (model -> GPUs per
    node). `elastic=(lo, hi)`: the job accepts ceil(lo x num_replicas) to
    ceil(hi x num_replicas) GPUs (at least 1, at most MAX_GANG); None: rigid."""
    jobs: list[SimJob] = []
    for seq, row in enumerate(sorted(trace, key=lambda r: (r.submit_s, r.id)), start=1):
        batch = int(row.extra.get("batch_size", "0"))
        work = iterations_to_finish(row.job_type, batch)
        low, high = row.gpus, row.gpus
        if elastic is not None:
            low = max(1, math.ceil(elastic[0] * row.gpus))
            low = min(low, row.gpus)
            high = min(MAX_GANG, max(row.gpus, math.ceil(elastic[1] * row.gpus)))
        scaling: dict[str, dict[int, float]] = {}
        for model, per_node in gpus_per_node.items():
            profile = profiles.get((row.job_type, model))
            if profile is None:
                continue
            rates: dict[int, float] = {}
            for g in range(1, max(high, row.gpus) + 1):
                step = profile.step_s(g, per_node, math.ceil(batch / g - 1e-8))
                if step is not None and step > 0:
                    rates[g] = 1.0 / step
            if rates:
                scaling[model] = rates
        if not scaling:
            raise TraceError(
                "profiles",
                None,
                "application",
                f"a throughput profile for {row.job_type!r} on one of {', '.join(gpus_per_node)}",
            )
        job = sia_job(
            row, seq, start, tenant, (low, high) if elastic is not None else None, row.gpus
        )
        requested = {m: r[row.gpus] for m, r in scaling.items() if row.gpus in r}
        jobs.append(
            SimJob(
                job,
                row.submit_s,
                work,
                speed=requested,
                scaling=scaling,
                restart_s=RESTORE_S.get(row.job_type, DEFAULT_RESTORE_S),
            )
        )
    return jobs


def sia_job(
    row: TraceJob,
    seq: int,
    start: datetime,
    tenant: str,
    elastic: tuple[int, int] | None,
    gang: int,
) -> Job:
    """A Sia trace row as a pending job of one-GPU members (of model `any`): `gang`
    members, accepting `elastic` = (fewest, most) when given."""
    spec = JobSpec.create(
        command=["sia", row.id],
        resources=Resources.request(cpus=1, memory_mb=1024, gpus={"any": 1}),
        gang_size=gang,
        min_gang_size=elastic[0] if elastic is not None else None,
        max_gang_size=elastic[1] if elastic is not None else None,
        job_type=row.job_type,
    )
    return Job(
        JobId(f"sia-{row.id}"), TenantId(tenant), UserId(tenant), spec, JobStatus.PENDING, start,
        seq=seq,
    )  # fmt: skip
