"""FIFO + first fit: the baseline policy (what a plain batch queue does).

Jobs are tried in submission order. A job goes to the first node (clusters in id order,
then nodes in id order within the fitting buckets) that fits it, among the clusters that
pass the placement filters. A job that could fit the pool when empty but not now blocks
the jobs behind it (strict FIFO, so big jobs are not starved); a job that no cluster
could ever hold does not block, and its reason names the closest miss.
"""

from __future__ import annotations

from collections.abc import Iterable

from suanli.domain.jobs import Job
from suanli.logic.scheduling.decisions import Admit, Decision, Wait
from suanli.logic.scheduling.placement import PlacementMemo
from suanli.logic.scheduling.snapshot import Snapshot
from suanli.logic.scheduling.state import CycleState, SchedulerSettings


class FifoFirstFit:
    name = "fifo"
    append_only = True
    round_s: float | None = None

    def __init__(self, settings: SchedulerSettings) -> None:
        self.settings = settings
        self.memo = PlacementMemo()

    def order(self, snapshot: Snapshot, state: CycleState) -> Iterable[Job]:
        return sorted(snapshot.queue, key=lambda j: j.seq)

    def nominate(self, job: Job, snapshot: Snapshot, state: CycleState) -> Decision:
        candidates, why_not = state.placer.candidates(job)
        if not candidates:
            return Wait(job.id, why_not, blocking=False)
        for cand in candidates:
            placed = state.capacity.place(cand.cluster.id, cand.member, job.spec.gang_size)
            if placed is not None:
                return Admit(job.id, cand.cluster.id, placed)
        return Wait(
            job.id, "Waiting for resources: every node that fits it is busy.", blocking=True
        )
