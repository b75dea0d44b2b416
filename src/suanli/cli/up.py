"""`suanli up`: one process hosting the API, the scheduler and dispatcher loops, and one
local agent, on SQLite in a data directory (or SUANLI_DATABASE_URL).

Running jobs are supervised by the local engine's shims, not by this process: stopping
(or killing) `up` leaves them running, and the next `up` re-adopts them. The agent
processes of `--demo` are this process's own: SIGTERM or Ctrl-C stops them with it
(SIGTERM, then SIGKILL after `demo.STOP_GRACE_S`).

The data dir is private (0700; the database, tokens.json and the log 0600). The log,
``suanli.log`` in the data dir, is rotated and quiet at INFO (`logfile`); `access_log`
adds a line per HTTP request.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from types import FrameType

import uvicorn

from suanli.adapters.clock import SystemClock
from suanli.adapters.engines.local import LocalEngine
from suanli.adapters.store_sql.database import sqlite_url
from suanli.agent.runner import Agent, AgentSettings
from suanli.api.app import create_app
from suanli.cli import config, logfile
from suanli.cli.demo import DemoAgent, guide, inherited_settings, start_demo, stop_demo
from suanli.cli.render import err
from suanli.domain.errors import DomainError
from suanli.logic.scheduling.state import SchedulerSettings
from suanli.platform import Platform, PlatformConfig
from suanli.ports.engine import EngineError
from suanli.sdk.client import Client
from suanli.services.bootstrap import LocalTokens, bootstrap_local

log = logging.getLogger("suanli.up")
LOG_FILE = "suanli.log"
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def prepare_data_dir(data_dir: Path) -> None:
    """Create the data dir, private to this user (0700): it holds the database, the
    tokens and the engine's task files, which hold the jobs' environments."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    data_dir.chmod(0o700)


def _stop(signum: int, frame: FrameType | None) -> None:
    """SIGTERM/SIGINT: leave through `serve`'s shutdown path (uvicorn first stops serving,
    then raises the signal again, which lands here)."""
    raise SystemExit(0)


def _load_tokens(path: Path) -> LocalTokens | None:
    try:
        data = json.loads(path.read_text())
        return LocalTokens(data["operator"], data["user"], data["agent"])
    except (OSError, ValueError, KeyError):
        return None


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def serve(
    *,
    host: str,
    port: int,
    data_dir: Path,
    user: str,
    with_agent: bool = True,
    policy: str = "suanli",
    settings: SchedulerSettings | None = None,
    throughput_path: str | None = None,
    heartbeat_deadline_s: float = 15.0,
    demo: bool = False,
    jobs_root: Path | None = None,
    access_log: bool = False,
    history_period_s: float = 60.0,
) -> None:
    """Run until SIGTERM or SIGINT; then stop serving, stop the demo's agents, stop the
    in-process agent and the loops, and return. `jobs_root`: where the local engine puts
    jobs' scratch dirs (default: see `LocalEngine`)."""
    prepare_data_dir(data_dir)
    logfile.configure(data_dir / LOG_FILE)
    if not _port_free(host, port):
        raise SystemExit(
            f"error: port {port} on {host} is in use. To fix: stop the other "
            "server, or pick another port with --port."
        )
    clock = SystemClock()
    engine = _local_engine(data_dir, clock, jobs_root) if with_agent else None
    platform_config = replace(
        PlatformConfig.with_env(sqlite_url(data_dir), policy=policy),
        scheduler=settings or SchedulerSettings(),
        throughput_path=throughput_path,
        heartbeat_deadline_s=heartbeat_deadline_s,
        history_period_s=history_period_s,
    )
    try:
        platform = Platform(platform_config, clock=clock)
    except DomainError as exc:
        raise SystemExit(f"error: {exc}") from None
    tokens = _local_tokens(platform, clock, data_dir, user)
    url = f"http://{host}:{port}"
    cfg_path = config.save(config.UserConfig(url, tokens.user, tokens.operator))

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(platform),
            host=host,
            port=port,
            log_config=None,  # uvicorn's loggers propagate to our private, rotated file
            log_level="info" if access_log else "warning",
            access_log=access_log,
        )
    )
    stop = threading.Event()
    demo_agents: list[DemoAgent] = []
    agent_thread: threading.Thread | None = None
    main_thread = threading.current_thread() is threading.main_thread()
    if main_thread:  # signal handlers can only be set there (tests may call from others)
        _handle_stop_signals(_stop)
    try:
        platform.start_loops()
        if demo:
            operator = platform.auth.authenticate(tokens.operator)
            start_demo(platform, operator, url, data_dir, demo_agents, jobs_root=jobs_root)
            err.print(guide(demo_agents))
            if (warning := inherited_settings(platform, operator)) is not None:
                err.print(warning, style="yellow", highlight=False)
        if engine is not None:
            agent_thread = _start_agent(url, tokens.agent, engine, clock, server, stop)
        _announce(url, data_dir, platform, engine, cfg_path)
        print(url, flush=True)
        server.run()
    finally:
        if main_thread:  # a second signal must not cut the (bounded) shutdown short
            _handle_stop_signals(signal.SIG_IGN)
        stop_demo(demo_agents)
        stop.set()
        if agent_thread is not None:
            agent_thread.join(timeout=5)
        platform.close()


