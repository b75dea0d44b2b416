"""Deciding only what is new, when nothing else can have changed.

A full cycle looks at the whole queue. For an `append_only` policy (FIFO) the decisions
of the jobs already queued cannot change while free capacity is the same, none of them
left the queue, quotas and quota-limited tenants' holdings are the same, and the previous
cycle admitted nothing: then only the newly queued jobs
(all ordered after the old ones) need deciding, behind the same blocker if there was one.
This keeps a busy queue's cycle cost proportional to the new work, not to the queue.
Tested against the full cycle (tests/unit/test_incremental_cycle.py).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from suanli.domain.ids import JobId
from suanli.logic.scheduling.cycle import CycleResult, run_cycle
from suanli.logic.scheduling.policy import Policy
from suanli.logic.scheduling.quota import quota_usage
from suanli.logic.scheduling.snapshot import Snapshot

Fingerprint = tuple[tuple[str, str, int, int, tuple[tuple[str, int], ...]], ...]
QuotaFingerprint = tuple[object, ...]


@dataclass(frozen=True, slots=True)
class CycleMemo:
    """What the previous cycle saw and decided, as far as the next one needs it."""

    capacity: Fingerprint
    quota: QuotaFingerprint
    job_ids: frozenset[JobId]
    max_seq: int
    admitted: int
    blocker: JobId | None


def capacity_fingerprint(snapshot: Snapshot) -> Fingerprint:
    return tuple(
        (c.id, n.node_id, n.free.cpu_milli, n.free.memory_mb, tuple(n.free.gpus.items()))
        for c, n in snapshot.nodes()
    )


def quota_fingerprint(snapshot: Snapshot) -> QuotaFingerprint:
    """The quotas and what quota-limited tenants hold: these decide quota refusals, and
    they can change without free capacity changing (a job ends on a cluster that takes
    no work, the operator changes a quota)."""
    limited = {q.tenant_id for q in snapshot.quotas}
    if not limited:
        return ()
    held = quota_usage(snapshot)
    shares = tuple(sorted((t, s.cohort) for t, s in snapshot.shares.items() if t in limited))
    quotas = sorted(
        (q.tenant_id, q.flavor, q.nominal, q.borrowing_limit, q.lending_limit)
        for q in snapshot.quotas
    )
    return (tuple(map(str, quotas)), shares, tuple(sorted(held.items())))


def decide(
    snapshot: Snapshot, policy: Policy, memo: CycleMemo | None
) -> tuple[CycleResult, CycleMemo, bool]:
    """Run the cycle, incrementally when that is known to give the same decisions.
    Returns the result, the memo for the next cycle, and whether it was incremental
    (an incremental result holds decisions for the new jobs only)."""
    capacity = capacity_fingerprint(snapshot)
    quota = quota_fingerprint(snapshot)
    ids = frozenset(j.id for j in snapshot.queue)
    by_id = {j.id: j for j in snapshot.queue}
    incremental = (
        memo is not None
        and policy.append_only
        and memo.admitted == 0
        and memo.capacity == capacity
        and memo.quota == quota
        and memo.job_ids <= ids
        and all(by_id[i].seq > memo.max_seq for i in ids - memo.job_ids)
    )
    if memo is not None and incremental:
        new = tuple(j for j in snapshot.queue if j.id not in memo.job_ids)
        blocker = by_id.get(memo.blocker) if memo.blocker else None
        sub = replace(snapshot, queue=new)
        result = run_cycle(sub, policy, blocked_by=blocker)
        first_block = memo.blocker
    else:
        result = run_cycle(snapshot, policy)
        first_block = None
    if first_block is None:
        first_block = next((w.job_id for w in result.waiting if w.blocking), None)
    next_memo = CycleMemo(
        capacity=capacity,
        quota=quota,
        job_ids=ids,
        max_seq=max((j.seq for j in snapshot.queue), default=0),
        admitted=len(result.admitted),
        blocker=first_block,
    )
    return result, next_memo, incremental
