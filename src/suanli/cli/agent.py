"""`suanli agent`: one agent process for one cluster, beside its engine.

`suanli up` runs an agent for its own local cluster in-process; a provider's cluster runs
this command instead, with the agent token the operator got when registering the cluster
(`suanli cluster add`). The agent registers the engine's nodes, re-adopts the work its
engine still runs, then claims, runs and reports until SIGTERM or SIGINT.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from pathlib import Path
from typing import Annotated

import typer

from suanli.adapters.clock import SystemClock
from suanli.adapters.engines.factory import (
    ENGINE_NAMES,
    make_engine,
    parse_declared,
    parse_options,
)
from suanli.agent.runner import Agent, AgentSettings
from suanli.cli.render import err
from suanli.domain.errors import DomainError
from suanli.sdk.client import Client


def agent(
    url: Annotated[str, typer.Option("--url", envvar="SUANLI_URL", help="the platform's API URL")],
    token: Annotated[
        str,
        typer.Option("--token", envvar="SUANLI_AGENT_TOKEN", help="the cluster's agent token"),
    ],
    state_dir: Annotated[
        Path, typer.Option("--state-dir", help="where the engine keeps its tasks' state")
    ],
    engine: Annotated[
        str, typer.Option(help=f"the cluster's engine: {', '.join(ENGINE_NAMES)}")
    ] = "local",
    engine_option: Annotated[
        list[str] | None,
        typer.Option(help="KEY=VALUE for the engine (repeat), e.g. image=python:3.11-slim"),
    ] = None,
    declare: Annotated[
        str | None,
        typer.Option(
            help="offer this node instead of the machine's (local engine; demos): "
            "cpus=8,memory=32G[,gpus=H100:4]"
        ),
    ] = None,
    hostname: Annotated[
        str | None, typer.Option(help="the declared node's hostname (default: this host)")
    ] = None,
    heartbeat_s: Annotated[float, typer.Option(help="seconds between heartbeats")] = 2.0,
    calibrate: Annotated[
        bool, typer.Option(help="measure the nodes when registering (a few seconds)")
    ] = True,
    log_file: Annotated[Path | None, typer.Option(help="log here instead of stderr")] = None,
) -> None:
    """Run an agent for one cluster until SIGTERM/SIGINT (running jobs keep running)."""
    logging.basicConfig(
        filename=log_file,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    clock = SystemClock()
    try:
        declared = parse_declared(declare, hostname or socket.gethostname()) if declare else None
        eng = make_engine(
            engine,
            state_dir,
            clock,
            declared=declared,
            options=parse_options(engine_option or []),
        )
    except DomainError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from None
    settings = AgentSettings(poll_s=0.25, heartbeat_s=heartbeat_s, calibrate_on_register=calibrate)
    runner = Agent(Client(url, token), eng, clock, settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    err.print(f"agent: {engine} engine, state in {state_dir}, platform {url}")
    runner.run_forever(stop)
