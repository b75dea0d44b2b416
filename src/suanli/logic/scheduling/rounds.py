"""Building blocks for time-sharing policies that decide in rounds (Gavel, Tiresias,
Themis): renew a running job's lease where it is, or place a job on a chosen GPU model
with a chosen number of members (elastic jobs).

In rounds (`Snapshot.round_s` set) every unfinished job is in the queue and all capacity
is free; a running job admitted to the placements it holds keeps running without a
restart, so policies try `keep` before placing a job anew.
"""

from __future__ import annotations

from collections.abc import Sequence

from suanli.domain.jobs import Job
from suanli.logic.scheduling.capacity import members_fit
from suanli.logic.scheduling.decisions import Admit
from suanli.logic.scheduling.state import CycleState


def keep(job: Job, state: CycleState, members: int | None = None) -> Admit | None:
    """Renew the lease of a running job on the placements it holds, if they are still
    free in this cycle's state (and it keeps `members` members, when given)."""
    if job.cluster_id is None or not job.placements:
        return None
    if members is not None and sum(p.members for p in job.placements) != members:
        return None
    for p in job.placements:
        free = state.capacity.free.get((job.cluster_id, p.node_id))
        if free is None or members_fit(p.allocation, free) < 1:
            return None
    return Admit(job.id, job.cluster_id, job.placements)


def place(
    job: Job,
    state: CycleState,
    *,
    models: Sequence[str] | None = None,
    members: int | None = None,
) -> Admit | None:
    """Admit `job` with `members` members (default: its gang size) on the first of
    `models` that has room (default: any model, in the placer's filter order), among
    the clusters that pass the job's placement filters; None if none has room."""
    candidates, _ = state.placer.candidates(job)
    want = members if members is not None else job.spec.gang_size
    order = list(candidates)
    if models is not None:
        rank = {m: i for i, m in enumerate(models)}
        order = sorted((c for c in candidates if c.model in rank), key=lambda c: rank[c.model])
    for cand in order:
        placed = state.capacity.place(cand.cluster.id, cand.member, want)
        if placed is not None:
            return Admit(job.id, cand.cluster.id, placed)
    return None
