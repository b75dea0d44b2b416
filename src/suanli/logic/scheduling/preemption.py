"""Choosing whom to preempt so that a job can start.

Two reasons to preempt (after Kueue and Slurm): *priority* - a guaranteed job may stop
standard and preemptible jobs, a standard job preemptible ones; and *reclaim* - a tenant
within its nominal quota takes back capacity that cohort members borrowed, stopping their
borrowing jobs. Victims are taken lowest class first, then most recently started (the
least work lost), on the one candidate cluster that needs the fewest; jobs already being
preempted count as free first, so a job waiting for its victims to stop does not pick
new ones each cycle. Victims are stopped with SIGTERM and a grace period and requeued
with their age.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from suanli.domain.ids import ClusterId, JobId
from suanli.domain.jobs import Job
from suanli.domain.resources import Resources
from suanli.logic.scheduling.capacity import CPU_ONLY, Capacity, NodeKey, members_fit
from suanli.logic.scheduling.fairshare import CLASS_RANK
from suanli.logic.scheduling.placement import Candidate

MAX_VICTIM_CANDIDATES = 512
"""Per cluster: bounds the work of one search (victims beyond it are not considered)."""


@dataclass(frozen=True, slots=True)
class VictimPlan:
    cluster_id: ClusterId
    victims: tuple[Job, ...]
    """New victims to stop (possibly none: the ones already stopping suffice)."""
    stopping: tuple[Job, ...]
    """Jobs already being preempted that this job waits for."""
    nodes: tuple[NodeKey, ...] = ()
    """The nodes those jobs free: what the job counts on there is held for it."""


def _victim_order(job: Job) -> tuple[int, float]:
    started = (job.started_at or datetime.min.replace(tzinfo=UTC)).timestamp()
    return (-CLASS_RANK[job.spec.priority_class], -started)


def uses_model(job: Job, model: str) -> bool:
    """Whether stopping `job` frees devices of `model` (any job frees CPU)."""
    return not model or any(model in p.allocation.gpus for p in job.placed())


def victim_pool(held: Iterable[Job], may_preempt: Callable[[Job], bool]) -> list[Job]:
    """The jobs that may be stopped, in the order they are taken (see module doc)."""
    pool = sorted(
        (j for j in held if not j.preempt_requested and may_preempt(j)), key=_victim_order
    )
    return pool[:MAX_VICTIM_CANDIDATES]


class _Trial:
    """What fits on one cluster as victims are added or taken back; only the nodes a
    victim touches are re-evaluated."""

    def __init__(self, cluster_id: ClusterId, member: Resources, capacity: Capacity) -> None:
        self.cluster_id = cluster_id
        self.member = member
        self.capacity = capacity
        self.view: dict[NodeKey, Resources] = {}
        self.fit = {
            k: members_fit(member, capacity.free[k])
            for k in capacity.nodes_with_room(cluster_id, member)
        }
        self.total = sum(self.fit.values())

    def shift(self, victim: Job, sign: int) -> int:
        """Add (+1) or take back (-1) what the victim frees; returns the change in the
        members that fit."""
        change = 0
        for p in victim.placed():
            key = (self.cluster_id, p.node_id)
            now = self.view.get(key) or self.capacity.free.get(key)
            if now is None:
                continue  # a node the cluster no longer reports
            after = now + p.allocation if sign > 0 else now - p.allocation
            self.view[key] = after
            before = self.fit.get(key)
            if before is None:
                before = members_fit(self.member, now)
            self.fit[key] = members_fit(self.member, after)
            change += self.fit[key] - before
        return change


def plan_victims(
    candidates: Sequence[Candidate],
    gang: int,
    capacity: Capacity,
    stopping_of: Callable[[ClusterId], Sequence[Job]],
    pool_of: Callable[[ClusterId, str], Sequence[Job]],
    enough: Callable[[Sequence[Job]], bool] = lambda _: True,
    claimed: Collection[JobId] = (),
) -> VictimPlan | None:
    """The cheapest plan over `candidates` (fewest new victims), or None. `stopping_of`
    gives a cluster's jobs being preempted already, `pool_of` its stoppable jobs that
    free devices of a model, in the order to take them; `enough` is an extra condition
    on the victims chosen (e.g. the quota they free suffices). Jobs in `claimed` are being
    stopped for another job and are not counted on. Victims that turn out not to be
    needed are dropped again (newest choice first), so no job is stopped for nothing.
    Only the nodes a victim touches are re-evaluated, so a plan costs in proportion to
    the victims it looks at, not to the cluster's size."""
    best: VictimPlan | None = None
    for cand in candidates:
        cid = cand.cluster.id
        member = cand.member
        model = next(iter(member.gpus), CPU_ONLY)
        trial = _Trial(cid, member, capacity)
        total = trial.total
        if total >= gang and enough([]):
            # it fits without stopping anyone: what holds it back is not capacity (a
            # backfill reservation), and preemption cannot help
            continue
        stopping = [j for j in stopping_of(cid) if j.id not in claimed and uses_model(j, model)]
        pool = pool_of(cid, model)
        chosen: list[Job] = []
        for victim in [*stopping, *pool]:
            total += trial.shift(victim, +1)
            chosen.append(victim)
            if total >= gang and enough(chosen):
                break
        else:
            continue
        for victim in reversed(list(chosen)):
            without = [v for v in chosen if v is not victim]
            total += trial.shift(victim, -1)
            if total >= gang and enough(without):
                chosen = without
            else:
                total += trial.shift(victim, +1)
        new = tuple(v for v in chosen if not v.preempt_requested)
        nodes = tuple(dict.fromkeys((cid, p.node_id) for v in chosen for p in v.placed()))
        plan = VictimPlan(cid, new, tuple(v for v in chosen if v.preempt_requested), nodes)
        if best is None or len(plan.victims) < len(best.victims):
            best = plan
            if not new:
                break
    return best


def victim_ids(plan: VictimPlan) -> tuple[JobId, ...]:
    return tuple(j.id for j in plan.victims)
