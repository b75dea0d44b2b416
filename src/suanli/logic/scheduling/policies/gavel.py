"""Gavel's policies (Narayanan et al., OSDI'20) on suanli's scheduling cycle.

Registered names (Gavel's own in brackets), all deciding in 360 s rounds:
- `gavel_fifo` [fifo]: arrival order; a job keeps the GPU model it was first given, and
  a new job takes the model of a job that just left if it fits there, else a random
  model with room (seeded: `SchedulerSettings.seed` or the `seed` argument).
- `gavel_fifo_perf` [fifo_perf]: arrival order; each job on the fastest model with room,
  decided afresh at each allocation (a job moves up when a faster model frees).
- `gavel_max_min` [max_min_fairness] and `gavel_max_min_perf` [max_min_fairness_perf]:
  the max-min fairness LP of `gavel_lp`, heterogeneity-agnostic and -aware.
- `gavel_max_sum_throughput_perf` [max_sum_throughput_perf]: the max-sum LP.

Each gives an allocation X (time fractions per job and model; FIFO's are 0 or 1), then
Gavel's round mechanism (`gavel_rounds`) picks the round's jobs and their models. X is
recomputed when the set of jobs changes, at most once per `min_reset_s` (Gavel's own
simulator waits 1,920 s between resets; 0 here by default), and cached on the policy.
A running job given its current model again renews its lease where it is.

Throughputs, leases and behaviour without rounds: `gavel_base`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

import numpy as np

from suanli.domain.ids import JobId
from suanli.domain.jobs import Job
from suanli.logic.scheduling.gavel_base import (
    Allocation,
    GavelPolicy,
    job_gpus,
    pool_models,
)
from suanli.logic.scheduling.gavel_lp import max_min_allocation, max_sum_allocation
from suanli.logic.scheduling.gavel_rounds import Entry
from suanli.logic.scheduling.snapshot import Snapshot
from suanli.logic.scheduling.state import CycleState, SchedulerSettings


def _matrix(entries: Sequence[Entry], models: Sequence[str]) -> np.ndarray:
    """Jobs x models throughputs; shaped (0, models) when no job uses a GPU (a pool of
    CPU jobs), which numpy would otherwise flatten to one dimension."""
    rows = [[e.rates.get(m, 0.0) for m in models] for e in entries]
    return np.array(rows, dtype=np.float64).reshape(len(entries), len(models))


def _rows(entries: Sequence[Entry], models: Sequence[str], x: np.ndarray) -> Allocation:
    return {
        e.job_id: {m: float(v) for m, v in zip(models, row, strict=True)}
        for e, row in zip(entries, x, strict=True)
    }


class GavelFifoPerf(GavelPolicy):
    """Arrival order, each job on its fastest model with room; stops at the first job
    that fits nowhere (strict FIFO)."""

    name = "gavel_fifo_perf"
    skip_zero = True

    def preferences(
        self, entry: Entry, priority: Mapping[str, float], order: Sequence[str]
    ) -> list[str]:
        """Without rounds: the fastest usable model first."""
        return sorted(
            (m for m in order if entry.rates.get(m, 0.0) > 0), key=lambda m: -entry.rates[m]
        )

    def queue_key(self, entry: Entry, priority: Mapping[str, float]) -> tuple[float, ...]:
        return (entry.seq,)

    def allocate(
        self, entries: Sequence[Entry], models: Sequence[str], capacity: Mapping[str, int]
    ) -> Allocation:
        room = dict(capacity)
        out: Allocation = {e.job_id: dict.fromkeys(models, 0.0) for e in entries}
        for e in sorted(entries, key=lambda e: e.seq):
            fits = [m for m in models if e.rates.get(m, 0.0) > 0 and room.get(m, 0) >= e.gpus]
            if not fits:
                break
            best = max(fits, key=lambda m: e.rates[m])  # ties: the faster-rated model
            room[best] -= e.gpus
            out[e.job_id][best] = 1.0
        return out


class GavelFifo(GavelPolicy):
    """Arrival order, heterogeneity-agnostic: a job keeps the model it was first given;
    when a job leaves, the head of the queue takes its model if it fits there; the
    others, in order, a random model with room (seeded); stops at the first job that
    fits nowhere (strict FIFO). `GavelFifoAsCoded` chooses as Gavel's code does."""

    name = "gavel_fifo"
    perf = False
    skip_zero = True

    def __init__(
        self,
        settings: SchedulerSettings,
        *,
        seed: int | None = None,
        min_reset_s: float = 0.0,
        weights: Mapping[JobId, float] | None = None,
    ) -> None:
        super().__init__(settings, seed=seed, min_reset_s=min_reset_s, weights=weights)
        self._rng = random.Random(self.seed)
        self._given: dict[JobId, tuple[int, str]] = {}
        """Each job's model once given (with its submission sequence)."""

    def preferences(
        self, entry: Entry, priority: Mapping[str, float], order: Sequence[str]
    ) -> list[str]:
        """Without rounds: the usable models in a random order."""
        usable = [m for m in order if entry.rates.get(m, 0.0) > 0]
        self._rng.shuffle(usable)
        return usable

    def queue_key(self, entry: Entry, priority: Mapping[str, float]) -> tuple[float, ...]:
        return (entry.seq,)

    def allocate(
        self, entries: Sequence[Entry], models: Sequence[str], capacity: Mapping[str, int]
    ) -> Allocation:
        present = {e.job_id: e for e in entries}
        room = dict(capacity)
        queue = sorted((e for e in entries if e.job_id not in self._given), key=lambda e: e.seq)
        self._hold_given(present, room)
        for jid, (_, model) in sorted(self._given.items(), key=lambda kv: kv[1][0]):
            if jid in present:
                self._reach_given(room, model, present[jid].gpus)
                continue
            del self._given[jid]
            head = queue[0] if queue else None
            if head is not None and head.rates.get(model, 0.0) > 0 and room[model] >= head.gpus:
                queue.pop(0)
                self._given[head.job_id] = (head.seq, model)
                room[model] -= head.gpus
        types = sorted(m for m in models if room.get(m, 0) > 0)
        while queue and types:
            e = queue.pop(0)
            fits = [i for i, m in enumerate(types) if room[m] >= e.gpus and self._may_use(e, m)]
            if not fits:
                break
            pick = fits[self._rng.randrange(len(fits))]
            model = self._chosen(types, pick)
            if e.rates.get(model, 0.0) <= 0:
                continue
            self._given[e.job_id] = (e.seq, model)
            room[model] -= e.gpus
            if room[model] == 0:
                types.pop(pick)
        out: Allocation = {e.job_id: dict.fromkeys(models, 0.0) for e in entries}
        for jid, (_, model) in self._given.items():
            out[jid][model] = 1.0
        return out

    def _hold_given(self, present: Mapping[JobId, Entry], room: dict[str, int]) -> None:
        """Take the GPUs of every job that keeps its model before any other is placed."""
        for jid, (_, model) in self._given.items():
            if jid in present:
                room[model] -= present[jid].gpus

    def _reach_given(self, room: dict[str, int], model: str, gpus: int) -> None:
        """Walking the given jobs in order: nothing more (their GPUs are held already)."""

    def _may_use(self, entry: Entry, model: str) -> bool:
        return entry.rates.get(model, 0.0) > 0

    def _chosen(self, types: Sequence[str], pick: int) -> str:
        return types[pick]


