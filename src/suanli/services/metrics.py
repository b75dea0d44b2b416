"""What `/metrics` reports: one consistent read of jobs, queue, pool, usage, market and
ledger, plus the loops' in-memory counters (docs/metrics.md lists every family)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from suanli.domain.jobs import JobStatus
from suanli.domain.ledger import CITY_SUBSIDY, PLATFORM_REVENUE, TRADES_HELD
from suanli.domain.permissions import Permission, require
from suanli.domain.tenancy import Principal
from suanli.logic.queue_reasons import reason_kind
from suanli.ports.clock import Clock
from suanli.ports.store import Store
from suanli.services.loop_stats import DispatcherStats, SchedulerStats
from suanli.services.pool import cluster_occupancy


@dataclass(slots=True)
class Snapshot:
    jobs: dict[tuple[str, str], int] = field(default_factory=dict)
    """(tenant, status) -> jobs."""
    queue: dict[str, int] = field(default_factory=dict)
    """Pending jobs by the kind of their reason."""
    gpus: dict[tuple[str, str, str], float] = field(default_factory=dict)
    """(region, model, state: total|used|free) -> devices."""
    cpus: dict[tuple[str, str], float] = field(default_factory=dict)
    """(region, state) -> cores."""
    clusters: dict[tuple[str, str], int] = field(default_factory=dict)
    """(region, state) -> clusters."""
    heartbeat_age: dict[str, float] = field(default_factory=dict)
    """cluster -> seconds since its agent's last heartbeat."""
    standard_units: dict[str, float] = field(default_factory=dict)
    """workload class -> SCH metered so far."""
    trades: int = 0
    traded_cny: float = 0.0
    clearing_prices: dict[str, float] = field(default_factory=dict)
    """product -> the last clearing's price (CNY per device-hour)."""
    posted_prices: dict[tuple[str, str, str], float] = field(default_factory=dict)
    """(cluster, resource, lane) -> CNY per device-hour."""
    ledger: dict[str, float] = field(default_factory=dict)
    """Platform accounts' balances (revenue, blocks held, city subsidy paid)."""
    escrow_cny: float = 0.0
    postings: int = 0


class MetricsService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        scheduler: SchedulerStats,
        dispatcher: DispatcherStats,
    ) -> None:
        self._store = store
        self._clock = clock
        self.scheduler = scheduler
        self.dispatcher = dispatcher

    def snapshot(self, principal: Principal) -> Snapshot:
        """The platform's numbers now (operators and auditors)."""
        require(principal, Permission.METRICS_READ)
        now = self._clock.now()
        out = Snapshot()
        with self._store.unit_of_work(readonly=True) as uow:
            for tenant, status, n in uow.jobs.counts():
                out.jobs[(tenant, status.value)] = n
            for reason, n in uow.jobs.pending_reasons():
                kind = reason_kind(reason)
                out.queue[kind] = out.queue.get(kind, 0) + n
            for usage in cluster_occupancy(uow):
                c = usage.cluster
                key = (c.region_id, c.state.value)
                out.clusters[key] = out.clusters.get(key, 0) + 1
                out.heartbeat_age[c.id] = _age(now, c.last_heartbeat_at or c.registered_at)
                for node in usage.nodes:
                    for model, total in node.node.capacity.gpus.items():
                        used = node.used.gpus.get(model, 0)
                        for state, devices in (
                            ("total", total),
                            ("used", used),
                            ("free", total - used),
                        ):
                            k = (c.region_id, model, state)
                            out.gpus[k] = out.gpus.get(k, 0.0) + devices
                    for state, cores in (
                        ("total", node.node.capacity.cpus),
                        ("used", node.used.cpus),
                        ("free", node.node.capacity.cpus - node.used.cpus),
                    ):
                        out.cpus[(c.region_id, state)] = (
                            out.cpus.get((c.region_id, state), 0.0) + cores
                        )
            for row in uow.usage.totals(by=("class",), tenant_id=None, since=None):
                out.standard_units[row.workload_class] = (
                    out.standard_units.get(row.workload_class, 0.0) + row.standard_units
                )
            trades = uow.market.list_trades(limit=1_000_000)
            out.trades = len(trades)
            out.traded_cny = float(sum(t.amount for t in trades))
            last = uow.market.list_clearings(1)
            if last:
                out.clearing_prices = {k: float(v) for k, v in last[0].prices.items()}
            for p in uow.market.list_posted_prices():
                out.posted_prices[(p.cluster_id, p.resource, p.lane.value)] = float(p.price)
            balances = uow.ledger.balances()
            _, _, out.postings = uow.ledger.check()
        for name, account in (
            ("revenue", PLATFORM_REVENUE),
            ("blocks_held", TRADES_HELD),
            ("city_subsidy_paid", CITY_SUBSIDY),
        ):
            balance = float(balances.get(account, 0))
            out.ledger[name] = -balance if account == CITY_SUBSIDY else balance
        out.escrow_cny = float(sum(v for a, v in balances.items() if a.endswith(":escrow")))
        return out


def _age(now: datetime, then: datetime) -> float:
    return max(0.0, (now - then).total_seconds())


ALL_STATUSES = tuple(s.value for s in JobStatus)
