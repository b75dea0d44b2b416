"""The engine contract: every engine (local, Slurm, Ray, Kubernetes) passes these tests.

An engine's test module subclasses `EngineContract` (its name must start with `Test`) and
provides three fixtures:

- `engine`: an `Engine` ready to run tasks, on a real engine (a missing engine fails the
  fixture: it never skips);
- `gpu_model`: a GPU model the engine offers, or None when it offers none (the GPU test
  then checks that the engine does not claim GPUS_BY_MODEL);
- `fail_node`: a callable(engine, engine_job_id) that makes the node running the task
  fail the way that engine's nodes fail (the local engine: its supervisor dies; Slurm: the
  node goes DOWN), or None when the engine cannot lose a node on one machine (the test
  says so and checks nothing else).

Jobs run `job_python` (default `sys.executable`), so they need the engine to run on this
machine (single-node Slurm, a local Ray head); an engine whose jobs run as other users sets
it to `python_every_user_can_run()`. Timeouts are generous: real engines take seconds, and
Slurm checks time limits every 30 s or so (`limit_timeout_s`).
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pytest

from suanli.domain.ids import JobId
from suanli.domain.jobs import JobStatus
from suanli.domain.resources import Resources
from suanli.ports.engine import Capability, Engine, EngineState, EngineTask

PY = sys.executable
T = TypeVar("T")
_seq = iter(range(1, 1 << 30))


def python_every_user_can_run() -> str:
    """`sys.executable` if every user can run it, else the system's python3: jobs that run
    as other users (the local engine as root runs each tenant's jobs as a user of its
    own) cannot reach an interpreter under a private home, such as /root/.pyenv."""
    system = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    for candidate in (sys.executable, system):
        if candidate and _everyone_can_run(Path(os.path.realpath(candidate))):
            return candidate
    return PY


def _everyone_can_run(program: Path) -> bool:
    try:
        return all(p.stat().st_mode & stat.S_IXOTH for p in (program, *program.parents))
    except OSError:
        return False


def wait_for(probe: Callable[[], T | None], timeout: float, what: str) -> T:
    """Poll `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


def task(*argv: str, gpus: dict[str, int] | None = None, **kwargs: Any) -> EngineTask:
    """A task with a fresh job id (engines may keep ids of earlier runs)."""
    job = JobId(f"c-{int(time.time())}-{next(_seq)}")
    return EngineTask(job, 1, tuple(argv), Resources.request(cpus=1, gpus=gpus), **kwargs)


def final(engine: Engine, key: str, timeout: float) -> EngineState:
    def probe() -> EngineState | None:
        state = engine.poll(key)
        return None if state.status == JobStatus.RUNNING else state

    return wait_for(probe, timeout, f"{key} to end")


def running(engine: Engine, key: str, timeout: float) -> EngineState:
    def probe() -> EngineState | None:
        state = engine.poll(key)
        assert state.status in (JobStatus.RUNNING,), f"{key} ended early: {state}"
        return state if state.started_at is not None else None

    return wait_for(probe, timeout, f"{key} to start")


def stdout_of(engine: Engine, key: str) -> str:
    return engine.read_log(key, "stdout", 0, 1 << 20).decode()


class EngineContract:
    """The tests every engine passes (see the module doc for the fixtures)."""

    timeout_s: ClassVar[float] = 60.0
    limit_timeout_s: ClassVar[float] = 120.0
    time_limit_s: ClassVar[int] = 2
    """The limit given in the time-limit test (an engine may round it up: Slurm to 60 s)."""
    job_python: ClassVar[str] = PY
    """The interpreter the test jobs run (stdlib only)."""

    def test_declares_its_name_and_capabilities(self, engine: Engine) -> None:
        assert engine.name and engine.name != "engine"
        assert all(isinstance(c, Capability) for c in engine.capabilities)

    def test_runs_the_argv_as_given_without_a_shell(self, engine: Engine) -> None:
        code = "import sys; print(sys.argv[1:])"
        key = engine.submit(task(self.job_python, "-c", code, "a b", "$HOME", "*"))
        state = final(engine, key, self.timeout_s)
        assert state.status == JobStatus.SUCCEEDED, state
        assert state.exit_code == 0
        assert state.started_at is not None and state.ended_at is not None
        assert state.started_at <= state.ended_at
        assert stdout_of(engine, key) == "['a b', '$HOME', '*']\n"

    def test_reports_the_exit_code_of_a_failure(self, engine: Engine) -> None:
        key = engine.submit(task(self.job_python, "-c", "raise SystemExit(3)"))
        state = final(engine, key, self.timeout_s)
        assert (state.status, state.exit_code) == (JobStatus.FAILED, 3), state

    def test_passes_the_environment(self, engine: Engine) -> None:
        code = "import os; print(os.environ['GREETING'], os.environ['SUANLI_JOB_ID'])"
        t = task(self.job_python, "-c", code, env={"GREETING": "ni hao"})
        key = engine.submit(t)
        assert final(engine, key, self.timeout_s).status == JobStatus.SUCCEEDED
        assert stdout_of(engine, key) == f"ni hao {t.job_id}\n"

    def test_logs_are_separate_streams_read_from_an_offset(self, engine: Engine) -> None:
        code = "import sys; print('out-line'); print('err-line', file=sys.stderr)"
        key = engine.submit(task(self.job_python, "-c", code))
        assert final(engine, key, self.timeout_s).status == JobStatus.SUCCEEDED
        assert engine.read_log(key, "stdout", 0, 100) == b"out-line\n"
        assert engine.read_log(key, "stdout", 4, 100) == b"line\n"
        assert engine.read_log(key, "stdout", 0, 3) == b"out"
        assert b"err-line\n" in engine.read_log(key, "stderr", 0, 1000)

    def test_maps_a_gpu_request(self, engine: Engine, gpu_model: str | None) -> None:
        if gpu_model is None:
            assert not engine.supports(Capability.GPUS_BY_MODEL)
            return
        code = "import os; print(os.environ.get('CUDA_VISIBLE_DEVICES', 'none'))"
        key = engine.submit(task(self.job_python, "-c", code, gpus={gpu_model: 2}))
        state = final(engine, key, self.timeout_s)
        assert state.status == JobStatus.SUCCEEDED, state
        devices = stdout_of(engine, key).strip()
        assert len(devices.split(",")) == 2, devices
        usage = engine.usage(key, datetime.now(UTC))
        assert usage is not None and usage.gpus == 2

    def test_cancel_stops_a_running_task(self, engine: Engine) -> None:
        key = engine.submit(task(self.job_python, "-c", "import time; time.sleep(600)"))
        running(engine, key, self.timeout_s)
        engine.cancel(key, grace_s=2.0)
        state = final(engine, key, self.timeout_s)
        assert state.status == JobStatus.CANCELLED, state
        assert state.ended_at is not None

    def test_time_limit_exceeded_is_reported(self, engine: Engine) -> None:
        t = task(
            self.job_python, "-c", "import time; time.sleep(600)", time_limit_s=self.time_limit_s
        )
        key = engine.submit(t)
        state = final(engine, key, self.limit_timeout_s)
        assert state.status == JobStatus.FAILED, state
        assert state.reason.startswith("TIMEOUT"), state.reason

    def test_usage_of_a_finished_task(self, engine: Engine) -> None:
        key = engine.submit(task(self.job_python, "-c", "import time; time.sleep(1.5)"))
        state = final(engine, key, self.timeout_s)
        usage = engine.usage(key, datetime.now(UTC))
        assert usage is not None and usage.gpus == 0
        assert state.started_at is not None and state.ended_at is not None
        assert usage.wall_s == pytest.approx(
            (state.ended_at - state.started_at).total_seconds(), abs=1.0
        )
        assert usage.wall_s >= 1.0

    def test_node_failure_is_reported(
        self, engine: Engine, fail_node: Callable[[Engine, str], None] | None
    ) -> None:
        if fail_node is None:
            pytest.fail("every engine must say how one of its nodes fails")
        key = engine.submit(task(self.job_python, "-c", "import time; time.sleep(600)"))
        running(engine, key, self.timeout_s)
        fail_node(engine, key)
        state = final(engine, key, self.limit_timeout_s)
        assert state.status in (JobStatus.LOST, JobStatus.FAILED), state
        assert state.reason, "a node failure must say so"

    def test_unknown_ids_are_an_error_not_a_crash(self, engine: Engine) -> None:
        from suanli.ports.engine import EngineError

        with pytest.raises(EngineError):
            engine.poll("no-such-task.1")
