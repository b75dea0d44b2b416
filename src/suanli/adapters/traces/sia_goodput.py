"""Sia workloads on the goodput job model (`logic/simulation/goodput.py`), as the Sia
artifact's simulator runs them (siasosp23/artifacts@aaf7a0d, sia-simulator/job.py,
applications.py; docs/fidelity.md says what differs).

Data:
- gradient statistics and epoch boundaries per application and batch size:
  `sia_validation.json` (derived by scripts/derive-sia-validation.py from the artifact's
  validation curves, committed);
- step times per GPU type: `APP/placements-TYPE.csv` and `APP/scalability-TYPE.csv` of the
  artifact's throughput profiles (read from the traces folder). A profiled placement is
  interpolated in its local batch; any other by linear interpolation over (nodes,
  replicas, local batch) of the placements' means and the scalability rows, as the
  artifact does (scipy's LinearNDInterpolator).

A job trains its application for `max_epochs` epochs; its work is the progress (in
iterations at the smallest batch size) at the last epoch's end, and its rate on a
(GPU model, GPU count) is constant within an epoch: gain / iteration time / SLOWDOWN,
the artifact's per-application calibration (`SLOWDOWN`). Under batch-size tuning
(`tune=True`, Sia's adaptive jobs) the batch is the one of 50 geometrically spaced
candidates that maximises goodput on that allocation, up to the application's largest
batch; otherwise the job keeps the batch it was submitted with (strong scaling, as the
artifact runs every job under Gavel). The GPUs of a count are placed compactly (whole
nodes first).
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
from scipy.interpolate import LinearNDInterpolator

from suanli.adapters.traces._read import map_gpu, read_csv
from suanli.adapters.traces.model import TraceError, TraceJob
from suanli.adapters.traces.sia import PLACEMENT, SIA_PLACEMENT_COLUMNS
from suanli.adapters.traces.sia_jobs import compact, normalise, sia_job
from suanli.domain.jobs import MAX_GANG
from suanli.logic.scheduling.policies.sia import DEFAULT_RESTORE_S, RESTORE_S
from suanli.logic.simulation.goodput import GradStats, gain, geomspace, iteration_s, split_batch
from suanli.logic.simulation.jobs import SimJob

SLOWDOWN: Mapping[str, float] = {
    # sia-simulator/simulator_config.py SLOWDOWNS: the simulated job runs this much slower
    # than profiled (calibration against the artifact's physical runs)
    "cifar10": 1.8,
    "ncf": 1.5,
    "gpt_pmp": 1.0,
}
DEFAULT_SLOWDOWN = 1.2
SCALABILITY_COLUMNS = ("num_nodes", "num_replicas", "local_bsz", "step_time", "sync_time")
BATCH_CANDIDATES = 50
"""Batch sizes the tuning tries (the artifact's GoodputFunction.optimize)."""
MAX_NODES_INTERPOLATED = 16
"""The artifact interpolates at most 16 nodes."""
DEEPSPEECH2_RTX_MAX_LOCAL = 57
"""applications.py: deepspeech2 on 'rtx' holds at most 57 samples per GPU."""


@dataclass(frozen=True, slots=True)
class Curves:
    """One application's training curves: epoch boundaries and gradient statistics by
    batch size."""

    app: str
    max_epochs: int
    batches: tuple[int, ...]
    progress: Mapping[int, tuple[float, ...]]
    grad: Mapping[int, tuple[GradStats, ...]]
    boundaries: tuple[float, ...] = field(init=False)
    """boundaries[e]: progress at the start of epoch e (0 for e = 0); the last is the
    job's whole work."""

    def __post_init__(self) -> None:
        ends = [min(self.progress[b][e] for b in self.batches) for e in range(self.max_epochs)]
        object.__setattr__(self, "boundaries", (0.0, *ends))

    @property
    def init_batch(self) -> int:
        return self.batches[0]

    @property
    def max_batch(self) -> int:
        return self.batches[-1]

    @property
    def work(self) -> float:
        return self.boundaries[-1]

    def epoch(self, done: float) -> int:
        """The epoch `done` progress is in (the last one at the end)."""
        return min(bisect.bisect_right(self.boundaries, done) - 1, self.max_epochs - 1)

    def grad_at(self, batch: float, epoch: int) -> GradStats:
        """Gradient statistics at `batch`, linear between the measured batch sizes
        (clamped to their range)."""
        b = min(max(batch, self.init_batch), self.max_batch)
        hi = bisect.bisect_left(self.batches, b)
        upper = self.batches[hi]
        if upper == b:
            return self.grad[upper][epoch]
        lower = self.batches[hi - 1]
        lo_g, hi_g = self.grad[lower][epoch], self.grad[upper][epoch]
        f = (b - lower) / (upper - lower)
        return GradStats(lo_g.sqr + f * (hi_g.sqr - lo_g.sqr), lo_g.var + f * (hi_g.var - lo_g.var))


@cache
def curves(app: str) -> Curves:
    """The committed curves of `app` (TraceError naming the known ones otherwise)."""
    text = resources.files("suanli.adapters.traces").joinpath("sia_validation.json").read_text()
    data: dict[str, Any] = json.loads(text)["apps"]
    if app not in data:
        raise TraceError(
            "sia_validation.json", None, "application", f"one of {', '.join(sorted(data))}", app
        )
    entry = data[app]
    batches = tuple(sorted(int(b) for b in entry["curves"]))
    progress = {b: tuple(entry["curves"][str(b)]["progress"]) for b in batches}
    grad = {
        b: tuple(
            GradStats(s, v)
            for s, v in zip(
                entry["curves"][str(b)]["grad_sqr"],
                entry["curves"][str(b)]["grad_var"],
                strict=True,
            )
        )
        for b in batches
    }
    return Curves(app, int(entry["max_epochs"]), batches, progress, grad)


class StepTimes:
    """Profiled step and sync times of one application on one GPU type."""

    def __init__(
        self,
        app: str,
        gpu_type: str,
        placements: Mapping[str, Sequence[tuple[int, float, float]]],
        scalability: Sequence[tuple[int, int, int, float, float]],
    ) -> None:
        self.app = app
        self.gpu_type = gpu_type
        self._by = {p: sorted(rows) for p, rows in placements.items()}
        all_local = [r[0] for rows in self._by.values() for r in rows]
        self.min_local = min(all_local)
        self.max_local = max(all_local)
        if app == "deepspeech2" and gpu_type == "rtx":
            self.max_local = DEEPSPEECH2_RTX_MAX_LOCAL
        self._max_local_by_replicas: dict[int, int] = {}
        for p, rows in self._by.items():
            r = sum(int(d) for d in p)
            self._max_local_by_replicas[r] = max(
                self._max_local_by_replicas.get(r, 0), max(x[0] for x in rows)
            )
        self._scalability = list(scalability)
        self._nd: LinearNDInterpolator | None = None
        self._cache: dict[tuple[str, int], tuple[float, float] | None] = {}

    def _interpolator(self) -> LinearNDInterpolator:
        if self._nd is None:
            # the placements' means by (nodes, replicas, local batch), sorted by those keys,
            # then the scalability rows in file order: the artifact's point order (Qhull's
            # triangulation depends on it)
            grouped: dict[tuple[int, int, int], list[tuple[float, float]]] = {}
            for p, rows in self._by.items():
                key = (len(p), sum(int(d) for d in p))
                for local, step, sync in rows:
                    grouped.setdefault((*key, local), []).append((step, sync))
            points: list[tuple[float, ...]] = [
                (*k, sum(v[0] for v in vs) / len(vs), sum(v[1] for v in vs) / len(vs))
                for k, vs in sorted(grouped.items())
            ]
            points += [(n, r, b, s, y) for n, r, b, s, y in self._scalability]
            xs = np.array([p[:3] for p in points], dtype=np.float64)
            ys = np.array([p[3:] for p in points], dtype=np.float64)
            self._nd = LinearNDInterpolator(xs, ys)
        return self._nd

    def times(self, placement: Sequence[int], local: int) -> tuple[float, float] | None:
        """(step, sync) seconds of a micro-step of `local` samples per GPU on
        `placement` (GPUs per node); None outside what the profiles cover."""
        pid = normalise(placement)
        key = (pid, local)
        if key in self._cache:
            return self._cache[key]
        got: tuple[float, float] | None
        rows = self._by.get(pid)
        if rows is not None:
            got = _interp1(rows, local)
        else:
            nodes = min(len(pid), MAX_NODES_INTERPOLATED)
            value = self._interpolator()([[nodes, sum(int(d) for d in pid), local]])[0]
            got = None if np.isnan(value).any() else (float(value[0]), float(value[1]))
        self._cache[key] = got
        return got

    def max_local_for(self, placement: Sequence[int]) -> int | None:
        """The largest local batch profiled for `placement` (for an unprofiled one: on
        the scalability rows with at least its nodes and replicas)."""
        pid = normalise(placement)
        rows = self._by.get(pid)
        if rows is not None:
            return max(r[0] for r in rows)
        nodes, replicas = len(pid), sum(int(d) for d in pid)
        fits = [b for n, r, b, _, _ in self._scalability if n >= nodes and r >= replicas]
        return max(fits) if fits else None

    def memory_cap(self, replicas: int) -> int | None:
        """The largest local batch profiled on any placement of `replicas` GPUs."""
        return self._max_local_by_replicas.get(replicas)


def _interp1(rows: Sequence[tuple[int, float, float]], local: float) -> tuple[float, float] | None:
    if local < rows[0][0] or local > rows[-1][0]:
        return None
    for (b0, s0, y0), (b1, s1, y1) in pairwise(rows):
        if local <= b1:
            if b1 == b0:
                return s1, y1
            f = (local - b0) / (b1 - b0)
            return s0 + f * (s1 - s0), y0 + f * (y1 - y0)
    return rows[-1][1], rows[-1][2]


def load_step_times(folder: Path, app: str, gpu_type: str) -> StepTimes | None:
    """`APP/placements-TYPE.csv` and `APP/scalability-TYPE.csv` under `folder`; None if
    the application was not profiled on that type."""
    place_file = folder / app / f"placements-{gpu_type}.csv"
    if not place_file.is_file():
        return None
    by: dict[str, list[tuple[int, float, float]]] = {}
    for row in read_csv(place_file, SIA_PLACEMENT_COLUMNS):
        placement = row.text("placement")
        if not PLACEMENT.fullmatch(placement):
            raise row.fail("placement", "GPUs per node as digits 1-9", placement)
        by.setdefault(normalise([int(d) for d in placement]), []).append(
            (
                row.whole("local_bsz", what="samples", minimum=1),
                row.number("step_time", what="seconds"),
                row.number("sync_time", what="seconds"),
            )
        )
    if not by:
        raise TraceError(place_file, None, None, "at least one placement row", "none")
    scal: list[tuple[int, int, int, float, float]] = []
    scal_file = folder / app / f"scalability-{gpu_type}.csv"
    if scal_file.is_file():
        for row in read_csv(scal_file, SCALABILITY_COLUMNS):
            scal.append(
                (
                    row.whole("num_nodes", what="nodes", minimum=1),
                    row.whole("num_replicas", what="GPUs", minimum=1),
                    row.whole("local_bsz", what="samples", minimum=1),
                    row.number("step_time", what="seconds"),
                    row.number("sync_time", what="seconds"),
                )
            )
    return StepTimes(app, gpu_type, by, scal)


@dataclass(frozen=True, slots=True)
class Setting:
    """How one job runs on one allocation in one epoch."""

    batch: int
    atomic: int
    accum: int
    rate: float
    """Progress per second (after SLOWDOWN); 0 when the allocation cannot run it."""
    steps: float = 0.0
    """Optimiser steps per second (after SLOWDOWN, without statistical efficiency)."""


class AppModel:
    """One application on the GPU types of a pool: its rate on any allocation in any
    epoch, cached (many jobs share an application)."""

    def __init__(
        self, app: str, times: Mapping[str, StepTimes], per_node: Mapping[str, int]
    ) -> None:
        """`times` and `per_node` by GPU model (the catalog's name of each type)."""
        self.app = app
        self.curves = curves(app)
        self.times = dict(times)
        self.per_node = dict(per_node)
        self.slowdown = SLOWDOWN.get(app, DEFAULT_SLOWDOWN)
        self._cache: dict[tuple[str, int, int, int | None, int | None], Setting] = {}

    def setting(
        self, model: str, gpus: int, epoch: int, batch: int | None, upto: int | None = None
    ) -> Setting:
        """The batch split and rate on `gpus` GPUs of `model` in `epoch`: at `batch`
        (fixed), or at the goodput-best batch (None: tuning) up to `upto` (default: the
        application's largest)."""
        key = (model, gpus, epoch, batch, upto)
        got = self._cache.get(key)
        if got is None:
            got = self._cache[key] = self._setting(model, gpus, epoch, batch, upto)
        return got

    def _setting(
        self, model: str, gpus: int, epoch: int, batch: int | None, upto: int | None
    ) -> Setting:
        none = Setting(0, 0, 0, 0.0)
        times = self.times.get(model)
        if times is None or gpus < 1:
            return none
        placement = compact(gpus, self.per_node[model])
        max_local = times.max_local_for(placement)
        if max_local is None:
            return none
        c = self.curves
        if batch is None:
            best: tuple[float, int, int] | None = None
            low = max(c.init_batch, times.min_local * gpus)
            high = min(upto or c.max_batch, c.max_batch)
            # numpy's geomspace runs downward when the least batch is above the cap
            for candidate in geomspace(min(low, high), max(low, high), BATCH_CANDIDATES):
                split = split_batch(candidate, gpus, max_local, c.init_batch, whole_local=False)
                if not times.min_local <= split.atomic <= max_local:
                    continue
                rate = self._rate(times, placement, gpus, split.atomic, split.accum, epoch)
                if rate > 0 and (best is None or rate > best[0]):
                    best = (rate, split.atomic, split.accum)
            if best is None:
                return none
            atomic, accum = best[1], best[2]
        else:
            split = split_batch(batch, gpus, max_local, c.init_batch, whole_local=True)
            atomic, accum = split.atomic, split.accum
        cap = times.memory_cap(gpus)
        if cap is not None:
            atomic = min(atomic, cap)
        atomic = min(atomic, int(c.max_batch / (gpus * (accum + 1))))
        if atomic < 1:
            return none
        rate = self._rate(times, placement, gpus, atomic, accum, epoch)
        got = times.times(placement, atomic)
        steps = 0.0 if got is None or got[0] <= 0 else 1 / iteration_s(*got, accum) / self.slowdown
        return Setting(gpus * atomic * (accum + 1), atomic, accum, rate, steps)

    def _rate(
        self, times: StepTimes, placement: Sequence[int], gpus: int, atomic: int, accum: int,
        epoch: int,
    ) -> float:  # fmt: skip
        got = times.times(placement, atomic)
        if got is None or got[0] <= 0:
            return 0.0
        batch = gpus * atomic * (accum + 1)
        c = self.curves
        g = gain(batch, c.init_batch, c.grad_at(batch, epoch))
        return g / iteration_s(got[0], got[1], accum) / self.slowdown


class GoodputCurve:
    """A job's rate as it trains (`WorkCurve`): its application's, at its own batch size
    (`batch`) or tuned (None)."""

    def __init__(
        self, model: AppModel, batch: int | None, estimate_upto: int | None = None
    ) -> None:
        """`estimate_upto`: the batch a scheduler's estimate of a tuned job's goodput is
        capped at (the Sia artifact's: the job's submitted batch)."""
        self.model = model
        self.batch = batch
        self.estimate_upto = estimate_upto

    def rate(self, model: str, gpus: int, done: float) -> float:
        epoch = self.model.curves.epoch(done)
        return self.model.setting(model, gpus, epoch, self.batch).rate

    def estimate(self, model: str, gpus: int, done: float) -> float:
        """What the Sia artifact's scheduler estimates the rate to be: tuned up to
        `estimate_upto` (the job itself tunes up to the application's largest batch)."""
        epoch = self.model.curves.epoch(done)
        return self.model.setting(model, gpus, epoch, self.batch, self.estimate_upto).rate

    def step_rate(self, model: str, gpus: int, done: float) -> float:
        epoch = self.model.curves.epoch(done)
        return self.model.setting(model, gpus, epoch, self.batch).steps

    def boundary(self, done: float) -> float:
        bounds = self.model.curves.boundaries
        i = bisect.bisect_right(bounds, done)
        return bounds[i] if i < len(bounds) else math.inf


def app_models(folder: Path, apps: Sequence[str], types: Mapping[str, int]) -> dict[str, AppModel]:
    """The applications' models on the pool's GPU types (`types`: artifact type name ->
    GPUs per node), from the throughput profiles under `folder`."""
    out: dict[str, AppModel] = {}
    for app in sorted(set(apps)):
        times: dict[str, StepTimes] = {}
        per_node: dict[str, int] = {}
        for gpu_type, gpn in types.items():
            model = map_gpu(None, folder, "GPU type", gpu_type, "sia-workloads")
            if model is None:
                raise TraceError(
                    folder, None, "GPU type", "a type with a known GPU model", gpu_type
                )
            st = load_step_times(folder, app, gpu_type)
            if st is not None:
                times[model] = st
                per_node[model] = gpn
        if not times:
            raise TraceError(
                folder, None, "application", f"profiles of {app!r} on {', '.join(types)}"
            )
        out[app] = AppModel(app, times, per_node)
    return out


def goodput_jobs(
    trace: Sequence[TraceJob],
    models: Mapping[str, AppModel],
    *,
    start: datetime,
    tune: bool,
    max_gpus: int = 64,
    tenant: str = "sia",
) -> list[SimJob]:
    """Simulator jobs on the goodput model. `tune`: adaptive jobs (any GPU count from 1
    to `max_gpus`, batch size tuned, as Sia runs them); otherwise rigid jobs at the GPUs
    and batch size they were submitted with (as the artifact runs Gavel)."""
    jobs: list[SimJob] = []
    for seq, row in enumerate(sorted(trace, key=lambda r: (r.submit_s, r.id)), start=1):
        app = models.get(row.job_type)
        if app is None:
            raise TraceError(
                "workload", None, "application", f"one of {', '.join(models)}", row.job_type
            )
        batch = int(row.extra.get("batch_size", "0")) or app.curves.init_batch
        curve = GoodputCurve(app, None if tune else batch, batch if tune else None)
        high = min(MAX_GANG, max_gpus) if tune else row.gpus
        sizes = range(1, high + 1) if tune else (row.gpus,)
        scaling = {m: {g: r for g in sizes if (r := curve.rate(m, g, 0.0)) > 0} for m in app.times}
        scaling = {m: pts for m, pts in scaling.items() if pts}
        job = sia_job(row, seq, start, tenant, (1, high) if tune else None, min(row.gpus, high))
        jobs.append(
            SimJob(
                job,
                row.submit_s,
                app.curves.work,
                speed={m: pts[row.gpus] for m, pts in scaling.items() if row.gpus in pts},
                scaling=scaling,
                restart_s=RESTORE_S.get(row.job_type, DEFAULT_RESTORE_S),
                curve=curve,
            )
        )
    return jobs
