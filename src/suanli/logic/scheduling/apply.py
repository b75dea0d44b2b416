"""Carrying out a cycle's decisions, the same way live and in simulation.

`run_cycle` returns decisions; `carry_out` walks them in one order through a small port
that the live loop (`services/scheduler.py`: the store, money, the agents) and the
simulator (`logic/simulation/engine.py`: the simulated pool and its events) implement:

1. rounds only: a job holding resources that the cycle admitted again to the placements
   it holds keeps running (its lease is renewed); every other holder is suspended;
2. each admission is started, or waits after all with the port's reason (the tenant
   cannot pay, reserved capacity), or is skipped (the job left the queue meanwhile);
3. each preemption (for another job, or an elastic job's own resize) asks its victims
   to stop;
4. every waiting job has its reason: the policy's, or the port's from step 2.

`needs_cycle` is the one test, live and simulated, of whether a cycle has anything to
decide.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Protocol

from suanli.domain.ids import JobId
from suanli.domain.jobs import Job
from suanli.logic.scheduling.cycle import CycleResult
from suanli.logic.scheduling.decisions import Admit, Preempt
from suanli.logic.scheduling.policy import Policy, Rebalancing
from suanli.logic.scheduling.snapshot import Snapshot


class DecisionPort(Protocol):
    """Where decisions take effect."""

    def start(self, decision: Admit) -> bool | str:
        """Start the admitted job: True when it starts; a reason when it must wait after
        all; False when it is no longer there to start (nothing to say)."""
        ...

    def stop(self, preemption: Preempt, victim: JobId) -> bool:
        """Ask `victim` to stop for `preemption` (its own resize when it is the
        preempting job); True when it was asked now."""
        ...

    def suspend(self, job: Job) -> None:
        """Rounds: the job's lease ended; it stops at once and waits again."""
        ...


@dataclass(frozen=True, slots=True)
class Carried:
    started: tuple[JobId, ...]
    stopped: tuple[JobId, ...]
    suspended: tuple[JobId, ...]
    reasons: dict[JobId, str]
    """Why each job not started waits: the policy's reason, or the port's."""

    @property
    def changed(self) -> bool:
        return bool(self.started or self.stopped or self.suspended)


def needs_cycle(
    queue: Collection[object], running: Iterable[Job], policy: Policy, *, rounds: bool
) -> bool:
    """Whether a cycle has anything to decide: jobs wait; or, in rounds, jobs hold leases
    to renew; or a policy that resizes elastic jobs has some running."""
    if queue:
        return True
    holders = list(running)
    if rounds and holders:
        return True
    return isinstance(policy, Rebalancing) and any(j.spec.elastic for j in holders)


def carry_out(result: CycleResult, snapshot: Snapshot, port: DecisionPort) -> Carried:
    """Carry out `result`, decided over `snapshot`, through `port` (module doc)."""
    admitted = list(result.admitted)
    suspended: list[JobId] = []
    if snapshot.round_s is not None:
        chosen = {a.job_id: a for a in admitted}
        for job in snapshot.queue:
            if not job.status.holds_resources():
                continue
            again = chosen.get(job.id)
            if (
                again is not None
                and again.cluster_id == job.cluster_id
                and again.placements == job.placements
            ):
                admitted.remove(again)  # lease renewed where it is
                continue
            port.suspend(job)
            suspended.append(job.id)
    started: list[JobId] = []
    reasons = {w.job_id: w.reason for w in result.waiting}
    for decision in admitted:
        outcome = port.start(decision)
        if outcome is True:
            started.append(decision.job_id)
        elif isinstance(outcome, str):
            reasons[decision.job_id] = outcome
    stopped: list[JobId] = []
    for preemption in result.preemptions:
        for victim in preemption.victims:
            if port.stop(preemption, victim):
                stopped.append(victim)
    return Carried(tuple(started), tuple(stopped), tuple(suspended), reasons)
