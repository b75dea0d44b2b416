"""How many members an elastic job gets when it is admitted.

An elastic job (`JobSpec.gang_range`, e.g. 1..16 one-GPU members, preferring 8) can start
on fewer members than it prefers instead of waiting, and on more when nobody else waits
for the GPUs. More members only help while they make the job faster: a size is taken
only if each GPU still does at least `MIN_EFFICIENCY` of the work one GPU does alone
(per-GPU rate against the smallest size's), from the job's measured scaling
(`JobProgress.scaling`, the throughput profiles) — where nothing is measured, rates are
assumed linear in the GPU count, so only the caps below apply.

The size, for the candidate (cluster, model) the job would be placed on:
- never more than fit now, never fewer than the job's minimum;
- when other jobs wait behind it this cycle: at most its preferred size (it shares);
  when none do: up to its maximum (idle GPUs speed it up);
- the largest such size that is still efficient.
While it runs (`rebalance`), an elastic job is grown onto GPUs that sit idle with nobody
waiting for them (`grow`), and shrunk back to its preferred size when a waiting job could
use the GPUs it grew onto (`shrink`); either way it is stopped at a checkpoint and
admitted again at the new size.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from suanli.domain.ids import ClusterId, JobId
from suanli.domain.jobs import Job
from suanli.domain.pool import Capability
from suanli.logic.scheduling.decisions import Preempt
from suanli.logic.scheduling.placement import Candidate
from suanli.logic.scheduling.snapshot import JobProgress, Snapshot, rate_at
from suanli.logic.scheduling.state import CycleState

MIN_EFFICIENCY = 0.5
"""Smallest acceptable per-GPU rate, relative to the per-GPU rate at the job's minimum
size (Pollux/Sia use goodput in the same spirit: GPUs that add little go elsewhere)."""


def _rate(scaling: Mapping[int, float] | None, gpus: int) -> float:
    """Measured scaling (`rate_at`), or linear in the GPU count where none is known."""
    return rate_at(scaling, gpus) if scaling else float(gpus)


def members_for(
    job: Job,
    cand: Candidate,
    snapshot: Snapshot,
    state: CycleState,
    target: Target | None = None,
) -> int:
    """Members to admit `job` with on `cand` (its gang size when rigid; the `target` of a
    resize when it names this candidate). The result may not fit: the caller's
    placement decides, and it tries smaller sizes down to the minimum (`sizes_to_try`)."""
    spec = job.spec
    if not spec.elastic:
        return spec.gang_size
    low, high = spec.gang_range
    if not cand.cluster.can(Capability.GANG):
        high = low  # one member where the engine cannot start gangs (low is 1 there)
    if target is not None and (target.cluster_id, target.model) == (cand.cluster.id, cand.model):
        return min(max(target.members, low), high)
    fit = state.capacity.members_now(cand.cluster.id, cand.member)
    waiting = len(snapshot.queue) - state.position - 1
    cap = high if waiting <= 0 else spec.gang_size
    top = max(low, min(cap, fit))
    per = max(spec.resources.gpu_count, 1)
    progress = snapshot.progress.get(job.id)
    scaling = progress.scaling.get(cand.model) if progress is not None else None
    base = _rate(scaling, low * per) / (low * per)
    best = low
    for m in range(low + 1, top + 1):
        g = m * per
        if _rate(scaling, g) / g >= MIN_EFFICIENCY * base and _rate(scaling, g) > _rate(
            scaling, best * per
        ):
            best = m
    return best


def sizes_to_try(job: Job, first: int) -> range:
    """`first`, then smaller sizes down to the job's minimum."""
    low, _ = job.spec.gang_range
    return range(first, low - 1, -1)


GROW_MIN_GAIN = 0.2
"""Grow a running elastic job only if that saves at least this share of its remaining
time (after paying its stop, restore and restart) ..."""
GROW_MIN_SAVING_S = 600.0
"""... and at least this many seconds: a resize is a checkpoint and a restart."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where and how large a resized job is to be admitted again."""

    cluster_id: ClusterId
    model: str
    members: int
    at: datetime


RESTART_ESTIMATE_S = 300.0
"""What a resize is assumed to cost: stop at a checkpoint, restore, warm up."""


