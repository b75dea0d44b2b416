"""The FastAPI application. Every /v1 route passes through `current_principal`."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

import suanli
from suanli.api import errors
from suanli.api.batching import SubmitBatcher
from suanli.api.routes import agent, jobs, pool, tenants, usage
from suanli.api.security import current_principal
from suanli.platform import Platform


def create_app(platform: Platform | None) -> FastAPI:
    """The application serving `platform`; with None, an app good only for generating
    the OpenAPI document (`suanli openapi`)."""
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
    errors.install(app)
    v1 = APIRouter(prefix="/v1", dependencies=[Depends(current_principal)])
    for module in (jobs, pool, tenants, usage, agent):
        v1.include_router(module.router)
    v1.include_router(jobs.services_router)
    app.include_router(v1)
    return app
