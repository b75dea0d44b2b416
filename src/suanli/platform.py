"""Composition root: builds the store, clock, services and loops of one platform process.

Shells (API server, CLI's `up`, tests) construct a `Platform`; nothing else wires
adapters to services.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from suanli.adapters.clock import SystemClock
from suanli.adapters.ids import RandomIds
from suanli.adapters.signals import ThreadWakeup
from suanli.adapters.store_sql.store import SqlStore
from suanli.logic.scheduling.policy import get_policy
from suanli.logic.scheduling.state import SchedulerSettings
from suanli.logic.scheduling.throughput import load_throughput
from suanli.ports.clock import Clock
from suanli.ports.ids import IdGenerator
from suanli.services.agents import AgentService
from suanli.services.auth import Authenticator
from suanli.services.dispatcher import DispatcherLoop
from suanli.services.jobs import JobService
from suanli.services.loops import run_loop
from suanli.services.pool import PoolService
from suanli.services.scheduler import SchedulerLoop
from suanli.services.tenancy import TenancyService
from suanli.services.usage import UsageService

DATABASE_URL_ENV = "SUANLI_DATABASE_URL"


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

    @classmethod
    def with_env(cls, default_url: str, *, policy: str = "suanli") -> PlatformConfig:
        """Config whose database URL comes from SUANLI_DATABASE_URL when set."""
        return cls(database_url=os.environ.get(DATABASE_URL_ENV) or default_url, policy=policy)


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
        self.auth = Authenticator(self.store, self.clock)
        self.jobs = JobService(self.store, self.clock, self.ids, self.scheduler_wakeup)
        self.pool = PoolService(self.store, self.clock, self.ids)
        self.agents = AgentService(self.store, self.clock, self.scheduler_wakeup)
        self.usage = UsageService(self.store)
        self.tenancy = TenancyService(self.store)
        self.scheduler = SchedulerLoop(
            self.store,
            self.clock,
            get_policy(config.policy, config.scheduler),
            throughput=load_throughput(config.throughput_path) if config.throughput_path else None,
        )
        self.dispatcher = DispatcherLoop(
            self.store,
            self.clock,
            self.scheduler_wakeup,
            heartbeat_deadline_s=config.heartbeat_deadline_s,
        )
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

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
        ]

    def close(self) -> None:
        self._stop.set()
        self.scheduler_wakeup.notify()
        self.dispatcher_wakeup.notify()
        for thread in self._threads:
            thread.join(timeout=5)
        self.store.close()
