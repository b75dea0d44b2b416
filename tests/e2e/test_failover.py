"""Failover across clusters, for real (issue 6): two clusters in two regions, each with
its own `suanli agent` process. SIGKILL one agent while 20 jobs run on its cluster: within
two heartbeat deadlines every job is running or queued on the other cluster; restart the
killed agent: it re-adopts its engine's tasks, is told to abandon them, stops them, and
no job has two successful runs or usage counted twice."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from suanli.sdk.client import Client
from tests.e2e.harness import MARKER_ENV, Server, process_alive, suanli_argv
from tests.e2e.test_cli_acceptance import submit, wait_terminal

DEADLINE_S = 4.0
JOBS = 20
# Attempt 1 outlives the kill and the agent's restart; a requeued attempt ends quickly.
PROGRAM = "import os, time; time.sleep(90 if os.environ['SUANLI_ATTEMPT'] == '1' else 2)"


class Agents:
    """`suanli agent` processes of one server, started with its marker (so that the
    server's teardown kills whatever they leave)."""

    def __init__(self, srv: Server) -> None:
        self.srv = srv
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, cluster: str, token: str) -> subprocess.Popen[bytes]:
        root = self.srv.root / f"agent-{cluster}"
        root.mkdir(exist_ok=True)
        argv = [
            *suanli_argv(),
            "agent",
            "--url",
            self.srv.url,
            "--state-dir",
            str(root / "engine"),
            "--jobs-root",
            str(self.srv.jobs_root),
            "--declare",
            f"cpus={JOBS},memory=64G",
            "--hostname",
            f"node-{cluster}",
            "--heartbeat-s",
            "1",
            "--no-calibrate",
            "--log-file",
            str(root / "agent.log"),
        ]
        # the token in the environment, never on the command line (ps shows that to all)
        env = {**self.srv.env, MARKER_ENV: self.srv.marker, "SUANLI_AGENT_TOKEN": token}
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()


@pytest.fixture
def srv(make_server: Callable[[], Server]) -> Server:
    server = make_server()
    server.start("--heartbeat-deadline", str(DEADLINE_S))
    server.wait_ready()
    return server


@pytest.fixture
def agents(srv: Server) -> Iterator[Agents]:
    a = Agents(srv)
    try:
        yield a
    finally:
        a.stop_all()


def operator(srv: Server, *args: str) -> str:
    """Run an operator command (`suanli up` saved the operator token in the config)."""
    rc, out, err = srv.cli(*args)
    assert rc == 0, f"`suanli {' '.join(args)}` failed ({rc}): {err}"
    return out


def cluster_state(srv: Server, cluster: str) -> dict[str, Any]:
    for c in srv.cli_json("pool"):
        if c["id"] == cluster:
            return dict(c)
    raise AssertionError(f"no cluster {cluster}")


def wait_until(probe: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll `probe`; return the seconds it took; fail after `timeout`."""
    began = time.monotonic()
    while not probe():
        if time.monotonic() - began > timeout:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)
    return time.monotonic() - began


def test_killed_agent_jobs_move_to_another_cluster_and_run_once(
    srv: Server, agents: Agents
) -> None:
    for region in ("east", "west"):
        operator(srv, "region", "add", region)
    operator(srv, "provider", "add", "acme")
    tokens = {
        name: operator(
            srv, "cluster", "add", name, "--provider", "acme", "--region", region
        ).strip()
        for name, region in (("a", "east"), ("b", "west"))
    }
    agent_a = agents.start("a", tokens["a"])
    wait_until(lambda: cluster_state(srv, "a")["state"] == "READY", 30, "cluster a READY")

    # prefer east (cluster a), fall back to west (b); never the server's own local cluster
    jobs = [
        submit(
            srv,
            "--region",
            "east",
            "--region",
            "west",
            "--memory",
            "64M",
            "--",
            "python3",
            "-c",
            PROGRAM,
        )
        for _ in range(JOBS)
    ]

    api = Client(srv.url, srv.token())  # probes go straight to the API: the CLI is slow

    def current() -> dict[str, dict[str, Any]]:
        return {j["id"]: j for j in api.jobs(limit=200)["items"] if j["id"] in jobs}

    def all_on_a_running() -> bool:
        now = current()
        return all(now[j]["status"] == "RUNNING" and now[j]["cluster_id"] == "a" for j in jobs)

    wait_until(all_on_a_running, 60, "20 jobs running on a")
    agents.start("b", tokens["b"])
    wait_until(lambda: cluster_state(srv, "b")["state"] == "READY", 30, "cluster b READY")

    agent_a.kill()  # SIGKILL: the agent only; its engine's tasks keep running
    agent_a.wait(10)
    killed = time.monotonic()

    def moved() -> bool:
        now = current()
        return all(now[j]["cluster_id"] != "a" or now[j]["status"] == "PENDING" for j in jobs)

    wait_until(moved, 4 * DEADLINE_S, "every job to leave cluster a")
    took = time.monotonic() - killed
    # the acceptance bound: two heartbeat deadlines (the probe's own latency included)
    assert took <= 2 * DEADLINE_S, f"{took:.1f} s to requeue them all"
    print(f"all {JOBS} jobs left cluster a {took:.1f} s after its agent was killed")
    assert cluster_state(srv, "a")["state"] == "UNREACHABLE"

    # the killed agent comes back: its engine still runs every attempt 1
    engine_dir = srv.root / "agent-a" / "engine"
    pids = [json.loads((engine_dir / f"{j}.1" / "state.json").read_text())["pid"] for j in jobs]
    assert all(process_alive(p) for p in pids), "attempts on a died with their agent"
    agents.start("a", tokens["a"])
    wait_until(lambda: not any(process_alive(p) for p in pids), 30, "a to stop its abandoned tasks")

    finals = [wait_terminal(srv, j, timeout=90) for j in jobs]
    for job in finals:
        assert job["status"] == "SUCCEEDED", json.dumps(job, indent=1)
        statuses = [a["status"] for a in job["attempts"]]
        assert statuses.count("SUCCEEDED") == 1, statuses
        assert statuses[0] == "LOST" and job["attempts"][0]["cluster_id"] == "a", statuses
        assert job["attempts"][-1]["cluster_id"] == "b"
        # each attempt metered once: the lost one up to its agent's last heartbeat
        assert job["usage"]["attempts_metered"] == len(job["attempts"])
        lost = job["attempts"][0]
        assert lost["ended_at"] is not None
    # nothing of attempt 1 is left running anywhere
    assert not [p for p in pids if process_alive(p)]


def test_the_demo_pool_places_across_regions(make_server: Callable[[], Server]) -> None:
    srv = make_server()
    srv.start("--demo")
    srv.wait_ready()
    api = Client(srv.url, srv.token())
    demo = {"bj-a100", "zz-h100", "gy-t4"}

    def ready() -> bool:
        states = {c["id"]: c["state"] for c in api.clusters()}
        return all(states.get(c) == "READY" for c in demo)

    wait_until(ready, 60, "the demo clusters to be READY")
    job = submit(srv, "--gpus", "T4:1", "--", "python3", "-c", "print(42)")
    done = wait_terminal(srv, job, timeout=60)
    assert done["status"] == "SUCCEEDED", json.dumps(done, indent=1)
    assert done["cluster_id"] == "gy-t4" and done["attempts"][-1]["region_id"] == "guiyang"
    rc, out, _ = srv.cli("logs", job)
    assert (rc, out) == (0, "42\n")
