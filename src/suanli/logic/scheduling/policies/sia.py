"""Sia (Jayaram Subramanya et al., SOSP'23), as its artifact runs it (sia-simulator/sia.py
with --policy_p_val=-0.5 --mip_lambda_n=1.1 --interval=60 --project_throughputs
--share_max_replicas; docs/fidelity.md says what differs).

Every round (60 s) Sia chooses, for every unfinished job at once, one configuration (GPU
model, GPU count) or none, by an integer program:

    minimise  sum_ij (A_ij - lambda_n) x_ij,     A = min(round(S^p, 2), 3000),  p < 0
    subject to  sum_j x_ij <= 1 (each job),  sum_i sum_{j on model m} gpus_j x_ij <= GPUs(m)

where S_ij is job i's goodput on configuration j, normalised so that its least valid
configuration is 1 (invalid ones: 1e-4). Goodputs are the job's rates at its progress now
(`Snapshot.progress`, goodput with the batch size tuned where the simulator models it).
Like the artifact:
- a job that has not run yet has a goodput model on no GPU model: only one GPU, of any
  model, is offered to it; a model it has not run on is projected from the first model it
  has run on, scaled by their one-GPU rates;
- a job is offered at most twice the most GPUs it has held (and what its batch allows);
- configurations other than its current one are discounted by the restart factor
  max(age - restarts x P, 0) / (age + P) (1 while age < P), P per application;
- a job still restoring its checkpoint keeps its configuration.
Configurations of a model with `n` GPUs per node: 1, 2, 4, ... below n, then whole nodes,
and the size of each rigid job.
The program is solved by HiGHS (scipy.optimize.milp, relative gap 1e-4, as the artifact's
CBC); tiny cost terms lean ties toward the faster model, then the earlier job (within
the gap they are not guaranteed).

A job whose configuration is unchanged keeps its placements (no restart); others are placed
anew. Without rounds (the live scheduler) the program is solved over the pending jobs and
the free GPUs at each cycle, and running jobs stay where they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import csr_array

from suanli.domain.ids import JobId
from suanli.domain.jobs import Job
from suanli.domain.pool import Capability
from suanli.logic.scheduling.decisions import Decision, Wait
from suanli.logic.scheduling.gavel_base import current_model
from suanli.logic.scheduling.placement import PlacementMemo
from suanli.logic.scheduling.rounds import keep, place
from suanli.logic.scheduling.snapshot import JobProgress, Snapshot
from suanli.logic.scheduling.state import CycleState, SchedulerSettings

ROUND_S = 60.0
P_VALUE = -0.5
LAMBDA_N = 1.1
ZERO_GAIN = 1e-4
CLIP = 3000.0
MAX_GPUS = 64
MIP_GAP = 1e-4
SOLVE_LIMIT_S = 30.0

PENALTY_S: Mapping[str, float] = {
    # sia.py get_restart_penalty: the restart factor's P, by application name
    "deepspeech": 25.0,
    "imagenet": 250.0,
    "cifar": 30.0,
    "bert": 120.0,
    "yolov3": 45.0,
}
DEFAULT_PENALTY_S = 30.0
RESTORE_S: Mapping[str, float] = {
    # sia-simulator/applications.py rescale_time: seconds to checkpoint and restore
    "cifar10": 50.0,
    "deepspeech2": 25.0,
    "bert": 120.0,
    "yolov3": 80.0,
    "imagenet": 250.0,
    "ncf": 15.0,
}
DEFAULT_RESTORE_S = 30.0


@dataclass(frozen=True, slots=True)
class Config:
    model: str
    gpus: int


def configs_for(per_node: int, total: int) -> list[int]:
    """GPU counts offered on a model: powers of two below a node, then whole nodes."""
    out = []
    g = 1
    while g < per_node and g <= total:
        out.append(g)
        g *= 2
    out += [k * per_node for k in range(1, total // per_node + 1)]
    return out


def penalty_s(job_type: str) -> float:
    return next((p for name, p in PENALTY_S.items() if name in job_type), DEFAULT_PENALTY_S)


@dataclass(slots=True)
class _History:
    config: Config | None = None
    restarts: int = -1
    """Restarts so far (-1: never started; the first start makes it 0)."""
    changed_at: datetime | None = None
    most_gpus: int = 0


class SiaPolicy:
    name = "sia"
    append_only = False

    def __init__(
        self, settings: SchedulerSettings, *, p: float = P_VALUE, lambda_n: float = LAMBDA_N
    ) -> None:
        self.settings = settings
        self.memo = PlacementMemo()
        self.round_s: float | None = ROUND_S
        self.p = p
        self.lambda_n = lambda_n
        self._history: dict[JobId, _History] = {}
        self._plan: dict[JobId, Config] = {}
        self._models: list[str] = []
        """The pool's GPU models in cluster order (the artifact's type order)."""
        self._last_at: datetime | None = None
        self._allowed: dict[JobId, dict[str, bool]] = {}
        """Per job, the GPU models its placement filters allow, and whether a gang may
        start on one of their clusters."""

    # --- the policy interface ------------------------------------------------------------

    def order(self, snapshot: Snapshot, state: CycleState) -> Iterable[Job]:
        """Solve the round's program, then: jobs keeping their configuration first (their
        placements are free), the others largest first, the unallocated last."""
        rounds = snapshot.round_s is not None
        jobs = [j for j in snapshot.queue if j.spec.resources.gpu_count > 0]
        capacity = _capacity(snapshot, state, rounds=rounds)
        if not rounds:
            # live: at most one pending job per free GPU can start; the program over a
            # deep queue would only grow (oldest first, as the queue is in seq order)
            jobs = jobs[: max(1, sum(free for _, free in capacity.values()))]
        self._models = [m for m in snapshot.gpu_models() if m in capacity]
        if rounds:
            self._observe(snapshot)
        self._allowed = {j.id: _allowed(j, state) for j in jobs}
        plan = self._solve(jobs, snapshot, capacity)
        present = {j.id for j in jobs}
        # no solution (say, pins beyond a pool that lost nodes): keep the last plan
        self._plan = (
            plan if plan or not jobs else {k: v for k, v in self._plan.items() if k in present}
        )
        self._last_at = snapshot.now

        def rank(job: Job) -> tuple[int, int, int]:
            cfg = self._plan.get(job.id)
            if cfg is None:
                return (2, 0, job.seq)
            return (0 if _current(job) == cfg else 1, -cfg.gpus, job.seq)

        return sorted(snapshot.queue, key=rank)

    def nominate(self, job: Job, snapshot: Snapshot, state: CycleState) -> Decision:
        cfg = self._plan.get(job.id)
        if cfg is None:
            if job.spec.resources.gpu_count == 0:
                admit = place(job, state)
                return admit if admit is not None else Wait(job.id, "Waiting for CPU capacity.")
            candidates, why_not = state.placer.candidates(job)
            if not candidates:
                return Wait(job.id, why_not)
            return Wait(
                job.id, "Not allocated this round: Sia's optimisation gave its GPUs to others."
            )
        per = max(job.spec.resources.gpu_count, 1)
        members = max(cfg.gpus // per, 1)
        if _current(job) == cfg:
            kept = keep(job, state, members)
            if kept is not None:
                return kept
        admit = place(job, state, models=[cfg.model], members=members)
        if admit is not None:
            return admit
        return Wait(
            job.id, f"Allocated {cfg.gpus} x {cfg.model} this round, but no nodes hold them."
        )

    # --- the program ---------------------------------------------------------------------

    def _solve(
        self, jobs: Sequence[Job], snapshot: Snapshot, capacity: Mapping[str, tuple[int, int]]
    ) -> dict[JobId, Config]:
        models = sorted(capacity)
        # the table, plus each rigid job's size (a rigid job of 3 GPUs needs a 3)
        preferred = {
            max(j.spec.resources.gpu_count, 1) * j.spec.gang_size
            for j in jobs
            if not j.spec.elastic or snapshot.round_s is None  # live: as asked
        }
        columns = [
            Config(m, g)
            for m in models
            for g in sorted(
                {*configs_for(*capacity[m]), *(p for p in preferred if p <= capacity[m][1])}
            )
        ]
        if not jobs or not columns:
            return {}
        speed = _one_gpu_speed(jobs, snapshot, models)
        rows = []
        pinned: dict[int, int] = {}
        for i, job in enumerate(jobs):
            s = self._goodputs(job, snapshot, columns)
            rows.append(s)
            hist = self._history.get(job.id)
            if hist is not None and hist.config in columns and self._restoring(job, hist, snapshot):
                pinned[i] = columns.index(hist.config)
        goodput = np.array(rows, dtype=np.float64)
        a = np.minimum(np.round(np.power(goodput, self.p), 2), CLIP)
        cost = (a - self.lambda_n) if self.p < 0 else -(a - self.lambda_n)
        # ties: the faster model (one GPU's rate over the pool), then the earlier job
        tie = np.array([speed.get(c.model, 0.0) for c in columns])
        cost = cost - 1e-6 * tie[None, :] + 1e-9 * np.arange(len(jobs))[:, None]
        return self._milp(jobs, columns, cost, capacity, pinned)

    def _milp(
        self,
        jobs: Sequence[Job],
        columns: Sequence[Config],
        cost: np.ndarray,
        capacity: Mapping[str, tuple[int, int]],
        pinned: Mapping[int, int],
    ) -> dict[JobId, Config]:
        n, k = cost.shape
        models = sorted(capacity)
        gpus = np.array([c.gpus for c in columns], dtype=np.float64)
        model_row = np.array([models.index(c.model) for c in columns])
        rows = np.concatenate([np.repeat(np.arange(n), k), n + np.tile(model_row, n)])
        cols = np.concatenate([np.arange(n * k), np.arange(n * k)])
        vals = np.concatenate([np.ones(n * k), np.tile(gpus, n)])
        matrix = csr_array((vals, (rows, cols)), shape=(n + len(models), n * k))
        upper = np.concatenate([np.ones(n), [capacity[m][1] for m in models]])
        lower_bounds = np.zeros(n * k)
        for i, j in pinned.items():
            lower_bounds[i * k + j] = 1.0
        result = milp(
            cost.ravel(),
            integrality=np.ones(n * k),
            bounds=Bounds(lower_bounds, np.ones(n * k)),
            constraints=LinearConstraint(matrix, -np.inf, upper),
            options={"mip_rel_gap": MIP_GAP, "time_limit": SOLVE_LIMIT_S},
        )
        if result.x is None and pinned:  # pins beyond what the pool holds now
            return self._milp(jobs, columns, cost, capacity, {})
        if result.x is None:
            return {}
        x = np.round(result.x.reshape(n, k))
        out: dict[JobId, Config] = {}
        for i, job in enumerate(jobs):
            if x[i].max() > 0.5:
                out[job.id] = columns[int(np.argmax(x[i]))]
        return out

    def _goodputs(self, job: Job, snapshot: Snapshot, columns: Sequence[Config]) -> list[float]:
        """Job's row of S (see the module doc)."""
        progress = snapshot.progress.get(job.id) or JobProgress()
        hist = self._history.get(job.id)
        per = max(job.spec.resources.gpu_count, 1)
        low, high = job.spec.gang_range
        allowed = self._allowed.get(job.id, {})
        most = hist.most_gpus if hist is not None else 0
        held = _current(job)
        if snapshot.round_s is None:  # live: no history; what it holds or asked for
            most = max(most, held.gpus if held else 0, job.spec.gang_size * per // 2)
        cap = min(max(2 * most, 1), MAX_GPUS, high * per)
        known = [m for m in self._models if progress.run_s_by_model.get(m, 0.0) > 0]
        first = max(per, low * per) if snapshot.round_s is not None else job.spec.gang_size * per
        row = [ZERO_GAIN] * len(columns)
        for j, c in enumerate(columns):
            if c.gpus % per or not low * per <= c.gpus <= max(cap, low * per):
                continue
            if c.model not in allowed or (c.gpus > per and not allowed[c.model]):
                continue  # its filters exclude the model, or no cluster there starts gangs
            if not known:
                row[j] = 1.0 if c.gpus == first else ZERO_GAIN
                continue
            row[j] = _estimate(progress, c, known) or ZERO_GAIN
        if known:
            valid = [v for v in row if v > ZERO_GAIN]
            if valid:
                least = min(valid)
                row = [max(v / least, ZERO_GAIN) if v > ZERO_GAIN else ZERO_GAIN for v in row]
        if hist is not None and hist.config is not None:
            f = self._restart_factor(job, hist, snapshot)
            row = [
                v if c == hist.config else max(v * f, ZERO_GAIN)
                for v, c in zip(row, columns, strict=True)
            ]
        return row

    def _restart_factor(self, job: Job, hist: _History, snapshot: Snapshot) -> float:
        pen = penalty_s(job.spec.job_type)
        age = (snapshot.now - job.submitted_at).total_seconds()
        if age < pen:
            return 1.0
        return max(age - max(hist.restarts, 0) * pen, 0.0) / (age + pen)

    @staticmethod
    def _restoring(job: Job, hist: _History, snapshot: Snapshot) -> bool:
        if hist.changed_at is None or hist.config is None or not job.placements:
            return False
        restore = RESTORE_S.get(job.spec.job_type, DEFAULT_RESTORE_S)
        return (snapshot.now - hist.changed_at).total_seconds() < restore

    def _observe(self, snapshot: Snapshot) -> None:
        """Each job's configuration as it holds it now (what the last round's decisions
        became), its restarts and its largest size; finished jobs are forgotten."""
        present = {j.id for j in snapshot.queue}
        self._history = {k: h for k, h in self._history.items() if k in present}
        changed_at = self._last_at or snapshot.now
        for job in snapshot.queue:
            hist = self._history.setdefault(job.id, _History())
            now = _current(job)
            if now != hist.config and now is not None:
                hist.restarts += 1
                hist.changed_at = changed_at
            hist.config = now
            if now is not None:
                hist.most_gpus = max(hist.most_gpus, now.gpus)


def _allowed(job: Job, state: CycleState) -> dict[str, bool]:
    out: dict[str, bool] = {}
    candidates, _ = state.placer.candidates(job)
    for cand in candidates:
        out[cand.model] = out.get(cand.model, False) or cand.cluster.can(Capability.GANG)
    return out


def _current(job: Job) -> Config | None:
    """The (model, GPUs) a job holds, None when it holds none."""
    model = current_model(job)
    if model is None:
        return None
    return Config(model, sum(p.allocation.gpus.get(model, 0) for p in job.placed()))


def _estimate(progress: JobProgress, c: Config, known: Sequence[str]) -> float | None:
    """The job's goodput on `c` (the job model's estimate where it has one, else its
    rate): its value there if it has run on that model, else
    projected from the first model it has run on that has a rate at that size, by their
    one-GPU rates; None where the model cannot run that size."""
    rates = progress.estimates or progress.scaling
    here = rates.get(c.model, {})
    if not here.get(c.gpus):
        return None
    if c.model in known:
        return here[c.gpus]
    for model in known:
        base = rates.get(model, {})
        if base.get(c.gpus) and base.get(1) and here.get(1):
            return base[c.gpus] * here[1] / base[1]
    return None


def _one_gpu_speed(
    jobs: Sequence[Job], snapshot: Snapshot, models: Sequence[str]
) -> dict[str, float]:
    out = dict.fromkeys(models, 0.0)
    for job in jobs:
        progress = snapshot.progress.get(job.id)
        if progress is None:
            continue
        for m in models:
            out[m] += progress.scaling.get(m, {}).get(1, 0.0)
    top = max(out.values(), default=0.0) or 1.0
    return {m: v / top for m, v in out.items()}


def _capacity(snapshot: Snapshot, state: CycleState, *, rounds: bool) -> dict[str, tuple[int, int]]:
    """GPU model -> (GPUs per node, GPUs to allocate): all of them in rounds, the free
    ones otherwise."""
    per_node: dict[str, int] = {}
    total: dict[str, int] = {}
    for cluster in snapshot.clusters:
        for node in cluster.nodes:
            for model, n in node.capacity.gpus.items():
                per_node[model] = max(per_node.get(model, 0), n)
                total[model] = total.get(model, 0) + (n if rounds else node.free.gpus.get(model, 0))
    return {m: (per_node[m], total[m]) for m in per_node if per_node[m] > 0}
