"""SJF: shortest job first, with oracle run times (the `shortest` baseline of Tiresias'
simulator, NSDI'19; the classic non-preemptive SJF of queueing theory).

Order: shortest remaining run time first, from `leases.estimate`: in the simulator the
oracle (remaining work at the job's best rate), live the job's time limit less the time
it has run (the user's estimate, as Slurm uses it); jobs with neither go last, in
submission order. Ties go by submission order.

Non-preemptive and event-driven (`round_s` None): a running job keeps its GPUs until it
ends. Run in rounds anyway (`Snapshot.round_s` set), running jobs are ranked first and
keep their leases in place, so it stays non-preemptive.

Placement: the fastest GPU model with room by the job's rates, else first fit.

Not strict: a job that does not fit now waits without blocking, so shorter-ranked jobs
never wait for it and longer ones behind it fill the GPUs it cannot use (SJF backfills
naturally). The price: a wide job can wait while narrow longer ones keep starting; SJF
makes no promise against starvation.
"""

from __future__ import annotations

from collections.abc import Iterable

from suanli.domain.jobs import Job
from suanli.logic.scheduling import leases
from suanli.logic.scheduling.decisions import Decision
from suanli.logic.scheduling.placement import PlacementMemo
from suanli.logic.scheduling.snapshot import Snapshot
from suanli.logic.scheduling.state import CycleState, SchedulerSettings


def sjf_key(job: Job, snapshot: Snapshot) -> tuple[int, int, float, int]:
    """Sort key: running (rounds) first, then known estimates shortest first, then
    unknown ones; submission order breaks ties."""
    running = 0 if leases.holds_lease(job, snapshot) else 1
    est = leases.estimate(job, snapshot.progress.get(job.id))
    return (running, 0 if est.known else 1, est.left_s if est.known else 0.0, job.seq)


class ShortestJobFirst:
    name = "sjf"
    append_only = False
    round_s: float | None = None

    def __init__(self, settings: SchedulerSettings) -> None:
        self.settings = settings
        self.memo = PlacementMemo()

    def order(self, snapshot: Snapshot, state: CycleState) -> Iterable[Job]:
        ranked = sorted(snapshot.queue, key=lambda j: sjf_key(j, snapshot))
        return leases.keep_in_place(ranked, snapshot, self.settings, self.memo)

    def nominate(self, job: Job, snapshot: Snapshot, state: CycleState) -> Decision:
        return leases.nominate(job, snapshot, state)
