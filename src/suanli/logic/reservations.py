"""Reserved blocks in the scheduler: who holds how many devices where, right now.

A won block of the reserved lane is capacity the scheduler keeps for its buyer during the
block: another tenant's job may use it only if it is preemptible (backfill), so that the
buyer's own jobs can take it back by priority preemption; the buyer's jobs run inside it
(billed by the block, not by the hour) up to the devices it bought, and past that as
on-demand work. Fractions of a device bought round down to what can be held.

The book is built once per scheduling cycle from the active trades, the jobs holding
resources and the snapshot's free capacity, and is updated as the cycle admits jobs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

from suanli.domain.ids import ClusterId, TenantId
from suanli.domain.market import CPU, GPU_PREFIX, Lane, Trade
from suanli.domain.resources import Resources

Key = tuple[ClusterId, str]
"""(cluster, resource): ``gpu:MODEL`` or ``cpu``."""


def demand(allocation: Resources) -> dict[str, float]:
    """What an allocation takes of each reservable resource (devices per model; cores
    only for a CPU-only allocation, since GPU jobs' cores come with their devices)."""
    if allocation.gpus:
        return {GPU_PREFIX + m: float(n) for m, n in allocation.gpus.items() if n}
    return {CPU: float(allocation.cpus)} if allocation.cpus else {}


@dataclass(slots=True)
class ReservationBook:
    reserved: dict[Key, dict[TenantId, float]] = field(default_factory=dict)
    """Devices (or cores) held per tenant, summed over its active blocks."""
    used: dict[Key, dict[TenantId, float]] = field(default_factory=dict)
    """What each holder's running jobs take there."""
    free: dict[Key, float] = field(default_factory=dict)
    trades: dict[tuple[Key, TenantId], Trade] = field(default_factory=dict)
    """One active trade per holder and key (the one ending last): what its jobs cite."""

    @classmethod
    def build(
        cls,
        trades: Iterable[Trade],
        resold: Mapping[str, float],
        holding: Iterable[tuple[TenantId, ClusterId, Resources]],
        free: Mapping[Key, float],
        at: datetime,
    ) -> ReservationBook:
        """`trades`: blocks of the reserved lane; `resold`: device-hours of each trade
        sold on by its buyer; `holding`: (tenant, cluster, allocation) of jobs holding
        resources; `free`: unallocated devices/cores per key."""
        book = cls(free=dict(free))
        for t in trades:
            if t.lane is not Lane.RESERVED or not t.start <= at < t.end or t.failed_at:
                continue
            from_model = GPU_PREFIX + t.model if t.model else CPU
            key = (t.cluster_id, from_model)
            devices = float(t.device_hours) - resold.get(t.id, 0.0)
            devices /= t.hours
            if devices <= 0:
                continue
            held = book.reserved.setdefault(key, {})
            held[t.tenant_id] = held.get(t.tenant_id, 0.0) + devices
            best = book.trades.get((key, t.tenant_id))
            if best is None or t.end > best.end:
                book.trades[(key, t.tenant_id)] = t
        for held in book.reserved.values():
            for tenant in held:
                held[tenant] = math.floor(held[tenant] + 1e-9)
        for tenant, cluster, allocation in holding:
            for resource, amount in demand(allocation).items():
                key = (cluster, resource)
                if key in book.reserved and tenant in book.reserved[key]:
                    used = book.used.setdefault(key, {})
                    used[tenant] = used.get(tenant, 0.0) + amount
        return book

    def _unused_of_others(self, key: Key, tenant: TenantId) -> float:
        held = self.reserved.get(key, {})
        used = self.used.get(key, {})
        return sum(max(0.0, n - used.get(t, 0.0)) for t, n in held.items() if t != tenant)

    def check(
        self, tenant: TenantId, cluster: ClusterId, allocation: Resources, preemptible: bool
    ) -> tuple[str | None, Trade | None]:
        """(why the job may not take this placement, or None; the block it runs in, if
        its demand fits inside its tenant's unused reserved devices there)."""
        inside: Trade | None = None
        for resource, amount in demand(allocation).items():
            key = (cluster, resource)
            if key not in self.reserved:
                continue
            spare = self.free.get(key, 0.0) - amount
            if not preemptible and spare < self._unused_of_others(key, tenant) - 1e-9:
                until = min(
                    t.end for (k, holder), t in self.trades.items() if k == key and holder != tenant
                )
                return (
                    f"Capacity of {resource} on {cluster} is reserved for other tenants' "
                    f"blocks until {until:%Y-%m-%d %H:%M} UTC; only preemptible jobs may "
                    "backfill it (submit with --priority preemptible) or wait.",
                    None,
                )
            held = self.reserved[key].get(tenant, 0.0)
            if held and self.used.get(key, {}).get(tenant, 0.0) + amount <= held + 1e-9:
                inside = self.trades.get((key, tenant))
        return None, inside

    def admit(self, tenant: TenantId, cluster: ClusterId, allocation: Resources) -> None:
        """Record an admitted job: it takes free capacity and, for a holder, its block."""
        for resource, amount in demand(allocation).items():
            key = (cluster, resource)
            if key in self.free:
                self.free[key] -= amount
            if tenant in self.reserved.get(key, {}):
                used = self.used.setdefault(key, {})
                used[tenant] = used.get(tenant, 0.0) + amount
