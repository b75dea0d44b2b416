"""One scheduling cycle, in numbered steps over an immutable snapshot (after Kueue).

1. heads     - the pending jobs (the snapshot's queue)
2. snapshot  - a working state: free capacity per node (indexed), quota usage, fair
               shares, the jobs holding resources
3. nominate  - the policy proposes an admission, a preemption or a wait for each job,
               against the state left by the admissions before it
4. order     - the policy orders the queue; the order may follow the state (fair share
               re-ranks a tenant as soon as it is admitted)
5. admit     - the cycle applies each admission to the state; an admission that would
               break the tenant's quota waits instead (whatever the policy: quota is an
               invariant of the cycle, not a feature of one policy), and one that would
               exceed a node's free capacity is refused (DomainError)
6. requeue   - every job not admitted stays pending with a reason; preemptions are
               returned for the caller to carry out, with the running jobs a
               `Rebalancing` policy stops to resize (elastic jobs)

The cycle returns decisions; the caller persists them in one transaction. The live
scheduler and the simulator call this same function. Invariants (tests/unit, over every
registered policy): capacity and quotas are never exceeded, every job in the queue gets
exactly one decision, every waiting job a reason.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass

from suanli.domain.jobs import Job
from suanli.logic.scheduling.backfill import Reservation
from suanli.logic.scheduling.decisions import Admit, Decision, Preempt, Wait
from suanli.logic.scheduling.policy import Policy, Rebalancing
from suanli.logic.scheduling.snapshot import Snapshot
from suanli.logic.scheduling.state import CycleState


@dataclass(frozen=True, slots=True)
class CycleResult:
    admitted: tuple[Admit, ...]
    waiting: tuple[Wait, ...]
    preemptions: tuple[Preempt, ...] = ()
    reservation: Reservation | None = None

    def decisions(self) -> tuple[Admit | Wait, ...]:
        """One decision per queued job (a preempting job is among the waiting)."""
        return (*self.admitted, *self.waiting)


def run_cycle(snapshot: Snapshot, policy: Policy, *, blocked_by: Job | None = None) -> CycleResult:
    """Decide for every job in `snapshot.queue`; never exceeds any node's free capacity.
    `blocked_by`: a job (not in this queue) that already blocks everything behind it."""
    # A cycle allocates many small objects among a large live heap (the queue, the
    # holders): the cyclic collector would walk that heap again and again, which cost
    # 40% of a 100,000-job cycle (bench/scheduler.py). Nothing a cycle creates needs it;
    # collection resumes afterwards.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _run_cycle(snapshot, policy, blocked_by)
    finally:
        if collecting:
            gc.enable()


def _run_cycle(snapshot: Snapshot, policy: Policy, blocked_by: Job | None) -> CycleResult:
    state = CycleState(snapshot, policy.settings, policy.memo)  # 2
    admitted: list[Admit] = []
    waiting: list[Wait] = []
    preemptions: list[Preempt] = []
    blocker = blocked_by
    for job in policy.order(snapshot, state):  # 1 + 4
        if blocker is not None:
            waiting.append(Wait(job.id, f"Behind job {blocker.id} (queue order).", False))
            state.position += 1
            continue
        decision: Decision = policy.nominate(job, snapshot, state)  # 3
        if isinstance(decision, Admit):
            refusal = state.admit(job, decision)  # 5
            if refusal is None:
                admitted.append(decision)
            else:  # over quota: a policy that does not weigh quotas proposed it
                waiting.append(Wait(job.id, refusal, False))
        elif isinstance(decision, Preempt):
            preemptions.append(decision)
            waiting.append(Wait(job.id, decision.reason))
        else:
            waiting.append(decision)
            if decision.blocking:
                blocker = job
        state.position += 1
    if isinstance(policy, Rebalancing):
        # 6a: jobs already running may be resized or moved (stopped and requeued)
        preemptions.extend(policy.rebalance(snapshot, state, [w.job_id for w in waiting]))
    # 6: the waiting decisions are the requeue set
    return CycleResult(tuple(admitted), tuple(waiting), tuple(preemptions), state.reservation)
