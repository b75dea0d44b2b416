"""The engine contract (tests/engines/contract.py) on the Ray engine, against a real Ray head
that scripts/ensure-ray.sh installs and starts (127.0.0.1, 2 CPUs, 4 fake GPUs declared as
`GPU` and `GPU_H100`); plus what is particular to Ray: quoting through Ray's shell, the
status mapping, adoption by a new engine instance, cancelling a job Ray keeps PENDING.

A missing or broken Ray fails the `ray_address` fixture with the script's output: these
tests never skip.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.engines.contract import PY, EngineContract, final, running, stdout_of, task, wait_for

from suanli.adapters.clock import SystemClock
from suanli.adapters.engines import ray_status
from suanli.adapters.engines import suanli_ray_runner as runner
from suanli.adapters.engines.ray import (
    RUNNER_DIR,
    RayEngine,
    entrypoint,
    gpu_request,
    node_of,
    submission_id,
)
from suanli.domain.jobs import JobStatus
from suanli.ports.engine import Engine, EngineError

REPO = Path(__file__).resolve().parents[2]
# A cold machine installs Ray (~30 s) and starts the head (~10 s) in the first fixture.
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="session")
def ray_address() -> str:
    """The Job API of the head scripts/ensure-ray.sh starts (or finds running)."""
    done = subprocess.run(
        [str(REPO / "scripts" / "ensure-ray.sh"), "start"],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/ensure-ray.sh start failed:\n{done.stderr[-3000:]}")
    return done.stdout.strip().splitlines()[-1]


def _engine(address: str, state_dir: Path, instance: str) -> RayEngine:
    return RayEngine(address, state_dir, SystemClock(), instance=instance, timeout_grace_s=1)


@pytest.fixture
def engine(ray_address: str, tmp_path: Path) -> Iterator[RayEngine]:
    """An engine of its own instance (it sees only this test's jobs). Afterwards whatever
    still runs is stopped and forgotten: the head has 2 CPUs for every test."""
    eng = _engine(ray_address, tmp_path / "engine", f"t{uuid.uuid4().hex[:10]}")
    yield eng
    for state in eng.known():
        eng.forget(state.engine_job_id)


@pytest.fixture
def gpu_model() -> str:
    return "H100"


def _supervisor_pid(address: str, key: str) -> int | None:
    """Pid of the job's supervisor actor, from Ray's state API."""
    params = {
        "filter_keys": "name",
        "filter_predicates": "=",
        "filter_values": f"_ray_internal_job_actor_{key}",
    }
    body = httpx.get(f"{address}/api/v0/actors", params=params, timeout=10).json()
    for actor in body["data"]["result"]["result"]:
        if actor.get("state") == "ALIVE" and actor.get("pid"):
            return int(actor["pid"])
    return None


@pytest.fixture
def fail_node(ray_address: str) -> Callable[[Engine, str], None]:
    """A Ray node fails as its processes die: the job's supervisor actor (a Ray worker
    process on the node) is SIGKILLed, and Ray's watcher kills the job's process group
    with it. Ray sees the actor die and fails the job (JOB_SUPERVISOR_ACTOR_DIED), as it
    does when a whole node dies. The head keeps running for later tests."""

    def kill(engine: Engine, key: str) -> None:
        pid = wait_for(lambda: _supervisor_pid(ray_address, key), 20.0, f"{key}'s supervisor")
        os.kill(pid, signal.SIGKILL)

    return kill


class TestRayEngineContract(EngineContract):
    timeout_s = 60.0
    limit_timeout_s = 60.0
    time_limit_s = 2


# ---- Ray specifics against the real head ------------------------------------------------


def test_detect_offers_the_heads_cpus_and_fake_gpus(engine: RayEngine) -> None:
    nodes = engine.detect()
    assert len(nodes) == 1, nodes
    capacity = nodes[0].capacity
    assert capacity.cpu_milli == 2000
    assert dict(capacity.gpus) == {"H100": 4}
    assert capacity.memory_mb > 0


def test_a_new_engine_instance_adopts_running_jobs(
    engine: RayEngine, ray_address: str, tmp_path: Path
) -> None:
    t = task(PY, "-c", "import time; time.sleep(600)")
    key = engine.submit(t)
    running(engine, key, 60.0)
    adopter = _engine(ray_address, tmp_path / "engine", engine.instance)
    adopted = {s.engine_job_id: s for s in adopter.known()}
    assert set(adopted) == {key}
    assert (adopted[key].status, adopted[key].job_id, adopted[key].attempt) == (
        JobStatus.RUNNING,
        t.job_id,
        1,
    )
    assert adopted[key].started_at is not None
    stranger = _engine(ray_address, tmp_path / "other", "someone-else")
    assert key not in {s.engine_job_id for s in stranger.known()}
    adopter.cancel(key, grace_s=1.0)
    assert final(adopter, key, 60.0).status == JobStatus.CANCELLED
    assert final(engine, key, 60.0).status == JobStatus.CANCELLED


def test_cancel_delivers_sigterm_before_the_kill(engine: RayEngine) -> None:
    code = (
        "import signal, sys, time\n"
        "def bye(*_):\n"
        "    print('got SIGTERM', flush=True); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n"
    )
    key = engine.submit(task(PY, "-c", code))
    running(engine, key, 60.0)
    wait_for(lambda: b"ready" in engine.read_log(key, "stdout", 0, 100), 30.0, "the job ready")
    engine.cancel(key, grace_s=1.0)
    state = final(engine, key, 60.0)
    assert state.status == JobStatus.CANCELLED, state
    assert stdout_of(engine, key) == "ready\ngot SIGTERM\n"


def test_cancel_of_a_job_whose_resources_never_come(
    engine: RayEngine, ray_address: str, tmp_path: Path
) -> None:
    key = engine.submit(task(PY, "-c", "print('never')", gpus={"H100": 100}))
    state = engine.poll(key)
    assert (state.status, state.started_at) == (JobStatus.RUNNING, None)
    engine.cancel(key, grace_s=1.0)
    state = engine.poll(key)
    assert state.status == JobStatus.CANCELLED, state
    assert state.started_at is None and state.ended_at is not None
    # Ray still has it PENDING; a restarted agent (same state dir) says CANCELLED too.
    info = httpx.get(f"{ray_address}/api/jobs/{key}", timeout=10).json()
    assert info["status"] == "PENDING"
    again = _engine(ray_address, tmp_path / "engine", engine.instance)
    assert again.poll(key).status == JobStatus.CANCELLED


def test_resubmitting_an_attempt_is_refused(engine: RayEngine) -> None:
    t = task(PY, "-c", "pass")
    key = engine.submit(t)
    with pytest.raises(EngineError, match="already submitted"):
        engine.submit(t)
    assert final(engine, key, 60.0).status == JobStatus.SUCCEEDED


def test_a_program_that_cannot_run_fails_with_127(engine: RayEngine) -> None:
    key = engine.submit(task("/no/such/program", "x"))
    state = final(engine, key, 60.0)
    assert (state.status, state.exit_code) == (JobStatus.FAILED, 127), state
    assert "/no/such/program" in state.reason
    assert b"cannot run program" in engine.read_log(key, "stderr", 0, 1000)


def test_working_dir_and_rays_combined_log(
    engine: RayEngine, ray_address: str, tmp_path: Path
) -> None:
    work = tmp_path / "work dir"
    work.mkdir()
    code = "import os, sys; print(os.getcwd()); print('to-err', file=sys.stderr)"
    key = engine.submit(task(PY, "-c", code, working_dir=str(work)))
    assert final(engine, key, 60.0).status == JobStatus.SUCCEEDED
    assert stdout_of(engine, key) == f"{work}\n"
    # Ray's own log of the job still has both streams (what `ray job logs` shows), merged
    # chunk by chunk as they come (the job runs unbuffered: PYTHONUNBUFFERED=1 from Ray).
    logs = httpx.get(f"{ray_address}/api/jobs/{key}/logs", timeout=10).json()["logs"]
    assert str(work) in logs and "to-err" in logs


def test_forget_deletes_the_record_once_rays_monitor_is_done(
    ray_address: str, tmp_path: Path
) -> None:
    """Ray writes the record of a job deleted right after its end again ("supervisor actor
    died"): the engine deletes it `delete_after_s` after the end, and it stays deleted."""
    eng = RayEngine(ray_address, tmp_path, SystemClock(), instance="forget", delete_after_s=3)
    key = eng.submit(task(PY, "-c", "pass"))
    assert final(eng, key, 60.0).status == JobStatus.SUCCEEDED
    eng.forget(key)
    assert key not in {s.engine_job_id for s in eng.known()}

    def gone() -> bool:
        return httpx.get(f"{ray_address}/api/jobs/{key}", timeout=10).status_code == 404

    wait_for(gone, 30.0, f"Ray to delete {key}")
    time.sleep(2.5)
    assert gone(), "Ray wrote the deleted job's record again"
    with pytest.raises(EngineError):
        eng.poll(key)


def test_a_node_without_the_runners_python_fails_the_task(ray_address: str, tmp_path: Path) -> None:
    eng = RayEngine(ray_address, tmp_path, SystemClock(), python="/no/python3", instance="nopy")
    key = eng.submit(task(PY, "-c", "pass"))
    try:
        state = final(eng, key, 60.0)
        assert (state.status, state.exit_code) == (JobStatus.FAILED, 127), state
        assert "/no/python3" in state.reason and "not found" in state.reason, state.reason
    finally:
        eng.forget(key)


# ---- without Ray ---------------------------------------------------------------------------


def _run_runner(tmp_path: Path, sid: str, *args: str) -> tuple[int, dict[str, Any], Path]:
    """Run the runner as Ray's supervisor would: stdout and stderr to the job's driver log
    in a logs dir (here tmp_path/logs), through `/bin/sh -c`. Its exit, record, files."""
    shipped = tmp_path / "py_modules"
    if not shipped.exists():
        shutil.copytree(RUNNER_DIR, shipped / runner.MODULE, ignore=shutil.ignore_patterns("__py*"))
    logs = tmp_path / "logs"
    logs.mkdir(exist_ok=True)
    with (logs / f"job-driver-{sid}.log").open("ab") as driver_log:
        done = subprocess.run(
            ["/bin/sh", "-c", shlex.join([sys.executable, "-m", runner.MODULE, *args])],
            stdout=driver_log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(shipped)},
            cwd=tmp_path,
            timeout=60,
            check=False,
            start_new_session=True,  # as Ray starts entrypoints
        )
    files = logs / runner.FILES_SUBDIR / sid
    record = json.loads((files / runner.RECORD_FILE).read_text())
    return done.returncode, record, files


