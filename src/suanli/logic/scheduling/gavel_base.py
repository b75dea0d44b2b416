"""The common part of Gavel's policies (`gavel.py`) on suanli's scheduling cycle.

`GavelPolicy` turns a snapshot into Gavel's view (jobs with their GPU count, their
throughput on each model and their run time per model; models with their GPU counts),
keeps the allocation X until the set of jobs changes (at most once per `min_reset_s`),
runs Gavel's round mechanism (`gavel_rounds`) and turns its picks into decisions: a
running job picked for the model it holds renews its lease in place (it is ordered
first, so its placements are still free); others are placed on their model.

Throughputs: the job's measured rate at its size (`Snapshot.progress`, which the
simulator fills: `scaling` at its GPU count, else `rates`), else `Snapshot.throughput`
for its job type, else 1.0; a model the placement filters exclude counts as 0.

Without rounds (`Snapshot.round_s` None: the live scheduler) X and the priorities are
kept the same way over the pending and running jobs; pending jobs are tried in
`queue_key` order, each on the models of `preferences` that have free GPUs now, and
running jobs stay where they are. CPU-only jobs are outside Gavel's model: they go
first fit after the round's GPU jobs.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from suanli.domain.ids import JobId
from suanli.domain.jobs import Job
from suanli.logic.scheduling.decisions import Decision, Wait
from suanli.logic.scheduling.fairshare import gpu_rating
from suanli.logic.scheduling.gavel_rounds import Entry, TimeShares, assign
from suanli.logic.scheduling.placement import PlacementMemo
from suanli.logic.scheduling.rounds import keep, place
from suanli.logic.scheduling.snapshot import Snapshot
from suanli.logic.scheduling.state import CycleState, SchedulerSettings

ROUND_S = 360.0
"""Gavel's round (its simulator's default `time_per_iteration`)."""
SHUFFLE_SEED_OFFSET = 5
"""Gavel seeds its worker-type shuffler with seed + 5 (and FIFO's own with seed)."""

Allocation = dict[JobId, dict[str, float]]


def job_gpus(job: Job) -> int:
    """The GPUs a job holds in all (Gavel's scale factor)."""
    return job.spec.resources.gpu_count * job.spec.gang_size


def current_model(job: Job) -> str | None:
    """The GPU model a running job holds, None when it holds nothing."""
    for p in job.placed():
        for model in p.allocation.gpus:
            return model
    return None


def rate(job: Job, model: str, snapshot: Snapshot) -> float:
    """The job's throughput on `model` at its size (module doc for the sources)."""
    progress = snapshot.progress.get(job.id)
    if progress is not None:
        steps = progress.step_rates.get(model)
        if steps and job_gpus(job) in steps:
            return steps[job_gpus(job)]  # Gavel's throughput: steps per second
        points = progress.scaling.get(model)
        if points and job_gpus(job) in points:
            return points[job_gpus(job)]
        if model in progress.rates:
            return progress.rates[model]
    measured = snapshot.throughput.get((job.spec.job_type, model))
    return measured if measured is not None else 1.0


def pool_models(snapshot: Snapshot) -> tuple[list[str], dict[str, int], dict[str, int]]:
    """The pool's GPU models, fastest (metering rating) first; GPUs of each in all and
    free now."""
    capacity: dict[str, int] = {}
    free: dict[str, int] = {}
    for _, node in snapshot.nodes():
        for model, count in node.capacity.gpus.items():
            capacity[model] = capacity.get(model, 0) + count
            free[model] = free.get(model, 0) + node.free.gpus.get(model, 0)
    models = sorted(capacity, key=lambda m: (-gpu_rating(m), m))
    return models, capacity, free


class GavelPolicy(ABC):
    """The common part: entries, the cached allocation, the round, the decisions.
    Subclasses give `allocate` and whether the policy is heterogeneity-aware.
    `weights`: priority weights by job (1.0 for the others); `min_reset_s`: the least
    time between two recomputations of X; `seed`: default `SchedulerSettings.seed`."""

    name = "gavel"
    append_only = False
    round_s: float | None = ROUND_S
    perf = True
    """Heterogeneity-aware: walk the models fastest first (else a seeded shuffle)."""
    skip_zero = False
    """FIFO: jobs with priority 0 on a model do not run there."""

    def __init__(
        self,
        settings: SchedulerSettings,
        *,
        seed: int | None = None,
        min_reset_s: float = 0.0,
        weights: Mapping[JobId, float] | None = None,
    ) -> None:
        self.settings = settings
        self.memo = PlacementMemo()
        self.seed = settings.seed if seed is None else seed
        self.min_reset_s = min_reset_s
        self.weights = dict(weights or {})
        self._shuffler = random.Random(self.seed + SHUFFLE_SEED_OFFSET)
        self._shares = TimeShares(self.round_s or ROUND_S)
        self._key: frozenset[JobId] | None = None
        self._plan: dict[JobId, str] = {}
        self._choices: dict[JobId, list[str]] = {}

    @abstractmethod
    def allocate(
        self, entries: Sequence[Entry], models: Sequence[str], capacity: Mapping[str, int]
    ) -> Allocation:
        """X for these jobs: a row for every entry, time fractions by model."""

    # --- the round ---------------------------------------------------------------------

    def _entry(
        self, job: Job, snapshot: Snapshot, state: CycleState, models: Sequence[str]
    ) -> Entry:
        candidates, _ = state.placer.candidates(job)
        usable = {c.model for c in candidates}
        progress = snapshot.progress.get(job.id)
        return Entry(
            job.id,
            job.seq,
            job_gpus(job),
            {m: rate(job, m, snapshot) if m in usable else 0.0 for m in models},
            dict(progress.run_s_by_model) if progress is not None else {},
        )

    def _may_reset(self, now: datetime) -> bool:
        at = self._shares.reset_at
        return at is None or (now - at).total_seconds() >= self.min_reset_s

    def _entries(self, snapshot: Snapshot, state: CycleState) -> tuple[list[Entry], list[str]]:
        """Every active GPU job (rounds: the queue holds them all; else the queue and the
        running jobs), with the allocation brought up to date; and the models in the
        order this round walks them."""
        rounds = snapshot.round_s is not None
        models, capacity, _ = pool_models(snapshot)
        jobs = [*snapshot.queue, *(() if rounds else snapshot.running)]
        entries = [self._entry(j, snapshot, state, models) for j in jobs if job_gpus(j) > 0]
        key = frozenset(e.job_id for e in entries)
        if key != self._key and self._may_reset(snapshot.now):
            allocation = self.allocate(entries, models, capacity)
            self._shares.reset(snapshot.now, allocation, entries, models)
            self._key = key
        self._shares.observe(entries, models)
        order = list(models)
        if not self.perf:
            self._shuffler.shuffle(order)
        return entries, order

    def plan(self, snapshot: Snapshot, state: CycleState) -> dict[JobId, str]:
        """Rounds: the model each job runs on this round (jobs absent wait)."""
        entries, order = self._entries(snapshot, state)
        _, capacity, _ = pool_models(snapshot)
        return assign(entries, order, capacity, self._shares, skip_zero=self.skip_zero)

    def preferences(
        self, entry: Entry, priority: Mapping[str, float], order: Sequence[str]
    ) -> list[str]:
        """Without rounds: the models a pending job tries, best first (by priority)."""
        usable = [m for m in order if entry.rates.get(m, 0.0) > 0]
        return sorted(usable, key=lambda m: -priority.get(m, 0.0))

    def queue_key(self, entry: Entry, priority: Mapping[str, float]) -> tuple[float, ...]:
        """Without rounds: pending jobs are tried in this order (highest priority)."""
        return (-max(priority.values(), default=0.0), entry.seq)

    def _without_rounds(self, snapshot: Snapshot, state: CycleState) -> list[Job]:
        entries, order = self._entries(snapshot, state)
        by_model = self._shares.priorities(entries, order)
        pending = {j.id for j in snapshot.queue}
        keys: dict[JobId, tuple[float, ...]] = {}
        self._choices = {}
        for e in entries:
            if e.job_id in pending:
                priority = {m: by_model[m][e.job_id] for m in order}
                self._choices[e.job_id] = self.preferences(e, priority, order)
                keys[e.job_id] = self.queue_key(e, priority)
        last = (float("inf"),)
        return sorted(snapshot.queue, key=lambda j: (keys.get(j.id, last), j.seq))

    # --- the policy interface ------------------------------------------------------------

    def order(self, snapshot: Snapshot, state: CycleState) -> Iterable[Job]:
        """Rounds: jobs renewing their lease first (their placements are free), then the
        others picked this round, largest first (less fragmentation), then the rest.
        Without rounds: pending jobs by `queue_key`."""
        if snapshot.round_s is None:
            self._plan = {}
            return self._without_rounds(snapshot, state)
        self._choices = {}
        self._plan = self.plan(snapshot, state)

        def rank(job: Job) -> tuple[int, int, int]:
            model = self._plan.get(job.id)
            if model is None:
                return (3 if job_gpus(job) else 2, 0, job.seq)
            return (0 if current_model(job) == model else 1, -job_gpus(job), job.seq)

        return sorted(snapshot.queue, key=rank)

    def nominate(self, job: Job, snapshot: Snapshot, state: CycleState) -> Decision:
        choices = self._choices.get(job.id)
        if choices is not None:
            for choice in choices:
                admit = place(job, state, models=[choice])
                if admit is not None:
                    return admit
            if choices:
                return Wait(
                    job.id,
                    "Waiting for GPUs: every model it may run on is busy.",
                    blocking=self.skip_zero,  # FIFO: strict queue order
                )
        model = self._plan.get(job.id)
        if model is None:
            return self._unpicked(job, state)
        if current_model(job) == model:
            kept = keep(job, state)
            if kept is not None:
                return kept
        admit = place(job, state, models=[model])
        if admit is not None:
            return admit
        return Wait(job.id, f"Picked for {model} this round, but no {model} nodes hold its gang.")

    def _unpicked(self, job: Job, state: CycleState) -> Decision:
        if job_gpus(job) == 0:
            admit = place(job, state)
            return admit if admit is not None else Wait(job.id, "Waiting for CPU capacity.")
        candidates, why_not = state.placer.candidates(job)
        if not candidates:
            return Wait(job.id, why_not)
        if job.id not in self._shares.allocation:
            return Wait(
                job.id,
                f"Arrived since {self.name}'s last allocation; it is recomputed at most "
                f"every {self.min_reset_s:g} s.",
            )
        return Wait(
            job.id, f"Not picked this round: jobs further below their {self.name} share ran."
        )
