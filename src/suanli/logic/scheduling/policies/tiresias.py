"""Tiresias' Discretized 2D-LAS (Gu et al., "Tiresias: A GPU Cluster Manager for
Distributed Deep Learning", NSDI'19: Discretized 2D-LAS and its starvation prevention;
the `dlas-gpu` scheme of its simulator, github.com/SymbioticLab/Tiresias).

A job's attained service is GPU-seconds (GPUs held x time run: the two dimensions).
Priority queues Q0 (highest) .. QK-1 split it at `thresholds`: a job enters Q0 on
arrival and is demoted to Qk once its service reaches `thresholds[k-1]`. Queues are
served in order; inside a queue, running jobs come first (Tiresias does not preempt
within a queue) and the others in the order they entered it (FIFO). Every job that fits
runs (gangs all-or-nothing): a big job that does not fit does not block smaller ones.

Starvation: with `promote_knob` set, a waiting job below Q0 whose waiting time since it
last entered Q0 (counted from its first run) reaches `promote_knob` x its run time since
then goes back to Q0, and its service is counted afresh from there (PROMOTEKNOB in the
paper; `solve_starvation` in its simulator).

Rounds: Tiresias re-decides at every arrival, completion and queue change; here a round
every `round_s` (leases, as Gavel runs its LAS policies), so a demotion or promotion takes
effect at the next round boundary. A running job that stays admitted keeps its placements
(no restart); one that loses its lease is suspended and pays the restart cost. Without
rounds (`Snapshot.round_s` None) the same order admits pending jobs and preempts nobody.

State: the policy remembers, per job, its queue, when it entered it and the counters at
its last promotion (the snapshot's progress has the totals); a restarted live scheduler
forgets promotions, which only costs the promoted jobs their head start.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise

from suanli.domain.errors import InvalidInput
from suanli.domain.ids import JobId
from suanli.domain.jobs import Job
from suanli.logic.scheduling import leases
from suanli.logic.scheduling.decisions import Decision
from suanli.logic.scheduling.placement import PlacementMemo
from suanli.logic.scheduling.snapshot import JobProgress, Snapshot
from suanli.logic.scheduling.state import CycleState, SchedulerSettings

THRESHOLDS_GPU_S: tuple[float, ...] = (3250.0, 7200.0)
"""The Tiresias simulator's defaults (`jobs.py`: three queues, limits 3,250 and 7,200
GPU-seconds; its third limit is unused with three queues)."""
ROUND_S = 360.0
"""Lease length: Tiresias has none (it is event-driven); Gavel's round for its LAS."""


@dataclass(slots=True)
class _Track:
    queue: int
    entered: datetime
    first_wait_s: float | None = None
    """Queueing before the first run (not counted as starving)."""
    base_service: float = 0.0
    """Attained GPU-seconds at the last promotion."""
    base_run_s: float = 0.0
    base_wait_s: float = 0.0
    promotions: int = 0


class Tiresias:
    name = "tiresias"
    append_only = False
    round_s: float | None = ROUND_S

    def __init__(
        self,
        settings: SchedulerSettings,
        *,
        thresholds: Sequence[float] = THRESHOLDS_GPU_S,
        promote_knob: float | None = None,
        round_s: float | None = ROUND_S,
    ) -> None:
        limits = tuple(float(t) for t in thresholds)
        if any(t <= 0 for t in limits) or any(a >= b for a, b in pairwise(limits)):
            raise InvalidInput(
                f"Tiresias thresholds must be positive and increasing, got {limits}.",
                field="thresholds",
            )
        if promote_knob is not None and promote_knob <= 0:
            raise InvalidInput(
                f"promote_knob must be positive (or None: off), got {promote_knob}.",
                field="promote_knob",
            )
        self.settings = settings
        self.memo = PlacementMemo()
        self.thresholds = limits
        self.promote_knob = promote_knob
        self.round_s = round_s
        self._tracks: dict[JobId, _Track] = {}

    def queue_of(self, job_id: JobId) -> int | None:
        """The queue the job was in at the last cycle (None: not seen)."""
        track = self._tracks.get(job_id)
        return track.queue if track is not None else None

    def promotions(self, job_id: JobId) -> int:
        track = self._tracks.get(job_id)
        return track.promotions if track is not None else 0

    def order(self, snapshot: Snapshot, state: CycleState) -> Iterable[Job]:
        live = {j.id for j in snapshot.queue} | {j.id for j in snapshot.running}
        for gone in [i for i in self._tracks if i not in live]:
            del self._tracks[gone]
        for job in snapshot.running:
            self._update(job, snapshot, waiting=False)
        for job in snapshot.queue:
            self._update(job, snapshot, waiting=not leases.holds_lease(job, snapshot))

        def key(job: Job) -> tuple[int, int, datetime, int]:
            track = self._tracks[job.id]
            running = 0 if leases.holds_lease(job, snapshot) else 1
            return (track.queue, running, track.entered, job.seq)

        ranked = sorted(snapshot.queue, key=key)
        return leases.keep_in_place(ranked, snapshot, self.settings, self.memo)

    def nominate(self, job: Job, snapshot: Snapshot, state: CycleState) -> Decision:
        return leases.nominate(job, snapshot, state)

    def _update(self, job: Job, snapshot: Snapshot, *, waiting: bool) -> None:
        """Bring the job's queue up to date: demotion by service since the last
        promotion, promotion of a starving waiting job."""
        now = snapshot.now
        progress = snapshot.progress.get(job.id) or JobProgress()
        ran = sum(progress.run_s_by_model.values())
        track = self._tracks.get(job.id)
        if track is None:
            # A job first seen with service (a restarted scheduler) enters its queue now.
            fresh = progress.attained_gpu_s == 0
            track = self._tracks[job.id] = _Track(0, job.submitted_at if fresh else now)
        age = max((now - job.submitted_at).total_seconds(), 0.0)
        if track.first_wait_s is None and ran > 0:
            track.first_wait_s = max(age - ran, 0.0)
        waited = age - ran - track.first_wait_s if track.first_wait_s is not None else 0.0
        queue = bisect_right(self.thresholds, progress.attained_gpu_s - track.base_service)
        ran_since = ran - track.base_run_s
        if (
            waiting
            and self.promote_knob is not None
            and queue > 0
            and ran_since > 0
            and waited - track.base_wait_s >= self.promote_knob * ran_since
        ):
            track.base_service = progress.attained_gpu_s
            track.base_run_s = ran
            track.base_wait_s = waited
            track.promotions += 1
            track.queue = 0
            track.entered = now  # at Q0's tail
            return
        if queue != track.queue:
            track.queue = queue
            track.entered = now
