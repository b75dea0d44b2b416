"""Submission throughput: how many jobs per second `POST /v1/jobs` accepts.

Starts its own `suanli up` on a temporary data dir (SQLite, or the database named by
--database-url), submits --jobs jobs through the HTTP API from --clients threads, each
with its own keep-alive connection, and prints one JSON object on the last stdout line:

    {"bench": "submit", "jobs_per_s": ..., "p50_ms": ..., "p99_ms": ..., ...}

The jobs ask for more CPUs than any pool has, so they are accepted (201) and stay
PENDING; afterwards the bench lists PENDING jobs page by page and checks that every one
it submitted is there. If Slurm's `sbatch` is on the PATH it also times as many
sequential `sbatch --parsable --wrap true` submissions and reports the ratio.

Target (issue): >= 500 submissions/s with p99 < 50 ms on SQLite.

    .venv/bin/python bench/submit.py [--jobs 2000] [--clients 4] [--database-url URL]

Progress goes to stderr; the last stdout line is the JSON result. Exit status 1 on any
failure (server did not start, a submission was refused, verification mismatch).
"""

from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

MAX_CPUS = 100_000  # the most a request may ask for (suanli.domain.resources.MAX_CPUS)
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
PAGE = 1000


class BenchError(Exception):
    """A failure the bench reports as one line and exit status 1."""


def log(msg: str) -> None:
    print(f"[bench submit] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def database_kind(url: str | None) -> str:
    if not url:
        return "sqlite"
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    return "postgresql" if scheme in ("postgresql", "postgres") else scheme


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of an ascending sequence (q in 0..100)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def _tail(path: Path, limit: int = 4000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no output)"
    return text[-limit:].strip() or "(no output)"


# --- the server -------------------------------------------------------------------------


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    token: str
    stderr_path: Path


def _server_command() -> list[str]:
    script = Path(sys.executable).with_name("suanli")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "suanli.cli.main"]


def start_server(work: Path, database_url: str | None) -> Server:
    port = free_port()
    data_dir = work / "data"
    config_path = work / "config.json"
    stdout_path = work / "server.stdout"
    stderr_path = work / "server.stderr"
    env = dict(os.environ)
    env["SUANLI_CONFIG"] = str(config_path)
    env.pop("SUANLI_DATABASE_URL", None)
    # one token submits thousands a second here: measure the server, not its rate limit
    env["SUANLI_RATE_LIMIT"] = "0"
    if database_url:
        env["SUANLI_DATABASE_URL"] = database_url
    cmd = [*_server_command(), "up", "--port", str(port), "--data-dir", str(data_dir)]
    log(f"starting: {' '.join(cmd)}")
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
    server = Server(proc, f"http://127.0.0.1:{port}", "", stderr_path)
    try:
        wait_ready(server, config_path, stdout_path)
    except BaseException:
        stop_server(server)
        raise
    log(f"server pid {proc.pid} ready at {server.url}")
    return server


def wait_ready(server: Server, config_path: Path, stdout_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    with httpx.Client(timeout=2.0) as http:
        while True:
            code = server.proc.poll()
            if code is not None:
                raise BenchError(
                    f"`suanli up` exited with status {code} before answering.\n"
                    f"--- its stderr ---\n{_tail(server.stderr_path)}"
                )
            if time.monotonic() > deadline:
                raise BenchError(
                    f"`suanli up` did not answer within {START_TIMEOUT_S:.0f} s.\n"
                    f"--- its stderr ---\n{_tail(server.stderr_path)}"
                )
            if not server.token:
                try:
                    cfg = json.loads(config_path.read_text())
                    server.token = str(cfg["token"])
                except (OSError, ValueError, KeyError):
                    pass
            printed = _tail(stdout_path, 500)
            if printed.startswith("http"):
                server.url = printed.splitlines()[0].strip()
            if server.token:
                try:
                    # Ready means the local agent has registered: it measures the
                    # machine first (a few seconds of full load), which must not overlap
                    # the timed submissions.
                    resp = http.get(
                        f"{server.url}/v1/clusters",
                        headers={"Authorization": f"Bearer {server.token}"},
                    )
                    if resp.status_code == 200 and any(c["state"] == "READY" for c in resp.json()):
                        return
                except httpx.TransportError:
                    pass
            time.sleep(0.1)


def stop_server(server: Server) -> None:
    proc = server.proc
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=STOP_TIMEOUT_S)
        log(f"server stopped (status {proc.returncode})")
    except subprocess.TimeoutExpired:
        log(f"server did not stop within {STOP_TIMEOUT_S:.0f} s of SIGINT; killing it")
        proc.kill()
        proc.wait()


