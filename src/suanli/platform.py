"""Composition root: builds the store, clock, services and loops of one platform process.

Shells (API server, CLI's `up`, tests) construct a `Platform`; nothing else wires
adapters to services.
"""

from __future__ import annotations

import math
import os
import threading
from dataclasses import dataclass, field, replace

from suanli.adapters.clock import SystemClock
from suanli.adapters.ids import RandomIds
from suanli.adapters.signals import ThreadWakeup
from suanli.adapters.store_sql.store import SqlStore
from suanli.domain.errors import InvalidInput
from suanli.domain.history import HISTORY_SAMPLE_PERIOD_S
from suanli.domain.jobs import LOG_RETENTION_DAYS, MAX_LOG_BYTES
from suanli.logic.scheduling.policies import get_policy
from suanli.logic.scheduling.state import SchedulerSettings
from suanli.logic.scheduling.throughput import load_throughput
from suanli.ports.clock import Clock
from suanli.ports.ids import IdGenerator
from suanli.services.accounts import AccountsService
from suanli.services.agents import AgentService
from suanli.services.audit import AuditService
from suanli.services.auth import Authenticator
from suanli.services.billing import BillingService, MoneyPolicy
from suanli.services.dispatcher import DispatcherLoop
from suanli.services.exchange import ExchangeService
from suanli.services.history import HistoryService
from suanli.services.jobs import JobService
from suanli.services.loops import run_loop
from suanli.services.metrics import MetricsService
from suanli.services.pool import PoolService
from suanli.services.ratelimit import RateLimit, RateLimiter
from suanli.services.scheduler import SchedulerLoop
from suanli.services.tenancy import TenancyService
from suanli.services.usage import UsageService
from suanli.services.vouchers import VoucherService

DATABASE_URL_ENV = "SUANLI_DATABASE_URL"
RATE_LIMIT_ENV = "SUANLI_RATE_LIMIT"


@dataclass(frozen=True, slots=True)
class PlatformConfig:
    database_url: str
    policy: str = "suanli"
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    throughput_path: str | None = None
    """JSON {job_type: {gpu_model: throughput}} of measured profiles for placement."""
    heartbeat_deadline_s: float = 15.0
    scheduler_period_s: float = 2.0
    scheduler_min_gap_s: float = 0.25
    dispatcher_period_s: float = 1.0
    max_log_bytes: int = MAX_LOG_BYTES
    """Cap of the stored log of each attempt's stdout and stderr (16 MiB); output beyond
    it is dropped after a one-line marker."""
    log_retention_days: float = LOG_RETENTION_DAYS
    """Logs of jobs that ended more than this many days ago are deleted (hourly)."""
    rate_limit: RateLimit = field(default_factory=lambda: RateLimit(100.0, 500.0))
    """Requests per token: sustained per second, and bursts (0 per second: no limit)."""
    agent_rate_limit: RateLimit = field(default_factory=lambda: RateLimit(1000.0, 5000.0))
    """Agents poll, heartbeat and upload logs: a higher limit, still bounded."""
    money: MoneyPolicy = field(default_factory=MoneyPolicy)
    """Platform fee, failed-block penalty, hold horizon (docs/exchange.md)."""
    market_period_s: float = 60.0
    """How often posted prices move, lapsed orders close and delivered blocks settle."""
    thin_market_sellers: int = 2
    """A supply product with fewer sellers trading is cleared with trade reduction."""
    auction_period_s: float = 0.0
    """How often the call auction clears on its own; 0: only when the operator runs
    `suanli market clear`."""
    history_period_s: float = HISTORY_SAMPLE_PERIOD_S
    """How often the pool's and the queue's use is sampled for the dashboard's charts."""

    @classmethod
    def with_env(cls, default_url: str, *, policy: str = "suanli") -> PlatformConfig:
        """Config whose database URL comes from SUANLI_DATABASE_URL and per-token rate
        limit from SUANLI_RATE_LIMIT ('RATE/BURST' requests, e.g. '100/500'; '0' turns
        it off), when set."""
        base = cls(database_url=os.environ.get(DATABASE_URL_ENV) or default_url, policy=policy)
        raw = os.environ.get(RATE_LIMIT_ENV)
        return base if raw is None else replace(base, rate_limit=parse_rate_limit(raw))


