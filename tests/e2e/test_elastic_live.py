"""Elastic jobs in the live service, end to end (issue 14): a real `suanli up --demo`, its
agent processes and local engines, the real CLI. An elastic job (1-8 members of one T4,
asking for 2) starts beside a blocker on Guiyang's eight T4s, grows onto the six GPUs
the blocker leaves when it ends, and gives them back when another job waits for four of
them, as it does in the simulator (tests/services/test_live_elastic.py steps the same
story by hand; tests/simulation has it on traces).

The resize cooldown is 2 s here (`--resize-cooldown`) instead of 30 min, so that the
story takes seconds; everything else is as an operator runs it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from suanli.sdk.client import Client
from tests.e2e.cli import js, ok, wait_status
from tests.e2e.harness import Server

TIMEOUT_S = 90.0
"""Each step: a few scheduler periods, a preemption grace, an agent's heartbeats."""

LONG = "import time; time.sleep(3600)"
"""The elastic job's program: runs until stopped (SIGTERM ends it at once, as a job
that checkpoints on SIGTERM would)."""


def _t4(attempt: dict[str, Any]) -> int:
    return int(attempt["allocation"]["gpus"].get("T4", 0))


def _wait(srv: Server, job_id: str, what: str, check: Callable[[dict[str, Any]], bool]) -> Any:
    """Poll `suanli job ID --json` until `check` holds; fail with the job after TIMEOUT_S."""
    deadline = time.monotonic() + TIMEOUT_S
    while not check(job := js(srv, None, "job", job_id)):
        assert time.monotonic() < deadline, (what, job, srv.diagnostics())
        time.sleep(0.3)
    return job


def _running_on(job: dict[str, Any], gpus: int) -> bool:
    attempts = job["attempts"]
    return job["status"] == "RUNNING" and bool(attempts) and _t4(attempts[-1]) == gpus


def test_an_elastic_job_grows_onto_idle_gpus_and_gives_them_back(
    make_server: Callable[[], Server],
) -> None:
    srv = make_server()
    srv.start("--demo", "--resize-cooldown", "2")
    srv.wait_ready()
    _wait_demo_ready(srv)
    user = srv.token()

    blocker = ok(srv, None, "submit", "--gpus", "T4:6", "--time", "10m", "--", "sleep", "6")
    blocker = blocker.strip()
    wait_status(srv, user, blocker, "RUNNING", timeout_s=TIMEOUT_S)
    elastic = ok(
        srv, None, "submit", "--gpus", "T4:1", "--gang", "2", "--min-gang", "1",
        "--max-gang", "8", "--time", "10h", "--", "python3", "-c", LONG,
    ).strip()  # fmt: skip
    started = _wait(srv, elastic, "start on the two free T4s", lambda j: _running_on(j, 2))
    assert started["cluster_id"] == "gy-t4"

    # the blocker ends: six T4s fall idle and nobody waits for them
    assert wait_status(srv, user, blocker, "SUCCEEDED", timeout_s=TIMEOUT_S)
    grown = _wait(srv, elastic, "grow onto the idle T4s", lambda j: _running_on(j, 8))
    assert len(grown["attempts"]) >= 2
    stopped = grown["attempts"][-2]
    assert _t4(stopped) == 2 and "Resizing elastic job" in stopped["reason"], stopped

    # another job waits for four T4s: the elastic job shrinks back to the two it asked for
    newcomer = ok(
        srv, None, "submit", "--gpus", "T4:4", "--time", "10m", "--", "python3", "-c",
        "print('ran')",
    ).strip()  # fmt: skip
    done = wait_status(srv, user, newcomer, "SUCCEEDED", timeout_s=TIMEOUT_S)
    assert done["cluster_id"] == "gy-t4"
    after = js(srv, None, "job", elastic)
    sizes = [_t4(a) for a in after["attempts"]]
    assert sizes[:3] == [2, 8, 2], sizes
    assert "other jobs wait for GPUs" in after["attempts"][1]["reason"], after["attempts"]
    assert after["attempts"][2]["started_at"] is not None  # it ran on, with two

    ok(srv, None, "cancel", elastic)
    assert wait_status(srv, user, elastic, "CANCELLED", timeout_s=TIMEOUT_S)


def _wait_demo_ready(srv: Server) -> None:
    api = Client(srv.url, srv.token())
    deadline = time.monotonic() + 60
    while True:
        states = {c["id"]: c["state"] for c in api.clusters()}
        if states.get("gy-t4") == "READY":
            return
        assert time.monotonic() < deadline, (states, srv.diagnostics())
        time.sleep(0.5)