# --- submitting -------------------------------------------------------------------------


@dataclass
class Phase:
    """One batch of submissions shared by the client threads."""

    total: int
    label: str
    next_index: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: list[float] = field(default_factory=list)
    job_ids: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def take(self) -> int | None:
        with self.lock:
            if self.errors or self.next_index >= self.total:
                return None
            self.next_index += 1
            return self.next_index - 1


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (and its threads) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def job_body(label: str, index: int) -> dict[str, Any]:
    return {
        "command": ["true"],
        "name": f"bench-{label}-{index}",
        "cpus": MAX_CPUS,  # more than any pool has: accepted, never placed
        "memory": "1G",
    }


class Conn:
    """One keep-alive HTTP/1.1 connection from the standard library. The load generator
    shares the 2 cores with the server, so it must be cheap: http.client costs a fraction
    of httpx per request, leaving the CPU to the server being measured."""

    def __init__(self, url: str, token: str) -> None:
        parsed = urllib.parse.urlsplit(url)
        self.conn = http.client.HTTPConnection(
            parsed.hostname or "127.0.0.1", parsed.port, timeout=30
        )
        self.headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    def post(self, path: str, body: bytes) -> tuple[int, bytes]:
        self.conn.request("POST", path, body=body, headers=self.headers)
        resp = self.conn.getresponse()
        return resp.status, resp.read()

    def close(self) -> None:
        self.conn.close()


def worker(http_conn: Conn, phase: Phase, start: threading.Barrier) -> None:
    latencies: list[float] = []
    ids: list[str] = []
    start.wait()
    try:
        while (index := phase.take()) is not None:
            body = json.dumps(job_body(phase.label, index)).encode()
            t0 = time.perf_counter()
            status, data = http_conn.post("/v1/jobs", body)
            latencies.append(time.perf_counter() - t0)
            if status != 201:
                raise BenchError(f"POST /v1/jobs answered {status}, not 201: {data[:500]!r}")
            job = json.loads(data)
            if job.get("status") != "PENDING":
                raise BenchError(f"a new job is {job.get('status')!r}, not PENDING: {job}")
            ids.append(str(job["id"]))
    except Exception as exc:
        with phase.lock:
            phase.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        with phase.lock:
            phase.latencies.extend(latencies)
            phase.job_ids.extend(ids)


def run_phase(clients: list[Conn], total: int, label: str) -> tuple[Phase, float]:
    """Submit `total` jobs from one thread per client; return the phase and its wall time."""
    phase = Phase(total, label)
    if total <= 0:
        return phase, 0.0
    start = threading.Barrier(len(clients) + 1)
    threads = [
        threading.Thread(target=worker, args=(c, phase, start), name=f"client-{i}", daemon=True)
        for i, c in enumerate(clients)
    ]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if phase.errors:
        raise BenchError(f"{label}: {phase.errors[0]}")
    if len(phase.job_ids) != total:
        raise BenchError(f"{label}: {len(phase.job_ids)} of {total} submissions came back")
    return phase, wall


def verify_pending(http: httpx.Client, expected: set[str]) -> int:
    """Page through PENDING jobs; return how many of `expected` are there."""
    found = 0
    cursor: int | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"status": "PENDING", "limit": PAGE}
        if cursor is not None:
            params["cursor"] = cursor
        resp = http.get("/v1/jobs", params=params)
        if resp.status_code != 200:
            raise BenchError(f"GET /v1/jobs answered {resp.status_code}: {resp.text[:500]}")
        page = resp.json()
        pages += 1
        for item in page["items"]:
            if item["id"] in expected and item["status"] == "PENDING":
                found += 1
        cursor = page.get("next_cursor")
        if cursor is None:
            break
    log(f"verified over {pages} page(s): {found} of {len(expected)} jobs PENDING")
    return found


# --- Slurm ------------------------------------------------------------------------------


