"""Themis' finish-time fairness (Mahajan et al., "Themis: Fair and Efficient GPU Cluster
Scheduling", NSDI'20: finish-time fairness, the arbiter's auction, the fairness knob).

A job's finish-time fairness is rho = T_shared / T_ideal:
- T_shared: when it would finish sharing the pool: its age plus its run time left at its
  best rate (`leases.estimate`: the oracle in the simulator, the time limit live);
- T_ideal: its whole run time alone on a 1/N share of the pool, N the jobs contending
  now: its run time at the best rate, stretched by G x N / C when its G GPUs exceed the
  share of the pool's C GPUs (it would then time-share that share).
rho > 1: the job is doing worse than on its own slice of the pool.

Every round (a lease of `round_s`) the (1 - f) fraction of the queue with the largest rho
(at least one job) bids in the auction; the auction admits them in the order of their
gain in Themis' objective (the product of 1 / rho over the bidders: proportional
fairness), gain = log(rho if it waits this lease / rho if it runs) per GPU, which is
log((age + lease + left) / (age + left)) / G; each goes where it runs fastest. What is
left goes to the others, worst rho first (work conservation). f -> 1: only the worst job
bids (fairest); f = 0: everyone bids (the efficiency of the auction decides).

A running job that keeps its lease keeps its placements (no restart); one that loses it
is suspended and pays the restart cost. Without rounds (`Snapshot.round_s` None) the same
order admits pending jobs and preempts nobody.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from suanli.domain.errors import InvalidInput
from suanli.domain.jobs import Job
from suanli.logic.scheduling import leases
from suanli.logic.scheduling.decisions import Decision
from suanli.logic.scheduling.placement import PlacementMemo
from suanli.logic.scheduling.snapshot import JobProgress, Snapshot
from suanli.logic.scheduling.state import CycleState, SchedulerSettings

FAIRNESS = 0.8
"""The fairness knob f (0.8, the value the paper runs with)."""
LEASE_S = 600.0
"""Lease length (round): ten minutes (Themis' leases last minutes; the exact default
was not checked against the paper here)."""


def finish_time_fairness(
    job: Job, progress: JobProgress | None, *, age_s: float, contenders: int, total_gpus: int
) -> float:
    """rho = T_shared / T_ideal (module doc); T_ideal is at least one second."""
    est = leases.estimate(job, progress)
    gpus = max(job.spec.resources.gpu_count * job.spec.gang_size, 1)
    stretch = max(1.0, gpus * contenders / total_gpus) if total_gpus > 0 else 1.0
    ideal = max(est.done_s + est.left_s, 1.0) * stretch
    return (age_s + est.left_s) / ideal


def auction_gain(job: Job, progress: JobProgress | None, *, age_s: float, lease_s: float) -> float:
    """log(rho waiting one lease / rho running), per GPU: T_ideal cancels out."""
    left = leases.estimate(job, progress).left_s
    gpus = max(job.spec.resources.gpu_count * job.spec.gang_size, 1)
    return math.log((age_s + lease_s + left) / max(age_s + left, 1.0)) / gpus


class Themis:
    name = "themis"
    append_only = False
    round_s: float | None = LEASE_S

    def __init__(
        self,
        settings: SchedulerSettings,
        *,
        fairness: float = FAIRNESS,
        round_s: float | None = LEASE_S,
    ) -> None:
        if not 0.0 <= fairness < 1.0:
            raise InvalidInput(
                f"The Themis fairness knob f must be in [0, 1), got {fairness}.",
                field="fairness",
            )
        self.settings = settings
        self.memo = PlacementMemo()
        self.fairness = fairness
        self.round_s = round_s

    def rho(self, job: Job, snapshot: Snapshot) -> float:
        """The job's finish-time fairness now, against the snapshot's contention."""
        return finish_time_fairness(
            job,
            snapshot.progress.get(job.id),
            age_s=_age(job, snapshot),
            contenders=len(snapshot.queue) + len(snapshot.running),
            total_gpus=sum(n.capacity.gpu_count for c in snapshot.clusters for n in c.nodes),
        )

    def order(self, snapshot: Snapshot, state: CycleState) -> Iterable[Job]:
        queue = snapshot.queue
        if not queue:
            return ()
        rhos = {j.id: self.rho(j, snapshot) for j in queue}
        by_rho = sorted(queue, key=lambda j: (-rhos[j.id], j.seq))
        # The (1 - f) fraction, rounded up; the epsilon keeps 0.2 x 5 from becoming 2.
        bidders = max(1, math.ceil((1.0 - self.fairness) * len(queue) - 1e-9))
        lease = snapshot.round_s or self.round_s or LEASE_S
        gains = {
            j.id: auction_gain(
                j, snapshot.progress.get(j.id), age_s=_age(j, snapshot), lease_s=lease
            )
            for j in by_rho[:bidders]
        }
        auction = sorted(by_rho[:bidders], key=lambda j: (-gains[j.id], -rhos[j.id], j.seq))
        ranked = [*auction, *by_rho[bidders:]]
        return leases.keep_in_place(ranked, snapshot, self.settings, self.memo)

    def nominate(self, job: Job, snapshot: Snapshot, state: CycleState) -> Decision:
        return leases.nominate(job, snapshot, state)


def _age(job: Job, snapshot: Snapshot) -> float:
    return max((snapshot.now - job.submitted_at).total_seconds(), 0.0)
