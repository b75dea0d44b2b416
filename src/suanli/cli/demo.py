"""`suanli up --demo`: a multi-region pool on one machine.

Three clusters in three regions of the city network — Beijing (A100), Zhengzhou (H100)
and Guiyang (T4, the cheap western hub of 东数西算) — each with its own `suanli agent`
process and local engine, offering a declared node (its GPUs are declared, not real: jobs
run as ordinary processes). The regions are places of the shipped latency table, so
placement sees real estimated RTTs between them. A newcomer sees cross-region placement
(`suanli submit --gpus T4:1 ...` runs in Guiyang) and failover: kill one agent (its pid
is printed) and its jobs are requeued elsewhere within two heartbeat deadlines; start it
again with the printed command and it re-adopts, then abandons, what its engine still
runs.

Slurm (Wuhan) and Ray (Shanghai) clusters join the demo when such an engine answers on
this machine (`scripts/ensure-slurm.sh start`, `scripts/ensure-ray.sh start`); their
agents run jobs on the engine's own nodes.

Each agent reads its token from a 0600 file (``<data dir>/demo/<cluster>/agent.token``),
never from its command line, which every local user can read (`ps`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from suanli.cli import config
from suanli.domain.errors import Conflict
from suanli.domain.ids import ClusterId, ProviderId, RegionId
from suanli.domain.pool import Provider, Region
from suanli.domain.tenancy import Principal
from suanli.platform import Platform
from suanli.services.bootstrap import DEFAULT_TENANT


@dataclass(frozen=True, slots=True)
class DemoCluster:
    id: str
    region: str
    region_name: str
    provider: str
    declare: str | None
    """The node a local engine offers; None: the engine's own nodes (Slurm, Ray)."""
    price: float
    engine: str = "local"
    options: tuple[str, ...] = ()


DEMO_CLUSTERS = (
    DemoCluster(
        "bj-a100", "beijing", "Beijing", "jingcloud", "cpus=8,memory=32G,gpus=A100:4", 18.0
    ),
    DemoCluster(
        "zz-h100", "zhengzhou", "Zhengzhou", "zhongyuan", "cpus=8,memory=32G,gpus=H100:2", 32.0
    ),
    DemoCluster("gy-t4", "guiyang", "Guiyang", "guian-dc", "cpus=16,memory=64G,gpus=T4:8", 3.5),
)
DEFAULT_SLURM_CONF = Path("/var/tmp/suanli-slurm/etc/slurm.conf")
"""Where scripts/ensure-slurm.sh writes its configuration."""
RAY_ADDRESS = "http://127.0.0.1:8265"
"""Where scripts/ensure-ray.sh's head serves the Job API."""
DEMO_HEARTBEAT_DEADLINE_S = 6.0
"""A short deadline so that failover shows within seconds."""
STOP_GRACE_S = 10.0
"""How long the agents get, all together, to stop after SIGTERM before SIGKILL."""
TOKEN_FILE = "agent.token"


@dataclass
class DemoAgent:
    cluster: DemoCluster
    argv: list[str]
    proc: subprocess.Popen[bytes]


def _agent_argv(
    url: str, token: str, cluster: DemoCluster, data_dir: Path, jobs_root: Path | None
) -> list[str]:
    """The agent's command line; its token goes to a private file it names."""
    root = data_dir / "demo" / cluster.id
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    token_file = root / TOKEN_FILE
    config.write_private_text(token_file, token + "\n")
    return [
        sys.executable,
        "-m",
        "suanli.cli.main",
        "agent",
        "--url",
        url,
        "--token-file",
        str(token_file),
        "--state-dir",
        str(root / "engine"),
        *(
            ("--jobs-root", str(jobs_root / cluster.id))
            if jobs_root is not None and cluster.engine == "local"
            else ()
        ),
        "--engine",
        cluster.engine,
        *(a for option in cluster.options for a in ("--engine-option", option)),
        *(
            ("--declare", cluster.declare, "--hostname", f"{cluster.id}-node0")
            if cluster.declare
            else ()
        ),
        "--heartbeat-s",
        "1",
        "--no-calibrate",
        "--log-file",
        str(root / "agent.log"),
    ]


DEMO_CREDIT = "100000.00"
"""CNY deposited for the demo's default tenant."""


