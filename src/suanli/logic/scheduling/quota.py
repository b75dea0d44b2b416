"""The quota tally of one cycle: who uses how much of each flavor, and who may take more.

Rules (domain/quota.py has the vocabulary): a tenant with quota rows may hold, per
flavor, its nominal amount; in a cohort it may also borrow, up to its borrowing limit,
what the other members lend (their lending limit, or all their nominal) and do not use.
Each member's use beyond its unlendable part draws on the cohort's shared pool (the sum
of what members lend), and the pool is never overdrawn. A tenant without quota rows is
held only by fair share.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from suanli.domain.ids import TenantId
from suanli.domain.quota import CPU_FLAVOR, Quota, TenantShare, flavors_of
from suanli.logic.scheduling.snapshot import Snapshot


@dataclass(frozen=True, slots=True)
class QuotaCheck:
    ok: bool
    borrowing: bool = False
    reason: str = ""
    reclaimable: bool = False
    """Refused only because cohort members borrowed this tenant's lent capacity: the
    tenant is within its nominal quota and may reclaim it by preemption."""


OK = QuotaCheck(True)


def _amount(flavor: str, value: int) -> str:
    if flavor == CPU_FLAVOR:
        return f"{value / 1000:g} CPUs"
    return f"{value} x {flavor.removeprefix('gpu:')}"


class QuotaTally:
    """Usage per (tenant, flavor) against the quotas; `check` then `take` per admission."""

    def __init__(
        self,
        quotas: Iterable[Quota],
        shares: Mapping[TenantId, TenantShare],
        usage: Mapping[tuple[TenantId, str], int],
    ) -> None:
        self._quota: dict[tuple[TenantId, str], Quota] = {}
        self._limited: set[TenantId] = set()
        for q in quotas:
            self._quota[(q.tenant_id, q.flavor)] = q
            self._limited.add(q.tenant_id)
        self._cohort: dict[TenantId, str] = {
            t: s.cohort for t, s in shares.items() if s.cohort and t in self._limited
        }
        self._members: dict[str, list[TenantId]] = {}
        for tenant, cohort in sorted(self._cohort.items()):
            self._members.setdefault(cohort, []).append(tenant)
        self.usage: dict[tuple[TenantId, str], int] = dict(usage)
        self.reclaiming: dict[tuple[str, str], set[TenantId]] = {}
        """Per (cohort, flavor): members with work waiting within their own quota (see
        mark_reclaims); the others may not borrow it meanwhile."""
        # the cohort pool's draw per (cohort, flavor), kept incrementally
        self._draw: dict[tuple[str, str], int] = {}
        for (tenant, flavor), used in self.usage.items():
            member_of = self._cohort.get(tenant)
            if member_of is not None:
                key = (member_of, flavor)
                self._draw[key] = self._draw.get(key, 0) + self._shared_use(tenant, flavor, used)

    def limited(self, tenant: TenantId) -> bool:
        return tenant in self._limited

    def quota(self, tenant: TenantId, flavor: str) -> Quota:
        return self._quota.get((tenant, flavor)) or Quota(tenant, flavor, 0, None, 0)

    def cohort_of(self, tenant: TenantId) -> str | None:
        return self._cohort.get(tenant)

    def members(self, cohort: str) -> list[TenantId]:
        return self._members.get(cohort, [])

    def _shared_use(self, tenant: TenantId, flavor: str, used: int) -> int:
        q = self.quota(tenant, flavor)
        return max(0, used - (q.nominal - q.lendable))

    def pool(self, cohort: str, flavor: str) -> int:
        """What the cohort's members lend, in total, of this flavor."""
        return sum(self.quota(t, flavor).lendable for t in self.members(cohort))

    def check(self, tenant: TenantId, flavors: Mapping[str, int]) -> QuotaCheck:
        """May `tenant` take `flavors` more now? Never changes the tally."""
        if tenant not in self._limited:
            return OK
        borrowing = False
        for flavor, amount in flavors.items():
            q = self.quota(tenant, flavor)
            used = self.usage.get((tenant, flavor), 0)
            after = used + amount
            cohort = self._cohort.get(tenant)
            if cohort is None:
                if after > q.nominal:
                    if (tenant, flavor) not in self._quota:
                        return QuotaCheck(False, reason=self._no_quota(tenant, flavor))
                    return QuotaCheck(
                        False,
                        reason=f"Over quota: it would hold {_amount(flavor, after)} of a "
                        f"quota of {_amount(flavor, q.nominal)} (in use: "
                        f"{_amount(flavor, used)}). It starts when the tenant's own jobs "
                        "release capacity, or ask the operator for more quota.",
                    )
                continue
            waiting = self.reclaiming.get((cohort, flavor))
            if after > q.nominal and waiting and waiting - {tenant}:
                return QuotaCheck(
                    False,
                    reason=f"Over quota: members of cohort {cohort!r} have work waiting within "
                    f"their own {flavor.removeprefix('gpu:')} quota, which comes before "
                    f"borrowing (quota {_amount(flavor, q.nominal)}, in use "
                    f"{_amount(flavor, used)}).",
                )
            borrowed = after - q.nominal
            if q.borrowing_limit is not None and borrowed > q.borrowing_limit:
                return QuotaCheck(
                    False,
                    reason=f"Over quota: it would borrow {_amount(flavor, borrowed)} from "
                    f"cohort {cohort!r}, over the borrowing limit of "
                    f"{_amount(flavor, q.borrowing_limit)} (quota "
                    f"{_amount(flavor, q.nominal)}, in use {_amount(flavor, used)}).",
                )
            draw = self._draw.get((cohort, flavor), 0)
            extra = self._shared_use(tenant, flavor, after) - self._shared_use(tenant, flavor, used)
            pool = self.pool(cohort, flavor)
            if draw + extra > pool:
                within = after <= q.nominal
                return QuotaCheck(
                    False,
                    reason=(
                        f"Quota: the tenant is within its {_amount(flavor, q.nominal)} but "
                        f"other members of cohort {cohort!r} have borrowed it; it is "
                        "reclaimed by preempting their borrowed jobs."
                        if within
                        else f"Over quota: cohort {cohort!r} has no "
                        f"{flavor.removeprefix('gpu:')} left to lend "
                        f"({_amount(flavor, pool)} lent in all, all in use). It starts "
                        "when cohort members release capacity."
                    ),
                    reclaimable=within,
                )
            borrowing = borrowing or borrowed > 0
        return QuotaCheck(True, borrowing=borrowing)

    def _no_quota(self, tenant: TenantId, flavor: str) -> str:
        rows = sorted(f for t, f in self._quota if t == tenant)
        return (
            f"Over quota: the tenant has quota rows ({', '.join(rows)}) but none for "
            f"{flavor}, which therefore counts as 0. Ask the operator for a {flavor} quota "
            "(`suanli quota set`)."
        )

    def mark_reclaims(self, pending: Iterable[tuple[TenantId, Mapping[str, int]]]) -> None:
        """Flavors that a cohort member has pending work for within its own nominal
        quota: while it does, no one else in the cohort may borrow that flavor. Its own
        quota comes first (as Kueue tries admissions that do not borrow first); else the
        capacity it reclaims would be borrowed again at once, and the reclaim would
        preempt again, cycle after cycle."""
        for tenant, flavors in pending:
            cohort = self._cohort.get(tenant)
            if cohort is None:
                continue
            if all(
                self.usage.get((tenant, f), 0) + n <= self.quota(tenant, f).nominal
                for f, n in flavors.items()
            ):
                for flavor in flavors:
                    self.reclaiming.setdefault((cohort, flavor), set()).add(tenant)

    def take(self, tenant: TenantId, flavors: Mapping[str, int]) -> None:
        self._apply(tenant, flavors, 1)

    def give(self, tenant: TenantId, flavors: Mapping[str, int]) -> None:
        self._apply(tenant, flavors, -1)

    def _apply(self, tenant: TenantId, flavors: Mapping[str, int], sign: int) -> None:
        cohort = self._cohort.get(tenant)
        for flavor, amount in flavors.items():
            used = self.usage.get((tenant, flavor), 0)
            after = used + sign * amount
            self.usage[(tenant, flavor)] = after
            if cohort is not None:
                key = (cohort, flavor)
                self._draw[key] = (
                    self._draw.get(key, 0)
                    + self._shared_use(tenant, flavor, after)
                    - self._shared_use(tenant, flavor, used)
                )

    def borrowed(self, tenant: TenantId, flavor: str) -> int:
        """How much more than its nominal quota the tenant holds (0 if none)."""
        if tenant not in self._limited:
            return 0
        return max(0, self.usage.get((tenant, flavor), 0) - self.quota(tenant, flavor).nominal)


def quota_usage(snapshot: Snapshot) -> dict[tuple[TenantId, str], int]:
    """What each quota-limited tenant holds per flavor, on any cluster (schedulable or
    not: quota counts what a tenant holds anywhere)."""
    limited = {q.tenant_id for q in snapshot.quotas}
    usage: dict[tuple[TenantId, str], int] = {}
    if not limited:
        return usage  # most pools: no walk over the holders
    for job in snapshot.running:
        if job.tenant_id in limited:
            for p in job.placed():
                for flavor, amount in flavors_of(p.allocation).items():
                    key = (job.tenant_id, flavor)
                    usage[key] = usage.get(key, 0) + amount
    return usage
