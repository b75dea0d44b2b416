"""What the literature policies (`sjf.py`, `tiresias.py`, `themis.py`) share: a job's run
time estimate, placement on the fastest GPU model with room, and, in rounds, the order
that lets a round's winners that already run keep their leases in place.

Estimates: the simulator knows every job's remaining work and its rates (an oracle, as
the papers' own simulators assume); the live service knows neither, so there the job's
time limit stands in for its run time, as Slurm's backfill uses users' estimates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from suanli.domain.jobs import Job, JobStatus
from suanli.logic.scheduling import rounds
from suanli.logic.scheduling.decisions import Admit, Decision, Wait
from suanli.logic.scheduling.placement import PlacementMemo
from suanli.logic.scheduling.snapshot import JobProgress, Snapshot
from suanli.logic.scheduling.state import CycleState, SchedulerSettings

BUSY = "Waiting for resources: higher-ranked jobs hold every node that fits it."


@dataclass(frozen=True, slots=True)
class Estimate:
    """A job's run time, split at now, in seconds at its best known rate."""

    done_s: float
    """Run time the work done so far would take at the best rate."""
    left_s: float
    """Run time left at the best rate."""
    known: bool
    """False when neither remaining work nor a time limit is known (`left_s` is then 0
    and `done_s` the wall time run so far: the job is taken to be about to finish)."""


def estimate(job: Job, progress: JobProgress | None) -> Estimate:
    """The oracle where `progress` has the remaining work; else the time limit less the
    time run so far; else unknown. Rates missing from `progress.rates` count as 1.0 (the
    simulator's convention: work is in seconds at rate 1.0 unless rates say otherwise)."""
    ran = sum(progress.run_s_by_model.values()) if progress is not None else 0.0
    if progress is not None and progress.remaining_work is not None:
        rates = progress.rates
        best = max(rates.values()) if rates else 1.0
        if best > 0:
            done = sum(s * rates.get(m, 1.0) for m, s in progress.run_s_by_model.items())
            return Estimate(done / best, progress.remaining_work / best, True)
    limit = job.spec.time_limit_s
    if limit is not None:
        return Estimate(ran, max(limit - ran, 0.0), True)
    return Estimate(ran, 0.0, False)


def holds_lease(job: Job, snapshot: Snapshot) -> bool:
    """In rounds: the job is running now and may keep its placements."""
    return snapshot.round_s is not None and job.status is JobStatus.RUNNING and bool(job.placements)


def fastest_first(progress: JobProgress | None) -> list[str]:
    """The job's GPU models with known rates, fastest first (ties by name)."""
    if progress is None:
        return []
    rates = progress.rates
    return sorted(rates, key=lambda m: (-rates[m], m))


def admit(job: Job, snapshot: Snapshot, state: CycleState) -> Admit | None:
    """Keep a running job's lease where it is (rounds); else place it on the fastest
    model with room by its rates; else on the first candidate with room (first fit, for
    models without a known rate). None: nothing has room."""
    if holds_lease(job, snapshot):
        kept = rounds.keep(job, state)
        if kept is not None:
            return kept
    models = fastest_first(snapshot.progress.get(job.id))
    if models:
        placed = rounds.place(job, state, models=models)
        if placed is not None:
            return placed
    return rounds.place(job, state)


def nominate(job: Job, snapshot: Snapshot, state: CycleState) -> Decision:
    """`admit`, else a non-blocking wait: a job that does not fit now never holds back
    the jobs ranked after it (they fill what it cannot use)."""
    candidates, why_not = state.placer.candidates(job)
    if not candidates:
        return Wait(job.id, why_not, blocking=False)
    decision = admit(job, snapshot, state)
    return decision if decision is not None else Wait(job.id, BUSY, blocking=False)


def keep_in_place(
    ranked: Sequence[Job],
    snapshot: Snapshot,
    settings: SchedulerSettings,
    memo: PlacementMemo,
) -> list[Job]:
    """The order to admit `ranked` (best first) in. Outside rounds, or with nobody
    running, `ranked` itself. In rounds the winners are those `ranked` admits in its
    order on an empty pool; they are then returned running ones first, so a running
    winner keeps its placements instead of being moved by a higher-ranked job placed on
    its nodes (a move costs a restart), then the other winners, then the rest (which may
    still fill what is left). When that layout cannot hold every winner (fragmentation),
    `ranked` itself: the winners matter more than where they run."""
    if snapshot.round_s is None or not any(holds_lease(j, snapshot) for j in ranked):
        return list(ranked)
    trial = CycleState(snapshot, settings, memo)
    winners = [j for j in ranked if _take(j, snapshot, trial)]
    running = [j for j in winners if holds_lease(j, snapshot)]
    fresh = [j for j in winners if not holds_lease(j, snapshot)]
    check = CycleState(snapshot, settings, memo)
    if not all(_take(j, snapshot, check) for j in (*running, *fresh)):
        return list(ranked)
    won = {j.id for j in winners}
    return [*running, *fresh, *(j for j in ranked if j.id not in won)]


def _take(job: Job, snapshot: Snapshot, state: CycleState) -> bool:
    decision = admit(job, snapshot, state)
    if decision is None:
        return False
    return state.admit(job, decision) is None  # None: admitted (quota kept)