def time_sbatch(sbatch: str, count: int) -> dict[str, Any]:
    """Time `count` sequential `sbatch --parsable --wrap true`; cancel them afterwards."""
    log(f"timing {count} sequential `sbatch --parsable --wrap true` submissions")
    latencies: list[float] = []
    ids: list[str] = []
    t0 = time.perf_counter()
    try:
        for _ in range(count):
            s0 = time.perf_counter()
            done = subprocess.run(
                [sbatch, "--parsable", "--output", "/dev/null", "--wrap", "true"],
                capture_output=True,
                text=True,
                check=False,
            )
            latencies.append(time.perf_counter() - s0)
            if done.returncode != 0:
                raise BenchError(
                    f"sbatch exited with status {done.returncode}: {done.stderr.strip()[:500]}"
                )
            ids.append(done.stdout.strip().split(";", 1)[0])
        wall = time.perf_counter() - t0
    finally:
        scancel = shutil.which("scancel")
        if scancel and ids:
            for i in range(0, len(ids), 500):
                subprocess.run([scancel, *ids[i : i + 500]], capture_output=True, check=False)
    latencies.sort()
    return {
        "sbatch_jobs_per_s": round(count / wall, 1),
        "sbatch_p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "sbatch_p99_ms": round(percentile(latencies, 99) * 1000, 2),
    }


# --- main -------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=2000, help="counted submissions")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--warmup", type=int, default=50, help="submissions not counted")
    parser.add_argument(
        "--database-url",
        default=None,
        help="SUANLI_DATABASE_URL for the server (e.g. postgresql://...); default SQLite",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary data dir")
    parser.add_argument(
        "--sbatch-jobs", type=int, default=2000, help="sbatch submissions to time, if Slurm"
    )
    args = parser.parse_args(argv)
    if args.jobs < 1 or args.clients < 1 or args.warmup < 0 or args.sbatch_jobs < 1:
        parser.error("--jobs, --clients and --sbatch-jobs must be >= 1, --warmup >= 0")
    return args


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="suanli-bench-submit-"))
    server: Server | None = None
    clients: list[Conn] = []
    try:
        server = start_server(work, args.database_url)
        clients = [Conn(server.url, server.token) for _ in range(args.clients)]
        if args.warmup:
            log(f"warm-up: {args.warmup} submissions")
            warm, _ = run_phase(clients, args.warmup, "warmup")
        else:
            warm = Phase(0, "warmup")
        log(f"submitting {args.jobs} jobs from {args.clients} client(s)")
        cpu_before = process_cpu_s(server.proc.pid)
        counted, wall = run_phase(clients, args.jobs, "counted")
        server_cpu = process_cpu_s(server.proc.pid) - cpu_before
        latencies = sorted(counted.latencies)
        result: dict[str, Any] = {
            "bench": "submit",
            "jobs_per_s": round(args.jobs / wall, 1),
            "p50_ms": round(percentile(latencies, 50) * 1000, 2),
            "p99_ms": round(percentile(latencies, 99) * 1000, 2),
            "max_ms": round(latencies[-1] * 1000, 2),
            "clients": args.clients,
            "jobs": args.jobs,
            "warmup": args.warmup,
            "wall_s": round(wall, 3),
            "server_cpu_ms_per_job": round(server_cpu / args.jobs * 1000, 3),
            "database": database_kind(args.database_url),
        }
        log(f"{result['jobs_per_s']} jobs/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms")
        submitted = set(warm.job_ids) | set(counted.job_ids)
        if len(submitted) != args.warmup + args.jobs:
            raise BenchError(
                f"{args.warmup + args.jobs} submissions returned only {len(submitted)} "
                "distinct job ids"
            )
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {server.token}"}, timeout=30.0
        ) as checker:
            verified = verify_pending(checker, submitted)
        result["verified"] = verified
        if verified != len(submitted):
            raise BenchError(
                f"only {verified} of {len(submitted)} submitted jobs are listed as PENDING"
            )
        sbatch = shutil.which("sbatch")
        if sbatch:
            try:
                result.update(time_sbatch(sbatch, args.sbatch_jobs))
            except BenchError as exc:  # Slurm present but not usable: keep our figures
                log(f"sbatch failed: {exc}")
                result["sbatch"] = f"failed: {str(exc)[:200]}"
            else:
                result["ratio_vs_sbatch"] = round(
                    result["jobs_per_s"] / result["sbatch_jobs_per_s"], 2
                )
        else:
            result["sbatch"] = "not installed"
        return result
    finally:
        for c in clients:
            c.close()
        if server is not None:
            stop_server(server)
        if args.keep:
            log(f"kept {work} (data dir {work / 'data'})")
        else:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        result = run(args)
    except BenchError as exc:
        log(f"error: {exc}")
        return 1
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
