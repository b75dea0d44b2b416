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

from collections.abc import Callable, Mapping, Sequence
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
) -> VictimPlan | None:
    """The cheapest plan over `candidates` (fewest new victims), or None. `enough` is an
    extra condition on the victims chosen so far (e.g. the quota they free suffices)."""
    best: VictimPlan | None = None
    for cand in candidates:
        cid = cand.cluster.id
        keys = keys_of(cid)
        view = {k: free[k] for k in keys}
        fit = {k: members_fit(cand.member, view[k]) for k in keys}
        total = sum(fit.values())
        stopping = [j for j in holding.get(cid, ()) if j.preempt_requested]
        pool = sorted(
            (j for j in holding.get(cid, ()) if not j.preempt_requested and may_preempt(j)),
            key=_victim_order,
        )[:MAX_VICTIM_CANDIDATES]
        chosen: list[Job] = []
        for victim in [*stopping, *pool]:
            if total >= gang and enough(chosen):
                break
            if best is not None and len(chosen) >= len(best.victims) and victim in pool:
                break  # already worse than the best plan
            for p in victim.placed():
                key = (cid, p.node_id)
                if key not in view:
                    continue
                view[key] = view[key] + p.allocation
                new_fit = members_fit(cand.member, view[key])
                total += new_fit - fit[key]
                fit[key] = new_fit
            if not victim.preempt_requested:
                chosen.append(victim)
        if total >= gang and enough(chosen):
            plan = VictimPlan(cid, tuple(chosen), tuple(stopping))
            if best is None or len(plan.victims) < len(best.victims):
                best = plan
    return best


def victim_ids(plan: VictimPlan) -> tuple[JobId, ...]:
    return tuple(j.id for j in plan.victims)