def parse_rate_limit(text: str) -> RateLimit:
    """'RATE/BURST' or 'RATE' (burst = 5 x rate) in requests per second; '0': no limit."""
    rate_text, _, burst_text = text.strip().partition("/")
    try:
        rate = float(rate_text)
        burst = float(burst_text) if burst_text else 5 * rate
    except ValueError:
        rate = burst = math.nan
    if not (
        (math.isfinite(rate) and math.isfinite(burst) and rate >= 0 and burst >= 1) or rate == 0
    ):
        raise InvalidInput(
            f"{RATE_LIMIT_ENV}={text!r} is not a rate limit.",
            field=RATE_LIMIT_ENV,
            hint="write RATE/BURST in requests per second, e.g. 100/500, or 0 for none.",
        )
    return RateLimit(rate, burst)


class Platform:
    def __init__(
        self, config: PlatformConfig, *, clock: Clock | None = None, ids: IdGenerator | None = None
    ) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self.ids: IdGenerator = ids or RandomIds()
        self.store = SqlStore(config.database_url)
        self.scheduler_wakeup = ThreadWakeup()
        self.dispatcher_wakeup = ThreadWakeup()
        self.market_wakeup = ThreadWakeup()
        self.auction_wakeup = ThreadWakeup()
        self.history_wakeup = ThreadWakeup()
        self.auth = Authenticator(self.store, self.clock)
        self.jobs = JobService(self.store, self.clock, self.ids, self.scheduler_wakeup)
        self.pool = PoolService(self.store, self.clock, self.ids)
        self.agents = AgentService(
            self.store, self.clock, self.scheduler_wakeup, max_log_bytes=config.max_log_bytes
        )
        self.usage = UsageService(self.store)
        self.accounts = AccountsService(self.store, self.clock, self.ids, self.auth)
        self.audit = AuditService(self.store, self.clock)
        self.rate_limiter = RateLimiter(self.clock)
        self.billing = BillingService(self.store, self.clock)
        self.exchange = ExchangeService(
            self.store,
            self.clock,
            self.ids,
            money=config.money,
            thin_market_sellers=config.thin_market_sellers,
        )
        self.vouchers = VoucherService(self.store, self.clock, self.ids)
        self.scheduler = SchedulerLoop(
            self.store,
            self.clock,
            get_policy(config.policy, config.scheduler, rounds=False),
            throughput=load_throughput(config.throughput_path) if config.throughput_path else None,
            money=config.money,
        )
        self.tenancy = TenancyService(self.store, self.clock, on_change=self._settings_changed)
        self.dispatcher = DispatcherLoop(
            self.store,
            self.clock,
            self.scheduler_wakeup,
            heartbeat_deadline_s=config.heartbeat_deadline_s,
            log_retention_days=config.log_retention_days,
        )
        self.history = HistoryService(self.store, self.clock, period_s=config.history_period_s)
        self.metrics = MetricsService(
            self.store, self.clock, self.scheduler.stats, self.dispatcher.stats
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _settings_changed(self) -> None:
        """Quotas or shares changed: the next cycle re-reads them, and runs now."""
        self.scheduler.refresh_settings()
        self.scheduler_wakeup.notify()

    def start_loops(self) -> None:
        self._threads = [
            run_loop(
                "scheduler",
                self.scheduler.run_once,
                period_s=self.config.scheduler_period_s,
                wakeup=self.scheduler_wakeup,
                stop=self._stop,
                min_gap_s=self.config.scheduler_min_gap_s,
            ),
            run_loop(
                "dispatcher",
                self.dispatcher.run_once,
                period_s=self.config.dispatcher_period_s,
                wakeup=self.dispatcher_wakeup,
                stop=self._stop,
            ),
            run_loop(
                "market",
                self.exchange.run_once,
                period_s=self.config.market_period_s,
                wakeup=self.market_wakeup,
                stop=self._stop,
            ),
            run_loop(
                "history",
                self.history.maybe_sample,
                period_s=self.config.history_period_s,
                wakeup=self.history_wakeup,
                stop=self._stop,
            ),
        ]
        if self.config.auction_period_s > 0:
            self._threads.append(
                run_loop(
                    "auction",
                    self.exchange.clear,
                    period_s=self.config.auction_period_s,
                    wakeup=self.auction_wakeup,
                    stop=self._stop,
                )
            )

    def close(self) -> None:
        self._stop.set()
        self.scheduler_wakeup.notify()
        self.dispatcher_wakeup.notify()
        self.market_wakeup.notify()
        self.auction_wakeup.notify()
        self.history_wakeup.notify()
        for thread in self._threads:
            thread.join(timeout=5)
        self.store.close()