def start_demo(
    platform: Platform,
    operator: Principal,
    url: str,
    data_dir: Path,
    agents: list[DemoAgent],
    *,
    jobs_root: Path | None = None,
) -> None:
    """Register the demo's regions, providers and clusters (idempotent: a restarted demo
    re-issues the agents' tokens) and start one agent process per cluster, appending each
    to `agents` as soon as it runs (so that a shutdown half-way stops those started)."""
    tokens_file = data_dir / "demo" / "tokens.json"
    tokens: dict[str, str] = {}
    with contextlib.suppress(OSError, ValueError):
        tokens = dict(json.loads(tokens_file.read_text()))
    clusters = (*DEMO_CLUSTERS, *present_engines())
    for c in clusters:
        with contextlib.suppress(Conflict):
            platform.pool.add_region(operator, Region(RegionId(c.region), c.region_name))
        with contextlib.suppress(Conflict):
            platform.pool.add_provider(operator, Provider(ProviderId(c.provider), c.provider))
        try:
            _, token = platform.pool.add_cluster(
                operator,
                ClusterId(c.id),
                provider_id=ProviderId(c.provider),
                region_id=RegionId(c.region),
                engine=c.engine,
            )
            platform.pool.set_cluster_price(operator, ClusterId(c.id), c.price)
            tokens[c.id] = token
        except Conflict:
            if c.id not in tokens:
                raise
    config.write_private_json(tokens_file, tokens)
    # The demo's clusters are priced, so a job there needs its cost held first: the local
    # user's tenant starts with demo money (once: the deposit is keyed by its reference).
    platform.billing.deposit(operator, DEFAULT_TENANT, DEMO_CREDIT, reference="demo-credit")
    for c in clusters:
        argv = _agent_argv(url, tokens[c.id], c, data_dir, jobs_root)
        # Not SUANLI_AGENT_TOKEN from our environment: each agent has its own token file.
        env = {k: v for k, v in os.environ.items() if k != "SUANLI_AGENT_TOKEN"}
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        agents.append(DemoAgent(c, argv, proc))


def present_engines() -> list[DemoCluster]:
    """A Slurm and a Ray cluster for the demo, when such an engine answers on this
    machine (scripts/ensure-slurm.sh, scripts/ensure-ray.sh start them)."""
    out: list[DemoCluster] = []
    conf = os.environ.get("SLURM_CONF") or str(DEFAULT_SLURM_CONF)
    if shutil.which("squeue") and Path(conf).is_file():
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            probe = subprocess.run(
                ["squeue", "-h"],
                env={**os.environ, "SLURM_CONF": conf},
                capture_output=True,
                timeout=5,
                check=False,
            )
            if probe.returncode == 0:
                out.append(
                    DemoCluster(
                        "wh-slurm",
                        "wuhan",
                        "Wuhan",
                        "wuhan-hpc",
                        None,
                        12.0,
                        "slurm",
                        (f"slurm_conf={conf}",),
                    )
                )
    if importlib.util.find_spec("ray") is not None:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{RAY_ADDRESS}/api/version", timeout=2).status_code == 200:
                out.append(
                    DemoCluster(
                        "sh-ray",
                        "shanghai",
                        "Shanghai",
                        "pujiang-ai",
                        None,
                        20.0,
                        "ray",
                        (f"address={RAY_ADDRESS}",),
                    )
                )
    return out


def guide(agents: list[DemoAgent]) -> str:
    """What to try, with the agents' pids and restart commands."""
    lines = [f"demo pool: {len(agents)} clusters in {len(agents)} regions (suanli pool):"]
    for a in agents:
        c = a.cluster
        offer = c.declare or f"the {c.engine} engine's own nodes"
        lines.append(
            f"  {c.id:8} {c.region_name:10} {offer:32} {c.price:>5} CNY/GPU-h  "
            f"agent pid {a.proc.pid}"
        )
    first = next(a for a in agents if a.cluster.id == "gy-t4")
    lines += [
        "try:",
        "  suanli submit --gpus T4:1 -- python3 -c 'print(42)'          # runs in Guiyang",
        "  suanli submit --region guiyang --region zhengzhou --gpus any:1 "
        "-- sleep 300   # prefers Guiyang, falls back",
        f"  kill -9 {first.proc.pid}   # Guiyang's agent dies: its jobs move within "
        f"{2 * DEMO_HEARTBEAT_DEADLINE_S:g} s",
        f"  {shlex.join(first.argv)} &   # bring it back",
        f"  suanli balance; suanli market prices   # {DEMO_CREDIT} CNY of demo money; "
        "jobs are held and billed at the posted prices",
    ]
    return "\n".join(lines)


def stop_demo(agents: list[DemoAgent], grace_s: float = STOP_GRACE_S) -> None:
    """SIGTERM the agents this demo started, wait for them (`grace_s` in all), SIGKILL
    any left, and reap them. Their running jobs keep running (the engines' shims
    supervise them) and are re-adopted by the next demo."""
    for a in agents:
        if a.proc.poll() is None:
            a.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for a in agents:
        try:
            a.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            a.proc.kill()
            a.proc.wait()


def inherited_settings(platform: Platform, operator: Principal) -> str | None:
    """A warning naming the quotas and fair-share settings already in this data dir,
    which apply to the demo too (None when there are none): a quota set for an earlier
    try can leave the demo's first job pending, and nothing else would say why."""
    found: list[str] = []
    for t in platform.tenancy.tenants(operator):
        for q in t.quotas:
            found.append(f"quota {t.tenant.id} {q.flavor}={q.nominal}")
        if t.share.cohort or t.share.weight != 1.0:
            found.append(f"share {t.tenant.id} weight {t.share.weight:g} cohort {t.share.cohort}")
    if not found:
        return None
    return (
        "warning: this data dir already holds scheduling settings, and they apply to the "
        f"demo: {'; '.join(found)}. Remove them (`suanli quota rm TENANT FLAVOR`, `suanli "
        "share TENANT --weight 1`) or run the demo on a fresh --data-dir."
    )
