"""Dispatch latency: from the scheduler's decision to the job running, per engine.

Starts what it needs: a `suanli up --no-agent` on a temporary data dir, and for each
engine a cluster in its own region with a `suanli agent --engine E` process beside it
(Slurm and Ray are started first with `scripts/ensure-slurm.sh` / `scripts/ensure-ray.sh`).
Then submits --jobs short jobs to each engine's region, one at a time (--gap apart, so
that the figure is latency, not queueing), and reads every attempt's `scheduled_at` (the
scheduler's decision) and `started_at` (when the engine reported it running). Prints one
JSON line:

    {"bench": "dispatch", "local": {"p50_ms": ..., "p99_ms": ...}, "slurm": {...},
     "ray": {...}}

An engine that cannot be started is reported as {"error": "..."} and the exit status is
1. The engines' start times have their own resolution: Slurm records whole seconds.

    .venv/bin/python bench/dispatch.py [--engines local,slurm,ray] [--jobs 30] [--gap 0.3]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SUANLI = [sys.executable, "-m", "suanli.cli.main"]
START_TIMEOUT_S = 60.0
ENSURE = {"slurm": REPO / "scripts" / "ensure-slurm.sh", "ray": REPO / "scripts" / "ensure-ray.sh"}


def log(msg: str) -> None:
    print(f"[bench dispatch] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class Bench:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SUANLI_")},
            "SUANLI_CONFIG": str(root / "config.json"),
            "SUANLI_URL": self.url,
        }
        self.procs: list[subprocess.Popen[bytes]] = []

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [*SUANLI, *args], env=self.env, capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"suanli {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def spawn(
        self, *args: str, log_name: str, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        out = (self.root / f"{log_name}.log").open("wb")
        proc = subprocess.Popen(
            [*SUANLI, *args],
            env={**self.env, **(env or {})},
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def start_platform(self) -> None:
        self.spawn(
            "up",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.root / "data"),
            "--no-agent",
            log_name="up",
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                self.cli("pool", "--json")
                return
            except RuntimeError:
                time.sleep(0.3)
        raise RuntimeError("suanli up did not answer")

    def add_cluster(self, engine: str, options: Sequence[str] = ()) -> str:
        region, cluster = f"r-{engine}", f"c-{engine}"
        self.cli("region", "add", region)
        self.cli("provider", "add", f"p-{engine}")
        token = self.cli(
            "cluster",
            "add",
            cluster,
            "--provider",
            f"p-{engine}",
            "--region",
            region,
            "--engine",
            engine,
        ).strip()
        args = [
            "agent",
            "--engine",
            engine,
            "--state-dir",
            str(self.root / f"agent-{engine}"),
            "--heartbeat-s",
            "1",
            "--no-calibrate",
        ]
        if engine == "local":
            args += ["--declare", "cpus=64,memory=64G", "--hostname", "bench-node"]
        for option in options:
            args += ["--engine-option", option]
        # the token in the agent's environment: never on a command line (ps shows it)
        self.spawn(*args, log_name=f"agent-{engine}", env={"SUANLI_AGENT_TOKEN": token})
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            states = {c["id"]: c["state"] for c in json.loads(self.cli("pool", "--json"))}
            if states.get(cluster) == "READY":
                return region
            time.sleep(0.3)
        tail = (self.root / f"agent-{engine}.log").read_text(errors="replace")[-1500:]
        raise RuntimeError(f"the {engine} agent did not register: {tail}")

    def latencies(self, region: str, jobs: int, gap: float) -> list[float]:
        ids = []
        for _ in range(jobs):
            ids.append(
                self.cli(
                    "submit",
                    "--region",
                    region,
                    "--memory",
                    "64M",
                    "--time",
                    "5m",
                    "--",
                    "sleep",
                    "1",
                ).strip()
            )
            time.sleep(gap)
        out: list[float] = []
        deadline = time.monotonic() + 120 + jobs * 5
        pending = set(ids)
        while pending and time.monotonic() < deadline:
            for job_id in list(pending):
                job: dict[str, Any] = json.loads(self.cli("job", job_id, "--json"))
                attempt = job["attempts"][-1] if job["attempts"] else None
                if attempt and attempt["started_at"]:
                    started = datetime.fromisoformat(attempt["started_at"])
                    decided = datetime.fromisoformat(attempt["scheduled_at"])
                    out.append((started - decided).total_seconds() * 1000)
                    pending.discard(job_id)
                elif job["status"] in ("FAILED", "CANCELLED"):
                    raise RuntimeError(f"job {job_id} ended {job['status']}: {job['reason']}")
            time.sleep(0.5)
        if pending:
            raise RuntimeError(f"{len(pending)} jobs never started")
        return out

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engines", default="local,slurm,ray")
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between submissions")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"bench": "dispatch"}
    failed = False
    with tempfile.TemporaryDirectory(prefix="suanli-dispatch-") as tmp:
        bench = Bench(Path(tmp))
        try:
            bench.start_platform()
            for engine in args.engines.split(","):
                try:
                    script = ENSURE.get(engine)
                    options: list[str] = []
                    if script is not None:
                        log(f"starting {engine}: {script.name}")
                        started = subprocess.run(
                            ["bash", str(script), "start"],
                            check=True,
                            capture_output=True,
                            text=True,
                            timeout=600,
                        )
                        if engine == "slurm":  # the script prints the SLURM_CONF to use
                            conf = started.stdout.strip().splitlines()[-1]
                            options.append(f"slurm_conf={conf}")
                    region = bench.add_cluster(engine, options)
                    log(f"{engine}: {args.jobs} jobs")
                    ms = bench.latencies(region, args.jobs, args.gap)
                    result[engine] = {
                        "p50_ms": round(percentile(ms, 50), 1),
                        "p99_ms": round(percentile(ms, 99), 1),
                        "jobs": len(ms),
                    }
                except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
                    failed = True
                    result[engine] = {"error": str(exc)[-500:]}
        finally:
            bench.stop()
    print(json.dumps(result))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