class GavelFifoAsCoded(GavelFifo):
    """Gavel's FIFO choosing models as its code does rather than as it means to (for
    `bench/gavel_fidelity.py`; not registered). Its `FIFOPolicy` (mode 'base') draws a
    random index but then uses a loop variable left over from listing the models with
    room: the job goes to the last model in name order among those with any free GPU
    ('v100' of k80/p100/v100), whether or not its GPUs fit there, and the drawn index
    removes a random model from the list when that model fills up. Jobs pile onto one
    model and time-share it by priority while others may idle. Its published FIFO
    figures come from this (docs/fidelity.md). Gavel also counts a running job's GPUs
    only as it reaches it in submission order, so a job leaving early in the order may
    see room that later jobs hold."""

    def _hold_given(self, present: Mapping[JobId, Entry], room: dict[str, int]) -> None:
        """Nothing up front: Gavel counts each given job as it reaches it."""

    def _reach_given(self, room: dict[str, int], model: str, gpus: int) -> None:
        room[model] -= gpus

    def _may_use(self, entry: Entry, model: str) -> bool:
        return True

    def _chosen(self, types: Sequence[str], pick: int) -> str:
        return types[-1]


class GavelMaxMinPerf(GavelPolicy):
    """Max-min fairness over normalised effective throughput (gavel_lp)."""

    name = "gavel_max_min_perf"
    agnostic = False

    def allocate(
        self, entries: Sequence[Entry], models: Sequence[str], capacity: Mapping[str, int]
    ) -> Allocation:
        scale = np.array([e.gpus for e in entries], dtype=np.float64)
        weights = np.array([self.weights.get(e.job_id, 1.0) for e in entries], dtype=np.float64)
        cap = np.array([capacity[m] for m in models], dtype=np.float64)
        x = max_min_allocation(
            _matrix(entries, models), scale, weights, cap, agnostic=self.agnostic
        )
        return _rows(entries, models, x)


class GavelMaxMin(GavelMaxMinPerf):
    """Max-min fairness with every model counted as equally fast."""

    name = "gavel_max_min"
    agnostic = True
    perf = False


