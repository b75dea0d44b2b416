"""One scheduling cycle, in numbered steps over an immutable snapshot (after Kueue).

1. heads     - the pending jobs (the snapshot's queue)
2. snapshot  - a working copy of free capacity per node
3. nominate  - the policy proposes a placement or a wait for each job, against what is
               still free after the admissions before it
4. order     - the policy orders the queue (done before 3, so nominations see earlier
               admissions)
5. admit     - subtract each admitted allocation from the working capacity
6. requeue   - every job not admitted stays pending with a reason; after a blocking wait,
               later jobs wait behind it

The cycle returns decisions; the caller persists them in one transaction. Invariants:
capacity is never exceeded, and every job in the queue gets exactly one decision.
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.domain.errors import DomainError
from suanli.domain.jobs import Job
from suanli.domain.resources import Resources
from suanli.logic.scheduling.decisions import Admit, Decision, Wait
from suanli.logic.scheduling.policy import NodeKey, Policy
from suanli.logic.scheduling.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class CycleResult:
    admitted: tuple[Admit, ...]
    waiting: tuple[Wait, ...]

    def decisions(self) -> tuple[Decision, ...]:
        return (*self.admitted, *self.waiting)


def run_cycle(snapshot: Snapshot, policy: Policy, *, blocked_by: Job | None = None) -> CycleResult:
    """Decide for every job in `snapshot.queue`; never exceeds any node's free capacity.
    `blocked_by`: a job (not in this queue) that already blocks everything behind it."""
    # 2. working copy of free capacity
    free: dict[NodeKey, Resources] = {
        (c.id, n.node_id): n.free for c in snapshot.clusters for n in c.nodes
    }
    # 4. order, then 3 + 5 per job so each nomination sees earlier admissions
    admitted: list[Admit] = []
    waiting: list[Wait] = []
    blocker = blocked_by
    for job in policy.order(snapshot):
        if blocker is not None:
            waiting.append(Wait(job.id, f"Behind job {blocker.id} (queue order).", False))
            continue
        decision = policy.nominate(job, snapshot, free)
        if isinstance(decision, Admit):
            key = (decision.cluster_id, decision.node_id)
            remaining = free[key] - decision.allocation
            if (
                remaining.cpu_milli < 0
                or remaining.memory_mb < 0
                or any(v < 0 for v in remaining.gpus.values())
            ):
                raise DomainError(f"Policy {policy.name!r} over-admitted job {job.id} on {key}.")
            free[key] = remaining
            admitted.append(decision)
        else:
            waiting.append(decision)
            if decision.blocking:
                blocker = job
    # 6. requeue: the waiting decisions are the requeue set
    return CycleResult(tuple(admitted), tuple(waiting))
