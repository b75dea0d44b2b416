"""Acceptance tests of the `suanli` CLI against a real `suanli up`: real processes, no mocks.

The shared server (module scope) serves the tests that leave it running; the restart
tests each own a server that they SIGKILL and start again on the same data dir and port.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import shlex
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import Server, all_pids, cmdline, parse_time, process_alive

JOB_ID = re.compile(r"j-[0-9a-z]+")
TERMINAL = frozenset({"SUCCEEDED", "FAILED", "CANCELLED"})
JOB_KEYS = {"id", "status", "exit_code", "started_at", "ended_at", "reason", "usage"}
Job = dict[str, Any]


# ---- helpers ------------------------------------------------------------------------------


def submit(srv: Server, *args: str) -> str:
    """`suanli submit ARGS`; asserts that stdout is the job id alone, on one line."""
    rc, out, err = srv.cli("submit", *args)
    assert rc == 0, f"submit {args} failed ({rc}): {err}"
    assert out.endswith("\n") and out.count("\n") == 1, f"stdout is not one line: {out!r}"
    job_id = out.strip()
    assert JOB_ID.fullmatch(job_id), f"stdout is not a job id: {out!r}"
    return job_id


def get_job(srv: Server, job_id: str) -> Job:
    data: Job = srv.cli_json("job", job_id)
    return data


def list_jobs(srv: Server) -> list[Job]:
    data = srv.cli_json("jobs")
    assert isinstance(data, list), data
    return data


def wait_job(
    srv: Server, job_id: str, until: Callable[[Job], bool], what: str, timeout: float = 30.0
) -> Job:
    """Poll `suanli job ID --json` until `until` holds; fail with the last answer."""
    deadline = time.monotonic() + timeout
    while True:
        job = get_job(srv, job_id)
        if until(job):
            return job
        if time.monotonic() > deadline:
            pytest.fail(
                f"job {job_id} did not reach {what} within {timeout:g} s; last seen: "
                f"{json.dumps(job, indent=1)}\n{srv.diagnostics()}"
            )
        time.sleep(0.1)


def wait_status(srv: Server, job_id: str, *statuses: str, timeout: float = 30.0) -> Job:
    return wait_job(
        srv, job_id, lambda j: j["status"] in statuses, "/".join(statuses), timeout=timeout
    )


def wait_terminal(srv: Server, job_id: str, timeout: float = 30.0) -> Job:
    return wait_status(srv, job_id, *TERMINAL, timeout=timeout)


def live_pids_with_argv(argv: list[str]) -> list[int]:
    return [p for p in all_pids() if cmdline(p) == argv and process_alive(p)]


def wait_gone(pid: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while process_alive(pid):
        assert time.monotonic() < deadline, f"process {pid} still alive after {timeout:g} s"
        time.sleep(0.02)


def read_json_file(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def unique_sleep_seconds() -> str:
    """An argument for sleep(1) that no other process on this machine uses."""
    return f"600.{random.randrange(10**8):08d}"


# ---- 1-3: a job's life on the shared server --------------------------------------------------


def test_submit_print_succeeds_with_logs_times_and_usage(server: Server) -> None:
    job_id = submit(server, "--", "python3", "-c", "print(42)")

    job = wait_terminal(server, job_id)
    assert job["status"] == "SUCCEEDED", job
    assert job["exit_code"] == 0
    assert job["reason"], "a finished job says why"
    started, ended = parse_time(job["started_at"]), parse_time(job["ended_at"])
    assert started.tzinfo is not None and ended.tzinfo is not None
    assert started <= ended
    usage = job["usage"]
    assert usage["attempts_metered"] == 1
    # metered to the millisecond: both ends truncated to the ms
    wall_ms = math.floor(ended.timestamp() * 1000) - math.floor(started.timestamp() * 1000)
    assert usage["wall_seconds"] == wall_ms / 1000, (usage, job["started_at"], job["ended_at"])
    assert usage["wall_seconds"] > 0  # a sub-second job is not free

    rc, out, err = server.cli("logs", job_id)
    assert rc == 0, err
    assert out == "42\n"

    rows = [r for r in server.cli_json("usage", "--by", "job") if r["key"] == job_id]
    assert rows, "usage --by job has no rows for the job"
    by_dim = {r["dimension"]: r for r in rows}
    assert "cpu" in by_dim, rows
    assert by_dim["cpu"]["seconds"] == wall_ms / 1000
    assert by_dim["cpu"]["jobs"] == 1
    assert by_dim["cpu"]["amount"] == pytest.approx(job["resources"]["cpus"] * wall_ms / 1000)


def test_usage_is_seconds_times_units_times_rating(server: Server) -> None:
    """Metering acceptance: a job that ran N s on K units shows N x K x rating standard
    units, in `suanli job ID --json` and in `suanli usage`; the node was calibrated by
    its agent at registration, so its cores are rated."""
    job_id = submit(server, "--cpus", "1", "--sector", "research", "--", "sleep", "1.5")
    job = wait_status(server, job_id, "SUCCEEDED")
    usage = job["usage"]
    rating = usage["ratings"]["cpu"]
    assert rating and rating > 0, usage
    seconds = usage["wall_seconds"]
    assert seconds >= 1
    assert math.isclose(usage["standard_units"], seconds * 1 * rating / 3600, rel_tol=1e-9)
    assert job["workload_class"] == "general" and job["sector"] == "research"
    rows = server.cli_json("usage", "--by", "job")
    (cpu,) = [r for r in rows if r["key"] == job_id and r["dimension"] == "cpu"]
    assert math.isclose(cpu["standard_units"], usage["standard_units"], rel_tol=1e-9)
    assert cpu["seconds"] == seconds
    pool = server.cli_json("pool")
    node = pool[0]["nodes"][0]
    assert node["calibration"]["cpu_fp32_gflops"] > 0
    assert math.isclose(node["ratings_pflops"]["general"]["cpu"], rating, rel_tol=1e-9)


def test_units_lists_the_catalog(server: Server) -> None:
    doc = server.cli_json("units")
    assert len(doc["devices"]) >= 20 and all(d["source"] for d in doc["devices"])
    bf16 = {d["model"]: d["fp16_bf16_tflops"] for d in doc["devices"]}
    assert abs(bf16["H100"] - 989) / 989 < 0.02 and abs(bf16["A100-80GB"] - 312) / 312 < 0.02


def test_nonzero_exit_fails_with_its_code(server: Server) -> None:
    job_id = submit(server, "--", "python3", "-c", "import sys; sys.exit(3)")

    job = wait_terminal(server, job_id)
    assert job["status"] == "FAILED", job
    assert job["exit_code"] == 3
    assert "3" in job["reason"], job["reason"]


def test_cancel_running_job_stops_it_within_5_s(server: Server) -> None:
    seconds = unique_sleep_seconds()
    job_id = submit(server, "--", "sleep", seconds)
    wait_status(server, job_id, "RUNNING")
    assert live_pids_with_argv(["sleep", seconds]), "the job's sleep is not running"

    t0 = time.monotonic()
    rc, _, err = server.cli("cancel", job_id, "--wait", timeout=15)
    elapsed = time.monotonic() - t0  # `cancel --wait` returns once the job has ended
    assert rc == 0, err
    job = get_job(server, job_id)
    assert job["status"] == "CANCELLED", job
    assert elapsed <= 5.0, f"cancel --wait took {elapsed:.1f} s"
    assert job["cancel_requested"] is True
    assert not live_pids_with_argv(["sleep", seconds]), "the cancelled job's process remains"


# ---- 5-6: bad input, pool and job listings on the shared server ----------------------------


BAD_INPUT: list[tuple[list[str], list[str]]] = [
    (["submit", "--gpus", "FOO:1", "--", "true"], ["FOO"]),
    (["submit", "--cpus", "-1", "--", "true"], ["cpus", "-1"]),
    (["submit", "--memory", "4X", "--", "true"], ["memory", "4X"]),
    (["submit", "--"], ["command"]),
    (["job", "j-doesnotexist"], ["j-doesnotexist"]),
]
"""Commands that must fail, and what their stderr must name."""


def test_bad_cli_input_is_refused_and_writes_nothing(server: Server) -> None:
    before = len(list_jobs(server))
    problems: list[str] = []
    for args, needles in BAD_INPUT:
        rc, out, err = server.cli(*args)
        if rc == 0:
            problems.append(f"{args}: exit code 0")
        if out:
            problems.append(f"{args}: printed on stdout: {out!r}")
        if "Traceback" in err:
            problems.append(f"{args}: traceback on stderr: {err!r}")
        missing = [n for n in needles if n.lower() not in err.lower()]
        if missing:
            problems.append(f"{args}: stderr does not name {missing}: {err!r}")
    assert not problems, "\n".join(problems)
    assert len(list_jobs(server)) == before, "a refused command created a job"


def _assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "Traceback" not in response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["detail"]
    return body


def test_http_errors_are_problem_documents(server: Server) -> None:
    before = len(list_jobs(server))
    auth = {"Authorization": f"Bearer {server.token()}"}
    with httpx.Client(base_url=server.url, timeout=10) as http:
        bad_json = http.post(
            "/v1/jobs",
            content=b'{"command": ["true"], ',
            headers={**auth, "Content-Type": "application/json"},
        )
        no_token = http.get("/v1/jobs")
        unknown = http.get("/v1/jobs/j-doesnotexist", headers=auth)

    assert "json" in _assert_problem(bad_json, 422)["detail"].lower()
    _assert_problem(no_token, 401)
    _assert_problem(unknown, 404)
    assert len(list_jobs(server)) == before


def test_pool_and_jobs_json(server: Server) -> None:
    url_lines = (server.logs_dir / "up-1.stdout").read_text().splitlines()
    assert url_lines == [server.url], "`suanli up` prints its URL alone on stdout"
    assert read_json_file(server.config_path)["url"] == server.url

    clusters = server.cli_json("pool")
    local = next((c for c in clusters if c["id"] == "local"), None)
    assert local is not None, clusters
    assert local["state"] == "READY"
    assert local["nodes"], "the local cluster has no nodes"
    for part in (local, *local["nodes"]):
        for key in ("capacity", "used", "free"):
            assert {"cpus", "memory_mb", "gpus"} <= set(part[key]), part[key]
        assert part["capacity"]["cpus"] > 0
        assert part["free"]["cpus"] == pytest.approx(
            part["capacity"]["cpus"] - part["used"]["cpus"]
        )

    wait_terminal(server, submit(server, "--name", "listed", "--", "true"))
    jobs = list_jobs(server)
    assert jobs, "jobs --json is empty after a submit"
    for job in jobs:
        assert set(job) >= JOB_KEYS, sorted(JOB_KEYS - set(job))
        assert JOB_ID.fullmatch(job["id"])


# ---- 4: restarts ----------------------------------------------------------------------------


def test_restart_readopts_running_job_and_keeps_the_queue(
    make_server: Callable[[], Server],
) -> None:
    srv = make_server()
    srv.start()
    cpus = srv.wait_ready()["capacity"]["cpus"]

    # The first job fills the machine and runs until the test opens its gate (at most 120 s),
    # so that the kill and restart below never race its end; it prints before the kill and
    # after the restart, so its log shows whether it ran once, whole.
    gate = srv.root / "gate-open"
    script = (
        f"echo begin; i=0; while [ ! -e {shlex.quote(str(gate))} ] && [ $i -lt 1200 ]; "
        "do sleep 0.1; i=$((i+1)); done; echo end"
    )
    big = submit(srv, "--cpus", f"{cpus:g}", "--name", "big", "--", "sh", "-c", script)
    wait_status(srv, big, "RUNNING")
    short = submit(srv, "--name", "short", "--", "python3", "-c", "print('short')")
    other = submit(srv, "--name", "other", "--", "sleep", "1")
    queued = {big: "RUNNING", short: "PENDING", other: "PENDING"}
    before = {j["id"]: j["status"] for j in list_jobs(srv)}
    assert before == queued, before
    job_pid = read_json_file(srv.data_dir / "engine" / f"{big}.1" / "state.json")["pid"]

    srv.kill()
    assert process_alive(job_pid), "the running job died with `up`"
    srv.start()
    srv.wait_ready()

    after = {j["id"]: (j["status"], j["attempt"]) for j in list_jobs(srv)}
    assert after == {big: ("RUNNING", 1), short: ("PENDING", 0), other: ("PENDING", 0)}, after
    gate.touch()
    finals = {job_id: wait_terminal(srv, job_id, timeout=40) for job_id in (big, short, other)}
    for job in finals.values():
        assert job["status"] == "SUCCEEDED", json.dumps(job, indent=1)
    assert finals[big]["attempt"] == 1, "the running job ran twice"
    assert len(finals[big]["attempts"]) == 1
    assert finals[big]["usage"]["attempts_metered"] == 1
    assert not [e for e in finals[big]["events"] if e["to_status"] == "LOST"]
    rc, out, err = srv.cli("logs", big)
    assert (rc, out) == (0, "begin\nend\n"), err
    assert {big, short, other} <= {j["id"] for j in list_jobs(srv)}


def test_restart_after_shim_and_job_died_reports_lost(
    make_server: Callable[[], Server],
) -> None:
    srv = make_server()
    srv.start()
    srv.wait_ready()
    # Attempt 1 sleeps long (it is killed); a requeued attempt ends at once.
    program = "import os, time; time.sleep(600 if os.environ['SUANLI_ATTEMPT'] == '1' else 0)"
    job_id = submit(srv, "--", "python3", "-c", program)
    wait_status(srv, job_id, "RUNNING")
    task_dir = srv.data_dir / "engine" / f"{job_id}.1"
    # RUNNING is reported once the job has started, when its process group is recorded
    state = read_json_file(task_dir / "state.json")
    assert state.get("pgid") is not None, state
    shim_pid, job_pgid = state["shim_pid"], state["pgid"]
    shim_argv = cmdline(shim_pid)
    assert "suanli.adapters.engines.local_shim" in shim_argv, shim_argv
    assert str(task_dir) in shim_argv, shim_argv

    srv.kill()
    os.kill(shim_pid, signal.SIGKILL)
    wait_gone(shim_pid)
    os.killpg(job_pgid, signal.SIGKILL)
    wait_gone(state["pid"])
    srv.start()
    srv.wait_ready()

    def settled(job: Job) -> bool:
        lost = any(e["to_status"] == "LOST" for e in job["events"])
        return lost and (job["status"] in TERMINAL or job["attempt"] >= 2)

    job = wait_job(srv, job_id, settled, "LOST, then requeued or FAILED")
    lost = next(e for e in job["events"] if e["to_status"] == "LOST")
    assert lost["attempt"] == 1
    assert re.search(r"supervisor|shim", lost["reason"], re.IGNORECASE), lost["reason"]
    assert job["attempts"][0]["status"] == "LOST", job["attempts"]
    if job["status"] == "FAILED":
        assert job["reason"], job
    else:
        assert job["attempt"] == 2, job
        assert any("requeue" in e["reason"].lower() for e in job["events"]), job["events"]
        job = wait_terminal(srv, job_id)
        assert job["status"] == "SUCCEEDED", json.dumps(job, indent=1)
    assert job_id in {j["id"] for j in list_jobs(srv)}