def test_runner_kills_a_job_that_ignores_sigterm_at_its_time_limit(tmp_path: Path) -> None:
    marker = tmp_path / "grandchild-alive"
    # A grandchild that would outlive the job if only the job were killed.
    grandchild = f"import time; time.sleep(3); open({str(marker)!r}, 'w').close()"
    code = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        f"subprocess.Popen([sys.executable, '-c', {grandchild!r}])\n"
        "print('started', flush=True)\n"
        "time.sleep(600)\n"
    )
    args = ("--id", "limit", "--time-limit", "1", "--grace", "0.5", "--", PY, "-c", code)
    exit_code, record, files = _run_runner(tmp_path, "limit", *args)
    assert (exit_code, record["exit_code"], record["signal"]) == (137, 137, "SIGKILL"), record
    assert record["cause"] == "timeout" and record["reason"].startswith("TIMEOUT: "), record
    assert (files / runner.STDOUT_LOG).read_bytes() == b"started\n"
    time.sleep(3.5)
    assert not marker.exists(), "the job's grandchild outlived it"


def test_runner_keeps_the_streams_apart_and_copies_both_to_rays_log(tmp_path: Path) -> None:
    code = "import sys; sys.stdout.write('o1\\n'); sys.stderr.write('e1\\n'); sys.exit(5)"
    exit_code, record, files = _run_runner(
        tmp_path, "streams", "--id", "streams", "--", PY, "-c", code
    )
    assert (exit_code, record["exit_code"], record["phase"]) == (5, 5, "exited"), record
    assert (files / runner.STDOUT_LOG).read_bytes() == b"o1\n"
    assert (files / runner.STDERR_LOG).read_bytes() == b"e1\n"
    combined = (tmp_path / "logs" / "job-driver-streams.log").read_text()
    assert "o1\n" in combined and "e1\n" in combined
    assert record["started_at"] <= record["ended_at"]
    # The default working directory is a fresh one in the Ray session (logs' parent).
    assert (tmp_path / runner.FILES_SUBDIR / "streams" / "work").is_dir()