MAX_CONTENDERS = 200
"""Waiting jobs examined for the GPUs they could use (a resize decision needs only to know
whether anyone waits for a cluster and model, not who all of them are)."""


def contended(
    snapshot: Snapshot, state: CycleState, waiting: Sequence[JobId]
) -> set[tuple[ClusterId, str]]:
    """The (cluster, model) pairs some waiting job could ever run on: a job that fits
    nowhere, or only elsewhere, does not stop a resize."""
    by_id = {j.id: j for j in snapshot.queue}
    out: set[tuple[ClusterId, str]] = set()
    for job_id in waiting[:MAX_CONTENDERS]:
        job = by_id.get(job_id)
        if job is None:
            continue
        candidates, _ = state.placer.candidates(job)
        out.update((c.cluster.id, c.model) for c in candidates)
    return out


def rebalance(
    snapshot: Snapshot,
    state: CycleState,
    waiting: Sequence[JobId],
    targets: dict[JobId, Target],
) -> list[Preempt]:
    """Resizes of running elastic jobs, after the queue is decided: those grown past
    their preferred size on GPUs a waiting job could use shrink back (`shrink`); the
    others may grow onto GPUs nobody waits for (`grow`). A job resized less than the
    settings' `resize_cooldown_s` ago is left alone; each stop gets the settings'
    `preemption_grace_s`; resizes are recorded in `targets`."""
    if not any(j.spec.elastic for j in snapshot.running):
        return []
    resize = Resize(state.settings.preemption_grace_s, state.settings.resize_cooldown_s, targets)
    busy = contended(snapshot, state, waiting) if waiting else set()
    out = shrink(snapshot, resize, busy)
    shrinking = {p.job_id for p in out}
    return out + grow(snapshot, state, resize, busy, shrinking)


@dataclass(frozen=True, slots=True)
class Resize:
    """How resizes are paced: the grace a stopped job gets, the least time between two
    resizes of one job, and the record of past resizes (updated in place)."""

    grace_s: float
    cooldown_s: float
    targets: dict[JobId, Target]

    def cooling(self, job_id: JobId, now: datetime) -> bool:
        """True if the job was resized less than `cooldown_s` before `now`."""
        last = self.targets.get(job_id)
        return last is not None and (now - last.at).total_seconds() < self.cooldown_s


def grow(
    snapshot: Snapshot,
    state: CycleState,
    resize: Resize,
    busy: set[tuple[ClusterId, str]],
    skip: set[JobId],
) -> list[Preempt]:
    """Each running elastic job whose remaining work and scaling are measured is checked
    for a larger (or faster) size on a cluster and model it may use where no waiting job
    could use the GPUs (what is free there, plus what it holds where it runs), sizes
    within its range, each GPU doing at least MIN_EFFICIENCY of the per-GPU work at its
    minimum size. If that saves enough time after stopping and restarting, the job is
    stopped (checkpoint, `grace_s`) and the next cycle admits it there at that size.
    Longest remaining jobs first; the idle GPUs one resize counts on are not counted
    again."""
    out: list[Preempt] = []
    spare: dict[tuple[ClusterId, str], int] = {}
    for job, progress in _growable(snapshot, resize, skip):
        assert job.cluster_id is not None and job.allocation is not None
        model = next(iter(job.allocation.gpus))
        here = (job.cluster_id, model)
        per = max(job.spec.resources.gpu_count, 1)
        members = job.allocation.gpus[model] // per
        now = _Size(members, _rate(progress.scaling.get(model), members * per), here)
        best = _best_size(job, progress, state, busy, spare, now)
        if best == now or now.rate <= 0:
            continue
        assert progress.remaining_work is not None
        left_now = progress.remaining_work / now.rate
        left_new = resize.grace_s + RESTART_ESTIMATE_S + progress.remaining_work / best.rate
        saving = left_now - left_new
        if saving < max(GROW_MIN_SAVING_S, GROW_MIN_GAIN * left_now):
            continue
        spare[best.at] -= best.members - (members if best.at == here else 0)
        resize.targets[job.id] = Target(best.at[0], best.at[1], best.members, snapshot.now)
        out.append(
            Preempt(
                job.id,
                job.cluster_id,
                (job.id,),
                f"Resizing elastic job from {members} x {model} on {job.cluster_id} to "
                f"{best.members} x {best.at[1]} on {best.at[0]}: GPUs are idle and it would "
                f"finish about {int(saving // 60)} min sooner; it restarts from its checkpoint.",
                resize.grace_s,
            )
        )
    return out


