"""`suanli agent`: one agent process for one cluster, beside its engine.

`suanli up` runs an agent for its own local cluster in-process; a provider's cluster runs
this command instead, with the agent token the operator got when registering the cluster
(`suanli cluster add`). The agent registers the engine's nodes, re-adopts the work its
engine still runs, then claims, runs and reports until SIGTERM or SIGINT.

The token never goes on the command line, which every local user can read (`ps`,
/proc/PID/cmdline): the agent reads it from SUANLI_AGENT_TOKEN (and drops it from its
environment, so nothing it starts inherits it) or from `--token-file`, a file only its
owner may read.
"""

from __future__ import annotations

import os
import signal
import socket
import stat
import threading
from pathlib import Path
from typing import Annotated

import typer

from suanli.adapters.engines.names import ENGINE_NAMES
from suanli.cli import logfile
from suanli.cli.render import err

TOKEN_ENV = "SUANLI_AGENT_TOKEN"


class TokenError(Exception):
    """The agent token cannot be read; the message says what to do."""


def read_token(token_file: Path | None) -> str:
    """The agent token, from `token_file` or else from SUANLI_AGENT_TOKEN (removed from
    this process's environment once read). The file must belong to this user and must not
    be readable or writable by group or others. Raises TokenError."""
    if token_file is not None:
        try:
            info = token_file.stat()
            if info.st_uid != os.geteuid():
                raise TokenError(
                    f"the token file {token_file} belongs to uid {info.st_uid}, not to this "
                    "user. To fix: copy it to a file of your own (chmod 600)."
                )
            if stat.S_IMODE(info.st_mode) & 0o077:
                raise TokenError(
                    f"the token file {token_file} is readable by other users (mode "
                    f"{stat.S_IMODE(info.st_mode):04o}). To fix: chmod 600 {token_file}"
                )
            token = token_file.read_text().strip()
        except OSError as exc:
            raise TokenError(f"cannot read the token file {token_file}: {exc}") from None
        if not token:
            raise TokenError(f"the token file {token_file} is empty.")
        return token
    token = os.environ.pop(TOKEN_ENV, "").strip()
    if not token:
        raise TokenError(
            f"no agent token: set {TOKEN_ENV}, or give --token-file FILE (chmod 600). "
            "`suanli cluster add` prints the token."
        )
    return token


def agent(
    url: Annotated[str, typer.Option("--url", envvar="SUANLI_URL", help="the platform's API URL")],
    state_dir: Annotated[
        Path, typer.Option("--state-dir", help="where the engine keeps its tasks' state")
    ],
    token_file: Annotated[
        Path | None,
        typer.Option(
            "--token-file",
            help=f"a file holding the cluster's agent token, readable by you only (chmod "
            f"600); else {TOKEN_ENV} is read",
        ),
    ] = None,
    token: Annotated[str | None, typer.Option("--token", hidden=True)] = None,
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
    log_file: Annotated[
        Path | None, typer.Option(help="log here (private, rotated) instead of stderr")
    ] = None,
    jobs_root: Annotated[
        Path | None,
        typer.Option(
            "--jobs-root",
            help="local engine: where jobs' scratch dirs go (default /var/lib/suanli-jobs "
            "as root, else ~/.cache/suanli/jobs)",
        ),
    ] = None,
) -> None:
    """Run an agent for one cluster until SIGTERM/SIGINT (running jobs keep running).
    The token comes from SUANLI_AGENT_TOKEN or --token-file, never the command line."""
    if token is not None:
        err.print(
            "error: --token is gone: a token on the command line is readable by every local "
            f"user (ps). To fix: set {TOKEN_ENV}, or put it in a file (chmod 600) and give "
            "--token-file FILE."
        )
        raise typer.Exit(2)
    try:
        secret = read_token(token_file)
    except TokenError as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from None
    # imported here: `suanli --help` and the client commands do not need an agent
    from suanli.adapters.clock import SystemClock
    from suanli.adapters.engines.factory import make_engine, parse_declared, parse_options
    from suanli.adapters.engines.local import LocalEngine
    from suanli.agent.runner import Agent, AgentSettings
    from suanli.domain.errors import DomainError
    from suanli.ports.engine import EngineError
    from suanli.sdk.client import Client

    logfile.configure(log_file)
    clock = SystemClock()
    try:
        declared = parse_declared(declare, hostname or socket.gethostname()) if declare else None
        eng = make_engine(
            engine,
            state_dir,
            clock,
            declared=declared,
            options=parse_options(engine_option or []),
            jobs_root=jobs_root,
        )
    except (DomainError, EngineError) as exc:
        err.print(f"error: {exc}")
        raise typer.Exit(2) from None
    settings = AgentSettings(poll_s=0.25, heartbeat_s=heartbeat_s, calibrate_on_register=calibrate)
    runner = Agent(Client(url, secret), eng, clock, settings)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    err.print(f"agent: {engine} engine, state in {state_dir}, platform {url}")
    if isinstance(eng, LocalEngine) and not eng.isolated:
        err.print(
            "warning: jobs run as this user, unisolated: they can read what it can (run "
            "the agent as root to isolate tenants; docs/engines.md)"
        )
    runner.run_forever(stop)
