"""`GET /metrics`: the platform in Prometheus text format (operators, auditors; scrape with
a bearer token). Families and labels: docs/metrics.md."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from suanli.api.access import Scope, access
from suanli.api.security import Caller, Plat, current_principal
from suanli.domain.permissions import Permission
from suanli.services.loop_stats import DispatcherStats, SchedulerStats
from suanli.services.metrics import ALL_STATUSES, Snapshot

router = APIRouter(tags=["metrics"], dependencies=[Depends(current_principal)])


class _Families(Collector):
    """One scrape's families, from a snapshot and the loops' counters."""

    def __init__(self, snap: Snapshot, sched: SchedulerStats, disp: DispatcherStats) -> None:
        self._snap = snap
        self._sched = sched
        self._disp = disp

    def collect(self) -> Iterator[Metric]:
        s = self._snap
        by_status = GaugeMetricFamily("suanli_jobs", "Jobs by status.", labels=["status"])
        totals = dict.fromkeys(ALL_STATUSES, 0)
        for (_, status), n in s.jobs.items():
            totals[status] += n
        for status, n in sorted(totals.items()):
            by_status.add_metric([status], n)
        yield by_status
        by_tenant = GaugeMetricFamily(
            "suanli_tenant_jobs", "Jobs by tenant and status.", labels=["tenant", "status"]
        )
        for (tenant, status), n in sorted(s.jobs.items()):
            by_tenant.add_metric([tenant, status], n)
        yield by_tenant
        queue = GaugeMetricFamily(
            "suanli_queue_length", "Pending jobs by why they wait.", labels=["reason"]
        )
        for reason, n in sorted(s.queue.items()):
            queue.add_metric([reason], n)
        yield queue
        yield CounterMetricFamily(
            "suanli_placements", "Jobs placed by the scheduler.", value=self._sched.placements
        )
        yield CounterMetricFamily(
            "suanli_preemptions", "Jobs the scheduler asked to stop.", value=self._sched.preemptions
        )
        cycles = self._sched.cycles
        yield HistogramMetricFamily(
            "suanli_scheduler_cycle_seconds",
            "Time to decide and apply one scheduling cycle.",
            buckets=[(_le(b), n) for b, n in cycles.cumulative()],
            sum_value=cycles.total,
        )
        dispatch = CounterMetricFamily(
            "suanli_dispatch_failures",
            "Attempts lost with their cluster, or taken back before their agent claimed them.",
            labels=["kind"],
        )
        dispatch.add_metric(["lost"], self._disp.lost)
        dispatch.add_metric(["returned"], self._disp.returned)
        yield dispatch
        gpus = GaugeMetricFamily(
            "suanli_gpus",
            "Devices by region, model and state.",
            labels=["region", "model", "state"],
        )
        for (region, model, state), devices in sorted(s.gpus.items()):
            gpus.add_metric([region, model, state], devices)
        yield gpus
        cpus = GaugeMetricFamily(
            "suanli_cpus", "CPU cores by region and state.", labels=["region", "state"]
        )
        for (region, state), cores in sorted(s.cpus.items()):
            cpus.add_metric([region, state], cores)
        yield cpus
        clusters = GaugeMetricFamily(
            "suanli_clusters", "Clusters by region and state.", labels=["region", "state"]
        )
        for (region, state), n in sorted(s.clusters.items()):
            clusters.add_metric([region, state], n)
        yield clusters
        age = GaugeMetricFamily(
            "suanli_agent_heartbeat_age_seconds",
            "Seconds since each cluster's agent was heard.",
            labels=["cluster"],
        )
        for cluster, seconds in sorted(s.heartbeat_age.items()):
            age.add_metric([cluster], seconds)
        yield age
        sch = CounterMetricFamily(
            "suanli_usage_standard_compute_hours",
            "Metered standard compute-hours (SCH) by class.",
            labels=["class"],
        )
        for klass, units in sorted(s.standard_units.items()):
            sch.add_metric([klass], units)
        yield sch
        yield CounterMetricFamily(
            "suanli_market_trades", "Trades cleared by the exchange.", value=s.trades
        )
        yield CounterMetricFamily(
            "suanli_market_traded_cny", "CNY traded in blocks.", value=s.traded_cny
        )
        clearing = GaugeMetricFamily(
            "suanli_market_clearing_price_cny",
            "The last clearing's price per device-hour.",
            labels=["product"],
        )
        for product, price in sorted(s.clearing_prices.items()):
            clearing.add_metric([product], price)
        yield clearing
        posted = GaugeMetricFamily(
            "suanli_market_posted_price_cny",
            "Posted price per device-hour (core-hour for cpu).",
            labels=["cluster", "resource", "lane"],
        )
        for (cluster, resource, lane), price in sorted(s.posted_prices.items()):
            posted.add_metric([cluster, resource, lane], price)
        yield posted
        ledger = GaugeMetricFamily(
            "suanli_ledger_cny", "Platform ledger balances.", labels=["account"]
        )
        for account, cny in sorted(s.ledger.items()):
            ledger.add_metric([account], cny)
        ledger.add_metric(["escrow"], s.escrow_cny)
        yield ledger
        yield CounterMetricFamily(
            "suanli_ledger_postings", "Ledger postings written.", value=s.postings
        )


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(bound)


@router.get("/metrics", response_class=Response)
@access(Permission.METRICS_READ, Scope.PLATFORM)
def metrics(caller: Caller, plat: Plat) -> Response:
    """Prometheus text exposition of the platform's counters and gauges."""
    snap = plat.metrics.snapshot(caller)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(snap, plat.scheduler.stats, plat.dispatcher.stats))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
