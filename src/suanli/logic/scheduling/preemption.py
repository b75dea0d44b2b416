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

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from suanli.domain.ids import ClusterId, JobId
from suanli.domain.jobs import Job
from suanli.domain.resources import Resources
from suanli.logic.scheduling.capacity import NodeKey, members_fit
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


def _victim_order(job: Job) -> tuple[int, float]:
    started = (job.started_at or datetime.min.replace(tzinfo=UTC)).timestamp()
    return (-CLASS_RANK[job.spec.priority_class], -started)


def plan_victims(
    candidates: Sequence[Candidate],
    gang: int,
    free: Mapping[NodeKey, Resources],
    keys_of: Callable[[ClusterId], Sequence[NodeKey]],
    holding: Mapping[ClusterId, Sequence[Job]],
    may_preempt: Callable[[Job], bool],
    enough: Callable[[Sequence[Job]], bool] = lambda _: True,
    claimed: Collection[JobId] = (),
) -> VictimPlan | None:
    """The cheapest plan over `candidates` (fewest new victims), or None. `enough` is an
    extra condition on the victims chosen (e.g. the quota they free suffices). Jobs in
    `claimed` are being stopped for another job and are not counted on. Victims that turn
    out not to be needed are dropped again (newest choice first), so no job is stopped
    for nothing."""
    best: VictimPlan | None = None
    for cand in candidates:
        cid = cand.cluster.id
        keys = keys_of(cid)

        def feasible(
            victims: Sequence[Job], keys: Sequence[NodeKey] = keys, cand: Candidate = cand
        ) -> bool:
            view = {k: free[k] for k in keys}
            for victim in victims:
                for p in victim.placed():
                    key = (cand.cluster.id, p.node_id)
                    if key in view:
                        view[key] = view[key] + p.allocation
            total = sum(members_fit(cand.member, view[k]) for k in keys)
            return total >= gang and enough(victims)

        if feasible([]):
            # it fits without stopping anyone: what holds it back is not capacity (a
            # backfill reservation), and preemption cannot help
            continue
        held = holding.get(cid, ())
        stopping = [j for j in held if j.preempt_requested and j.id not in claimed]
        pool = sorted(
            (j for j in held if not j.preempt_requested and may_preempt(j)), key=_victim_order
        )[:MAX_VICTIM_CANDIDATES]
        view = {k: free[k] for k in keys}
        fit = {k: members_fit(cand.member, view[k]) for k in keys}
        total = sum(fit.values())
        chosen: list[Job] = []
        for victim in [*stopping, *pool]:
            for p in victim.placed():
                key = (cid, p.node_id)
                if key in view:
                    view[key] = view[key] + p.allocation
                    new_fit = members_fit(cand.member, view[key])
                    total += new_fit - fit[key]
                    fit[key] = new_fit
            chosen.append(victim)
            if total >= gang and enough(chosen):
                break
        else:
            continue
        for victim in reversed(list(chosen)):
            trial = [v for v in chosen if v is not victim]
            if feasible(trial):
                chosen = trial
        new = tuple(v for v in chosen if not v.preempt_requested)
        plan = VictimPlan(cid, new, tuple(v for v in chosen if v.preempt_requested))
        if best is None or len(plan.victims) < len(best.victims):
            best = plan
    return best


def victim_ids(plan: VictimPlan) -> tuple[JobId, ...]:
    return tuple(j.id for j in plan.victims)