def _growable(
    snapshot: Snapshot, resize: Resize, skip: set[JobId]
) -> list[tuple[Job, JobProgress]]:
    """Running elastic jobs that may be resized now and whose remaining work and speed
    where they run are known, longest remaining first."""
    jobs = []
    for job in snapshot.running:
        if not job.spec.elastic or job.id in skip or resize.cooling(job.id, snapshot.now):
            continue
        progress = snapshot.progress.get(job.id)
        if (
            job.preempt_requested
            or job.cluster_id is None
            or progress is None
            or progress.remaining_work is None
            or not job.allocation
            or not job.allocation.gpus
        ):
            continue
        if not progress.scaling.get(next(iter(job.allocation.gpus))):
            continue  # its current speed is not measured: no basis to compare
        jobs.append((progress.remaining_work, job, progress))
    return [(job, progress) for _, job, progress in sorted(jobs, key=lambda t: -t[0])]


@dataclass(frozen=True, slots=True)
class _Size:
    """A size a job could run at: members, the work per second they would do, and the
    (cluster, model) where."""

    members: int
    rate: float
    at: tuple[ClusterId, str]


def _best_size(
    job: Job,
    progress: JobProgress,
    state: CycleState,
    busy: set[tuple[ClusterId, str]],
    spare: dict[tuple[ClusterId, str], int],
    now: _Size,
) -> _Size:
    """The fastest size within the job's range on a cluster and model where its speed is
    measured and no waiting job could use the GPUs (room: what is free there, plus what
    it holds where it runs; one member where gangs are not supported), each GPU doing at
    least MIN_EFFICIENCY of the per-GPU work at its minimum size; `now` if none is
    faster. `spare` caches each place's free members."""
    per = max(job.spec.resources.gpu_count, 1)
    low, high = job.spec.gang_range
    best = now
    candidates, _ = state.placer.candidates(job)
    for cand in candidates:
        key = (cand.cluster.id, cand.model)
        scaling = progress.scaling.get(cand.model)
        if not scaling or key in busy:
            continue  # unmeasured, or a waiting job could use these GPUs
        if key not in spare:
            spare[key] = state.capacity.free_devices(*key) // per
        room = spare[key] + (now.members if key == now.at else 0)
        if not cand.cluster.can(Capability.GANG):
            room = min(room, 1)
        base = _rate(scaling, low * per) / (low * per)
        for m in range(low, min(high, room) + 1):
            r = _rate(scaling, m * per)
            if r / (m * per) >= MIN_EFFICIENCY * base and r > best.rate:
                best = _Size(m, r, key)
    return best


def shrink(
    snapshot: Snapshot,
    resize: Resize,
    busy: set[tuple[ClusterId, str]],
) -> list[Preempt]:
    """Running elastic jobs grown past the size they prefer, on a cluster and model a
    waiting job could use, give the extra GPUs back (stopped at a checkpoint, admitted
    again at their preferred size there), largest first."""
    out: list[Preempt] = []
    if not busy:
        return out
    for job in sorted(
        snapshot.running, key=lambda j: -(j.allocation.gpu_count if j.allocation else 0)
    ):
        if not job.spec.elastic or job.preempt_requested or job.cluster_id is None:
            continue
        if job.allocation is None or not job.allocation.gpus:
            continue
        model = next(iter(job.allocation.gpus))
        per = max(job.spec.resources.gpu_count, 1)
        members = job.allocation.gpus[model] // per
        if members <= job.spec.gang_size or (job.cluster_id, model) not in busy:
            continue
        if resize.cooling(job.id, snapshot.now):
            continue
        resize.targets[job.id] = Target(job.cluster_id, model, job.spec.gang_size, snapshot.now)
        out.append(
            Preempt(
                job.id,
                job.cluster_id,
                (job.id,),
                f"Resizing elastic job from {members} to {job.spec.gang_size} members on "
                f"{job.cluster_id}: other jobs wait for GPUs; it restarts from its checkpoint.",
                resize.grace_s,
            )
        )
    return out