def _handle_stop_signals(handler: Callable[[int, FrameType | None], None] | int) -> None:
    for sig in STOP_SIGNALS:
        signal.signal(sig, handler)


def _local_engine(data_dir: Path, clock: SystemClock, jobs_root: Path | None) -> LocalEngine:
    """The in-process agent's engine; an engine that cannot start ends `up` with its
    reason."""
    try:
        return LocalEngine(data_dir / "engine", clock, jobs_root=jobs_root)
    except EngineError as exc:
        raise SystemExit(f"error: {exc}") from None


def _local_tokens(platform: Platform, clock: SystemClock, data_dir: Path, user: str) -> LocalTokens:
    """The operator's, the user's and the agent's tokens: those of the last run if they
    still hold, else new ones; kept in the data dir's tokens.json (0600)."""
    tokens_file = data_dir / "tokens.json"
    tokens = bootstrap_local(
        platform.store, clock, platform.ids, user=user, previous=_load_tokens(tokens_file)
    )
    config.write_private_json(
        tokens_file, {"operator": tokens.operator, "user": tokens.user, "agent": tokens.agent}
    )
    return tokens


def _start_agent(
    url: str,
    token: str,
    engine: LocalEngine,
    clock: SystemClock,
    server: uvicorn.Server,
    stop: threading.Event,
) -> threading.Thread:
    """The local agent, in a thread that waits for the server to listen, then runs until
    `stop` is set."""
    agent = Agent(Client(url, token), engine, clock, AgentSettings(poll_s=0.25, heartbeat_s=2.0))

    def run_agent() -> None:
        while not server.started and not stop.is_set():
            stop.wait(0.05)
        agent.run_forever(stop)

    thread = threading.Thread(target=run_agent, name="suanli-agent", daemon=True)
    thread.start()
    return thread


def _announce(
    url: str, data_dir: Path, platform: Platform, engine: LocalEngine | None, cfg_path: Path
) -> None:
    """Where the platform serves, what it stores where, and how to begin (stderr)."""
    err.print(
        f"suanli {url}  (data: {data_dir}, database: "
        f"{platform.store.engine.url.render_as_string(hide_password=True)})"
    )
    if engine is not None:
        err.print(_isolation_note(engine))
    err.print(
        f"config with your token written to {cfg_path}; try: "
        "suanli submit -- python3 -c 'print(42)'"
    )
    err.print(f"dashboard: {url}/ui/  (log in with a token: `suanli token create --expires 12h`)")


def _isolation_note(engine: LocalEngine) -> str:
    if engine.isolated:
        return (
            f"local jobs run isolated: each tenant as its own user, in a PID namespace of "
            f"their own; scratch dirs in {engine.jobs_dir}"
        )
    return (
        "warning: local jobs run as this user, unisolated (they can read this data dir); "
        "run as root to isolate tenants (docs/engines.md)"
    )
