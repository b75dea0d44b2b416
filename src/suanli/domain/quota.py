"""Quotas, cohorts and fair-share weights: who may use how much of the pool.

Capacity is counted per *flavor*: ``gpu:<model>`` in devices, ``cpu`` in milli-cores (a
job's CPUs count only when it asks for no GPU, so a GPU job's host cores do not use CPU
quota). A tenant with no quota rows is limited only by fair share. A tenant with quota
rows may use, per flavor, its `nominal` amount (0 for flavors it has no row for) and,
when it belongs to a cohort, borrow the cohort's unused lendable capacity up to its
`borrowing_limit` (None: no limit). Each member lends at most `lending_limit` of its
unused nominal (None: all of it). When a member needs its nominal back, borrowed
capacity is reclaimed by preemption (after Kueue's ClusterQueue/Cohort).
"""

from __future__ import annotations

from dataclasses import dataclass

from suanli.domain.errors import InvalidInput
from suanli.domain.ids import TenantId
from suanli.domain.resources import Resources

CPU_FLAVOR = "cpu"
GPU_FLAVOR_PREFIX = "gpu:"
MAX_WEIGHT = 1_000_000.0


def gpu_flavor(model: str) -> str:
    return f"{GPU_FLAVOR_PREFIX}{model}"


def flavors_of(allocation: Resources) -> dict[str, int]:
    """What a concrete allocation (GPU models bound) counts against, per flavor."""
    if allocation.gpus:
        return {gpu_flavor(m): n for m, n in allocation.gpus.items()}
    return {CPU_FLAVOR: allocation.cpu_milli}


def member_flavors(member: Resources, members: int) -> dict[str, int]:
    """`flavors_of` for `members` copies of a (model-bound) member request."""
    if member.gpus:
        return {gpu_flavor(m): n * members for m, n in member.gpus.items()}
    return {CPU_FLAVOR: member.cpu_milli * members}


@dataclass(frozen=True, slots=True)
class Quota:
    """One tenant's quota for one flavor (amounts in the flavor's unit)."""

    tenant_id: TenantId
    flavor: str
    nominal: int
    borrowing_limit: int | None = None
    lending_limit: int | None = None

    def __post_init__(self) -> None:
        if not (self.flavor == CPU_FLAVOR or self.flavor.startswith(GPU_FLAVOR_PREFIX)):
            raise InvalidInput(
                f"Unknown quota flavor {self.flavor!r}.",
                field="flavor",
                hint="use 'cpu' (milli-cores) or 'gpu:<model>' (devices), e.g. gpu:H100.",
            )
        for label, value in (
            ("nominal", self.nominal),
            ("borrowing_limit", self.borrowing_limit),
            ("lending_limit", self.lending_limit),
        ):
            if value is not None and value < 0:
                raise InvalidInput(f"{label} must not be negative.", field=label)
        if self.lending_limit is not None and self.lending_limit > self.nominal:
            raise InvalidInput(
                "lending_limit cannot exceed nominal.",
                field="lending_limit",
                hint="a tenant can only lend capacity it has.",
            )

    @property
    def lendable(self) -> int:
        return self.nominal if self.lending_limit is None else self.lending_limit


@dataclass(frozen=True, slots=True)
class TenantShare:
    """A tenant's fair-share weight and cohort (the group that lends and borrows)."""

    tenant_id: TenantId
    weight: float = 1.0
    cohort: str | None = None

    def __post_init__(self) -> None:
        if not (0 < self.weight <= MAX_WEIGHT):
            raise InvalidInput(
                f"weight must be positive and at most {MAX_WEIGHT:g}.",
                field="weight",
                hint="weights are relative: a tenant with weight 2 is entitled to twice "
                "the share of one with weight 1.",
            )
