"""`suanli up`: one process hosting the API, the scheduler and dispatcher loops, and one
local agent, on SQLite in a data directory (or SUANLI_DATABASE_URL).

Running jobs are supervised by the local engine's shims, not by this process: stopping
(or killing) `up` leaves them running, and the next `up` re-adopts them.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from dataclasses import replace
from pathlib import Path

import uvicorn

from suanli.adapters.clock import SystemClock
from suanli.adapters.engines.local import LocalEngine
from suanli.adapters.store_sql.database import sqlite_url
from suanli.agent.runner import Agent, AgentSettings
from suanli.api.app import create_app
from suanli.cli import config
from suanli.cli.demo import DemoAgent, guide, start_demo, stop_demo
from suanli.cli.render import err
from suanli.domain.errors import DomainError
from suanli.logic.scheduling.state import SchedulerSettings
from suanli.platform import Platform, PlatformConfig
from suanli.sdk.client import Client
from suanli.services.bootstrap import LocalTokens, bootstrap_local

log = logging.getLogger("suanli.up")


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
) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=data_dir / "suanli.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not _port_free(host, port):
        raise SystemExit(
            f"error: port {port} on {host} is in use. To fix: stop the other "
            "server, or pick another port with --port."
        )
    clock = SystemClock()
    platform_config = replace(
        PlatformConfig.with_env(sqlite_url(data_dir), policy=policy),
        scheduler=settings or SchedulerSettings(),
        throughput_path=throughput_path,
        heartbeat_deadline_s=heartbeat_deadline_s,
    )
    try:
        platform = Platform(platform_config, clock=clock)
    except DomainError as exc:
        raise SystemExit(f"error: {exc}") from None
    tokens_file = data_dir / "tokens.json"
    tokens = bootstrap_local(
        platform.store, clock, platform.ids, user=user, previous=_load_tokens(tokens_file)
    )
    config.write_private_json(
        tokens_file, {"operator": tokens.operator, "user": tokens.user, "agent": tokens.agent}
    )
    url = f"http://{host}:{port}"
    cfg_path = config.save(config.UserConfig(url, tokens.user, tokens.operator))

    server = uvicorn.Server(
        uvicorn.Config(
            create_app(platform), host=host, port=port, log_level="warning", access_log=False
        )
    )
    stop = threading.Event()
    platform.start_loops()
    demo_agents: list[DemoAgent] = []
    if demo:
        operator = platform.auth.authenticate(tokens.operator)
        demo_agents = start_demo(platform, operator, url, data_dir)
        err.print(guide(demo_agents))
    agent_thread: threading.Thread | None = None
    if with_agent:
        engine = LocalEngine(data_dir / "engine", clock)
        agent = Agent(
            Client(url, tokens.agent), engine, clock, AgentSettings(poll_s=0.25, heartbeat_s=2.0)
        )

        def run_agent() -> None:
            while not server.started and not stop.is_set():
                stop.wait(0.05)
            agent.run_forever(stop)

        agent_thread = threading.Thread(target=run_agent, name="suanli-agent", daemon=True)
        agent_thread.start()

    err.print(
        f"suanli {url}  (data: {data_dir}, database: "
        f"{platform.store.engine.url.render_as_string(hide_password=True)})"
    )
    err.print(
        f"config with your token written to {cfg_path}; try: "
        "suanli submit -- python3 -c 'print(42)'"
    )
    print(url, flush=True)
    try:
        server.run()
    finally:
        stop_demo(demo_agents)
        stop.set()
        if agent_thread is not None:
            agent_thread.join(timeout=5)
        platform.close()
