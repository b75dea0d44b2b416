"""The FastAPI application. Every /v1 route passes through `current_principal` and
documents the problem responses it may give; every request passes the transport guards
(body limits, URL text) and an unexpected error is an ordinary 500 (api/errors.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

import suanli
from suanli.api import errors
from suanli.api.batching import SubmitBatcher
from suanli.api.dashboard import mount_dashboard
from suanli.api.limits import BodyLimit, BodyLimits, TextUrl
from suanli.api.routes import (
    accounts,
    agent,
    billing,
    jobs,
    lab,
    market,
    metrics,
    pool,
    session,
    tenants,
    usage,
)
from suanli.api.security import current_principal
from suanli.lab.runs import LabRuns
from suanli.platform import Platform

V1 = "/v1"


def v1_routers() -> list[APIRouter]:
    """Every router served under /v1 (behind `current_principal`); each route's path is
    V1 + its own path."""
    return [
        *(m.router for m in (jobs, pool, tenants, accounts, usage, market, billing, lab, agent)),
        jobs.services_router,
    ]


def create_app(platform: Platform | None, *, body_limits: BodyLimits | None = None) -> FastAPI:
    """The application serving `platform`; with None, an app good only for generating
    the OpenAPI document (`suanli openapi`). `body_limits` defaults to
    `BodyLimits.from_env()` (1 MiB, 5 MiB for agent log chunks)."""
    app = FastAPI(
        title="suanli",
        version=suanli.__version__,
        description="The API of suanli (算力), a city-scale compute-power network: pool, "
        "jobs, usage, and the agent protocol. Authenticate with 'Authorization: Bearer "
        "<token>'. Errors are application/problem+json.",
    )
    if platform is not None:
        app.state.platform = platform
        app.state.submit_batcher = SubmitBatcher(platform.jobs)
        # the policy lab's background simulations (in this process's memory)
        app.state.lab_runs = LabRuns(platform.clock, platform.ids)
    errors.install(app)
    # add_middleware puts each one outside those added before it: UnexpectedErrors last.
    app.add_middleware(BodyLimit, limits=body_limits or BodyLimits.from_env())
    app.add_middleware(TextUrl)
    app.add_middleware(errors.UnexpectedErrors)
    v1 = APIRouter(
        prefix=V1,
        dependencies=[Depends(current_principal)],
        responses=errors.PROBLEM_RESPONSES,
    )
    for router in v1_routers():
        v1.include_router(router)
    app.include_router(v1)
    # outside /v1: where Prometheus looks; behind the same access check
    app.include_router(metrics.router, responses=errors.PROBLEM_RESPONSES)
    # outside /v1: the dashboard's login, which authenticates by itself, and its page
    app.include_router(session.router, responses=errors.PROBLEM_RESPONSES)
    mount_dashboard(app)
    return app
