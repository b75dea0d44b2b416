"""`GET /metrics`: the platform in Prometheus text format (operators, auditors; scrape with
a bearer token). Families and labels: docs/metrics.md."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

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
        """Every family, grouped by what it describes."""
        yield from self._jobs()
        yield from self._scheduler()
        yield from self._pool()
        yield from self._market()
        yield from self._money()

    def _jobs(self) -> Iterator[Metric]:
        s = self._snap
        totals = dict.fromkeys(ALL_STATUSES, 0)
        for (_, status), n in s.jobs.items():
            totals[status] += n
        yield _gauge("suanli_jobs", "Jobs by status.", ["status"], totals)
        yield _gauge(
            "suanli_tenant_jobs", "Jobs by tenant and status.", ["tenant", "status"], s.jobs
        )
        yield _gauge("suanli_queue_length", "Pending jobs by why they wait.", ["reason"], s.queue)

    def _scheduler(self) -> Iterator[Metric]:
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

    def _pool(self) -> Iterator[Metric]:
        s = self._snap
        yield _gauge(
            "suanli_gpus",
            "Devices by region, model and state.",
            ["region", "model", "state"],
            s.gpus,
        )
        yield _gauge("suanli_cpus", "CPU cores by region and state.", ["region", "state"], s.cpus)
        yield _gauge(
            "suanli_clusters", "Clusters by region and state.", ["region", "state"], s.clusters
        )
        yield _gauge(
            "suanli_agent_heartbeat_age_seconds",
            "Seconds since each cluster's agent was heard.",
            ["cluster"],
            s.heartbeat_age,
        )
        sch = CounterMetricFamily(
            "suanli_usage_standard_compute_hours",
            "Metered standard compute-hours (SCH) by class.",
            labels=["class"],
        )
        for klass, units in sorted(s.standard_units.items()):
            sch.add_metric([klass], units)
        yield sch

    def _market(self) -> Iterator[Metric]:
        s = self._snap
        yield CounterMetricFamily(
            "suanli_market_trades", "Trades cleared by the exchange.", value=s.trades
        )
        yield CounterMetricFamily(
            "suanli_market_traded_cny", "CNY traded in blocks.", value=s.traded_cny
        )
        yield _gauge(
            "suanli_market_clearing_price_cny",
            "The last clearing's price per device-hour.",
            ["product"],
            s.clearing_prices,
        )
        yield _gauge(
            "suanli_market_posted_price_cny",
            "Posted price per device-hour (core-hour for cpu).",
            ["cluster", "resource", "lane"],
            s.posted_prices,
        )

    def _money(self) -> Iterator[Metric]:
        s = self._snap
        ledger = _gauge("suanli_ledger_cny", "Platform ledger balances.", ["account"], s.ledger)
        ledger.add_metric(["escrow"], s.escrow_cny)
        yield ledger
        yield CounterMetricFamily(
            "suanli_ledger_postings", "Ledger postings written.", value=s.postings
        )


def _gauge(
    name: str, text: str, labels: list[str], values: Mapping[Any, float]
) -> GaugeMetricFamily:
    """A gauge with one sample per key of `values` (a label value, or a tuple of them in
    the order of `labels`), sorted by key."""
    family = GaugeMetricFamily(name, text, labels=labels)
    for key, value in sorted(values.items()):
        family.add_metric(list(key) if isinstance(key, tuple) else [key], value)
    return family


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