TRICKY_ARGV = [
    "a b",
    "",
    "it's",
    '"double"',
    "$HOME",
    "${PATH}",
    "`id`",
    "$(echo pwned)",
    "*",
    "~",
    "-n",
    "--",
    "line1\nline2",
    "back\\slash",
    "tab\there",
    "; echo injected",
    "| cat",
    "&& true",
    "ünïcødé 算力",
]


def test_entrypoint_hands_the_exact_argv_through_rays_shell(tmp_path: Path) -> None:
    """Ray runs the entrypoint with `/bin/sh -c`: the job must see exactly its argv. The
    runner runs here as on a node: a top-level `suanli_ray_runner` on PYTHONPATH."""
    shipped = tmp_path / "py_modules"
    shutil.copytree(RUNNER_DIR, shipped / runner.MODULE, ignore=shutil.ignore_patterns("__py*"))
    code = "import json, sys; print(json.dumps(sys.argv[1:]))"
    t = task(PY, "-c", code, *TRICKY_ARGV)
    command = entrypoint(t, "quoting-test", python=sys.executable, grace_s=1)
    done = subprocess.run(
        ["/bin/sh", "-c", command],
        capture_output=True,
        env={**os.environ, "PYTHONPATH": str(shipped)},
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert json.loads(done.stdout.decode().strip().splitlines()[-1]) == TRICKY_ARGV


def test_submission_ids_come_from_task_keys() -> None:
    assert submission_id("default", "j-abc.2") == "suanli-default-j-abc.2"
    with pytest.raises(EngineError):
        submission_id("default", "../etc.1")


def test_gpu_requests_map_to_rays_gpus_and_model_resources() -> None:
    assert gpu_request(task(PY, gpus={"H100": 2}), "GPU_") == (2, {"GPU_H100": 2.0})
    assert gpu_request(task(PY), "GPU_") == (0, {})
    assert gpu_request(task(PY, gpus={"any": 3}), "GPU_") == (3, {})


def test_nodes_offer_only_gpus_with_a_model_resource() -> None:
    entry: dict[str, Any] = {
        "state": "ALIVE",
        "node_name": "n1",
        "resources_total": {"CPU": 8.0, "GPU": 4.0, "GPU_H100": 2.0, "memory": 2.0**34},
    }
    node = node_of(entry, "GPU_")
    assert node is not None
    assert (node.hostname, node.capacity.cpu_milli, node.capacity.memory_mb) == ("n1", 8000, 16384)
    assert dict(node.capacity.gpus) == {"H100": 2}
    assert node_of({**entry, "state": "DEAD"}, "GPU_") is None
    no_gpus = {**entry, "resources_total": {"CPU": 1.0, "GPU_H100": 2.0}}
    assert dict(node_of(no_gpus, "GPU_").capacity.gpus) == {}  # type: ignore[union-attr]


T0 = 1_795_000_000_000  # ms
STARTED, ENDED = "2026-11-18T00:00:01+00:00", "2026-11-18T00:00:04+00:00"


def _info(status: str, **extra: Any) -> dict[str, Any]:
    return {"status": status, "start_time": T0, "end_time": T0 + 5000, **extra}


def _record(**extra: Any) -> dict[str, Any]:
    return {"phase": "exited", "started_at": STARTED, "ended_at": ENDED, **extra}


@pytest.mark.parametrize(
    ("info", "record", "cancel", "expected"),
    [
        (_info("PENDING", end_time=None), None, None, (JobStatus.RUNNING, None, "")),
        (
            _info("PENDING", end_time=None),
            None,
            {"requested_at": ENDED},
            (JobStatus.CANCELLED, None, "cancelled before it started"),
        ),
        (_info("RUNNING", end_time=None), None, None, (JobStatus.RUNNING, None, "")),
        (
            _info("RUNNING", end_time=None),
            {"phase": "running", "started_at": STARTED},
            None,
            (JobStatus.RUNNING, None, ""),
        ),
        (
            _info("SUCCEEDED"),
            _record(exit_code=0, reason="exited with code 0"),
            None,
            (JobStatus.SUCCEEDED, 0, "exited with code 0"),
        ),
        (
            _info("FAILED", driver_exit_code=143),
            _record(exit_code=143, cause="timeout", reason="TIMEOUT: time limit of 2 s exceeded"),
            None,
            (JobStatus.FAILED, 143, "TIMEOUT: time limit of 2 s exceeded"),
        ),
        (
            _info("SUCCEEDED"),
            _record(exit_code=0, cause="timeout", reason="TIMEOUT: x"),
            None,
            (JobStatus.FAILED, 0, "TIMEOUT: x"),
        ),
        (
            _info(
                "FAILED",
                error_type="JOB_SUPERVISOR_ACTOR_DIED",
                message="Job supervisor actor died: The actor died unexpectedly",
            ),
            {"phase": "running", "started_at": STARTED},
            None,
            (JobStatus.LOST, None, "NODE_FAIL: "),
        ),
        (
            _info(
                "FAILED",
                error_type="RUNTIME_ENV_SETUP_FAILURE",
                message="runtime_env setup failed: boom\ntrace",
            ),
            None,
            None,
            (JobStatus.FAILED, None, "runtime_env setup failed: boom ... trace"),
        ),
        (
            _info(
                "FAILED",
                message="Job entrypoint command failed with exit code 127, last logs:\n"
                "/bin/sh: 1: python3: not found\nRunning entrypoint for job x: python3 -m ...\n",
            ),
            None,
            None,
            (
                JobStatus.FAILED,
                127,
                "Job entrypoint command failed with exit code 127, last logs: ... "
                "/bin/sh: 1: python3: not found",
            ),
        ),
        (_info("STOPPED"), None, None, (JobStatus.CANCELLED, None, "stopped")),
    ],
)
def test_status_mapping(
    info: dict[str, Any],
    record: dict[str, Any] | None,
    cancel: dict[str, Any] | None,
    expected: tuple[JobStatus, int | None, str],
) -> None:
    v = ray_status.verdict(info, record, cancel)
    status, code, reason = expected
    assert (v.status, v.exit_code) == (status, code), v
    assert v.reason.startswith(reason), v.reason
    if v.status == JobStatus.RUNNING:
        assert v.ended_at is None
        assert v.started_at == (ray_status.iso_time(STARTED) if record else None)
    elif v.status != JobStatus.CANCELLED or record is not None:
        assert v.ended_at is not None
    if v.status in (JobStatus.SUCCEEDED, JobStatus.FAILED) and record is not None:
        assert (v.started_at, v.ended_at) == (
            ray_status.iso_time(STARTED),
            ray_status.iso_time(ENDED),
        )
    if status == JobStatus.LOST:
        assert v.started_at == ray_status.iso_time(STARTED)
        assert v.ended_at == datetime.fromtimestamp((T0 + 5000) / 1000, UTC)