class GavelMaxSumThroughputPerf(GavelPolicy):
    """Maximise the sum of normalised throughputs (gavel_lp.max_sum_allocation);
    `normalize=False` sums raw throughputs as Gavel's code does."""

    name = "gavel_max_sum_throughput_perf"

    def __init__(
        self,
        settings: SchedulerSettings,
        *,
        seed: int | None = None,
        min_reset_s: float = 0.0,
        weights: Mapping[JobId, float] | None = None,
        normalize: bool = True,
    ) -> None:
        super().__init__(settings, seed=seed, min_reset_s=min_reset_s, weights=weights)
        self.normalize = normalize

    def allocate(
        self, entries: Sequence[Entry], models: Sequence[str], capacity: Mapping[str, int]
    ) -> Allocation:
        scale = np.array([e.gpus for e in entries], dtype=np.float64)
        cap = np.array([capacity[m] for m in models], dtype=np.float64)
        t = _matrix(entries, models)
        return _rows(entries, models, max_sum_allocation(t, scale, cap, normalize=self.normalize))


class GavelMaxSumAsInSia(GavelMaxSumThroughputPerf):
    """Gavel's max-sum-throughput policy as the Sia artifact's simulator codes it
    (sia-simulator/gavel.py), for reproducing the Sia paper's Gavel figures
    (bench/sia_fidelity.py): the LP on raw throughputs, solved every round; time
    received counted from each job's arrival and never reset (every job starts with half
    a round on every model, each model's total counts every job ever seen); each round
    one list of (job, model) by priority X / (job's time / model's time), highest first,
    filled greedily, jobs of priority 0 included (work-conserving). Not registered: the
    registered `gavel_max_sum_throughput_perf` follows Gavel's own simulator
    (docs/fidelity.md)."""

    name = "gavel_max_sum_throughput_perf"

    def __init__(self, settings: SchedulerSettings, *, seed: int | None = None) -> None:
        super().__init__(settings, seed=seed, normalize=False)
        self._job_time: dict[JobId, dict[str, float]] = {}
        self._model_time: dict[str, float] = {}

    def plan(self, snapshot: Snapshot, state: CycleState) -> dict[JobId, str]:
        if snapshot.round_s is None:
            return super().plan(snapshot, state)
        models, capacity, _ = pool_models(snapshot)
        order = [m for m in snapshot.gpu_models() if m in models]
        jobs = [j for j in snapshot.queue if job_gpus(j) > 0]
        entries = [self._entry(j, snapshot, state, order) for j in jobs]
        self._account(jobs, order, snapshot.round_s)
        x = self.allocate(entries, order, capacity)
        picks: list[tuple[float, float, str, Entry]] = []
        for m in order:
            for e in entries:
                share = round(x[e.job_id].get(m, 0.0), 5)
                mine = self._job_time[e.job_id][m] / self._model_time[m]
                picks.append((share / mine if share > 0 else 0.0, share, m, e))
        picks.sort(key=lambda p: (p[0], p[1]), reverse=True)
        free = dict(capacity)
        out: dict[JobId, str] = {}
        for _, _, m, e in picks:
            if free.get(m, 0) <= 0 or e.job_id in out or e.gpus > free[m]:
                continue
            if e.rates.get(m, 0.0) <= 0:
                continue
            out[e.job_id] = m
            free[m] -= e.gpus
        for job_id, m in out.items():  # the round's time, credited as it is scheduled
            self._job_time[job_id][m] = self._job_time[job_id].get(m, 0.0) + snapshot.round_s
            self._model_time[m] = self._model_time.get(m, 0.0) + snapshot.round_s
        return out

    def allocate(
        self, entries: Sequence[Entry], models: Sequence[str], capacity: Mapping[str, int]
    ) -> Allocation:
        """The LP's vertex, with jobs of identical rows (GPUs and throughputs) given the
        mean of their shares: an optimum too (the constraints and the objective treat them
        alike), and the point the artifact's interior-point solver (ECOS) returns, which
        splits time evenly among such jobs where a simplex vertex favours some."""
        x = super().allocate(entries, models, capacity)
        groups: dict[tuple[object, ...], list[JobId]] = {}
        for e in entries:
            key = (e.gpus, *(round(e.rates.get(m, 0.0), 9) for m in models))
            groups.setdefault(key, []).append(e.job_id)
        for members in groups.values():
            if len(members) > 1:
                mean = {m: sum(x[j][m] for j in members) / len(members) for m in models}
                for j in members:
                    x[j] = dict(mean)
        return x

    def _account(self, jobs: Sequence[Job], order: Sequence[str], round_s: float) -> None:
        """Half a round of credit on every model to jobs seen for the first time."""
        for job in jobs:
            if job.id not in self._job_time:
                self._job_time[job.id] = {m: round_s / 2 for m in order}
                for m in order:
                    self._model_time[m] = self._model_time.get(m, 0.0) + round_s / 2
