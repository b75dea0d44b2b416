"""Builders for domain objects and a ready-made pool, after Kueue's MakeWorkload(...)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from suanli.adapters.clock import ManualClock
from suanli.domain.ids import JobId, TenantId, UserId
from suanli.domain.jobs import JobSpec, JobStatus
from suanli.domain.resources import Resources
from suanli.domain.tenancy import Principal, Role, Tenant
from suanli.platform import Platform
from suanli.services.agents import NodeReport, StateReport
from suanli.services.auth import issue_token
from suanli.services.bootstrap import bootstrap_local


def spec(
    *argv: str,
    cpus: float = 1,
    memory_mb: int = 1024,
    gpus: dict[str, int] | None = None,
    regions: tuple[str, ...] = (),
    max_attempts: int = 3,
    time_limit_s: int | None = None,
) -> JobSpec:
    return JobSpec.create(
        command=list(argv) or ["true"],
        resources=Resources.request(cpus=cpus, memory_mb=memory_mb, gpus=gpus),
        regions=regions,
        max_attempts=max_attempts,
        time_limit_s=time_limit_s,
    )


@dataclass
class World:
    """A bootstrapped platform: operator, one consumer, the local cluster's agent."""

    plat: Platform
    clock: ManualClock
    operator: Principal
    user: Principal
    agent: Principal

    def register(
        self, *, cpus: float = 4, memory_mb: int = 8192, gpus: dict[str, int] | None = None
    ) -> None:
        self.plat.agents.register(
            self.agent,
            [NodeReport("node-a", Resources(round(cpus * 1000), memory_mb, gpus or {}))],
            agent_version="test",
            known=[],
        )

    def run(self, job_id: JobId, *, seconds: float, exit_code: int = 0) -> None:
        """Claim-free helper: report the current attempt running then ended."""
        job = self.plat.jobs.get(self.user, job_id).job
        start = self.clock.now()
        self.plat.agents.report(
            self.agent, StateReport(job_id, job.attempt, JobStatus.RUNNING, "e", start)
        )
        self.clock.advance(seconds)
        status = JobStatus.SUCCEEDED if exit_code == 0 else JobStatus.FAILED
        self.plat.agents.report(
            self.agent,
            StateReport(
                job_id,
                job.attempt,
                status,
                "e",
                start,
                start + timedelta(seconds=seconds),
                exit_code,
            ),
        )

    def new_consumer(self, tenant: str) -> str:
        """Create a consumer tenant and return a token of one of its users."""
        with self.plat.store.unit_of_work() as uow:
            uow.tenancy.add_tenant(Tenant(TenantId(tenant), tenant))
            token = issue_token(
                uow,
                self.plat.ids,
                self.clock,
                Principal(TenantId(tenant), UserId("bob"), Role.CONSUMER),
            )
            uow.commit()
        return token


def world(plat: Platform, clock: ManualClock) -> World:
    tokens = bootstrap_local(plat.store, clock, plat.ids, user="alice", previous=None)
    return World(
        plat,
        clock,
        plat.auth.authenticate(tokens.operator),
        plat.auth.authenticate(tokens.user),
        plat.auth.authenticate(tokens.agent),
    )
