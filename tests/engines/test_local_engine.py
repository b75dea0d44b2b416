"""The local engine against real processes: outcomes, cancel, time limits, adoption, loss.

The engine is built as `suanli up` builds it, so when the tests run as root (as CI does)
every job here runs isolated: as a tenant's own user, in a PID namespace of its own
(tests/engines/test_local_isolation.py covers what that guarantees)."""

from __future__ import annotations

import itertools
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from tests.engines.contract import python_every_user_can_run

from suanli.adapters.clock import ManualClock, SystemClock
from suanli.adapters.engines import local_shim as shim
from suanli.adapters.engines.local import LocalEngine, parse_nvidia_smi
from suanli.domain.ids import JobId
from suanli.domain.jobs import JobStatus
from suanli.domain.resources import Resources
from suanli.ports.engine import Capability, EngineError, EngineState, EngineTask

PY = python_every_user_can_run()
T = TypeVar("T")
_unique = itertools.count(1)


def wait_for(probe: Callable[[], T | None], timeout: float = 10.0, what: str = "it") -> T:
    """Poll `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def task(job: str, *argv: str, **kwargs: Any) -> EngineTask:
    return EngineTask(JobId(job), 1, tuple(argv), Resources.request(), **kwargs)


def final(engine: LocalEngine, key: str, timeout: float = 10.0) -> EngineState:
    def probe() -> EngineState | None:
        state = engine.poll(key)
        return None if state.status == JobStatus.RUNNING else state

    return wait_for(probe, timeout, f"{key} to end")


def started(state_dir: Path, key: str) -> dict[str, Any]:
    """The shim's record once the job's process runs (it has a pid and a group)."""

    def probe() -> dict[str, Any] | None:
        state = shim.read_json(state_dir / key / shim.STATE_FILE)
        return state if state and state.get("pgid") else None

    return wait_for(probe, 10.0, f"{key} to start")


def stdout_of(engine: LocalEngine, key: str) -> str:
    return engine.read_log(key, "stdout", 0, 1 << 20).decode()


def _stat_fields(pid: str | int) -> list[str] | None:
    """Fields 3.. of /proc/<pid>/stat (state, ppid, pgrp, ...), or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def group_gone(pgid: int) -> bool:
    """No live process is left in group `pgid`. Zombies count as gone: they are dead, and
    whether (and how soon) the machine's init reaps orphans is not the engine's doing."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    for entry in Path("/proc").iterdir():
        fields = _stat_fields(entry.name) if entry.name.isdigit() else None
        if fields and fields[2] == str(pgid) and fields[0] != "Z":
            return False
    return True


def unique_seconds() -> str:
    """An argument for sleep(1) that no other process on this machine uses, so that a
    test finds the job's processes by their argv (inside a PID namespace a job cannot
    tell its children's pids as the test sees them)."""
    return f"600.{os.getpid()}{next(_unique):04d}"


def live_with_argv(argv: list[str]) -> list[int]:
    """Live (not zombie) processes whose command line is exactly `argv`."""
    found = []
    wanted = b"\0".join(a.encode() for a in argv) + b"\0"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        fields = _stat_fields(entry.name)
        if cmdline == wanted and fields and fields[0] != "Z":
            found.append(int(entry.name))
    return found


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "engine"


@pytest.fixture
def engine(state_dir: Path, jobs_root: Path) -> LocalEngine:
    return LocalEngine(state_dir, SystemClock(), timeout_grace_s=0.5, jobs_root=jobs_root)


def test_capabilities(engine: LocalEngine) -> None:
    assert engine.name == "local"
    for cap in (Capability.LOG_STREAMING, Capability.ADOPT, Capability.PREEMPT_SIGNAL):
        assert engine.supports(cap)


def test_success_with_output(engine: LocalEngine) -> None:
    key = engine.submit(task("j-ok", "python3", "-c", "print(42)"))
    assert key == "j-ok.1"
    state = final(engine, key)
    assert state.status == JobStatus.SUCCEEDED
    assert state.exit_code == 0
    assert (state.job_id, state.attempt) == ("j-ok", 1)
    assert state.started_at is not None and state.ended_at is not None
    assert state.started_at <= state.ended_at
    assert stdout_of(engine, key) == "42\n"
    assert engine.read_log(key, "stdout", 1, 100) == b"2\n"
    assert engine.read_log(key, "stderr", 0, 100) == b""


@pytest.mark.parametrize(
    ("code", "expected", "words"),
    [
        ("raise SystemExit(3)", 3, "code 3"),
        ("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", 137, "SIGKILL"),
    ],
)
def test_failure_exit_code(engine: LocalEngine, code: str, expected: int, words: str) -> None:
    state = final(engine, engine.submit(task("j-fail", PY, "-c", code)))
    assert state.status == JobStatus.FAILED
    assert state.exit_code == expected
    assert words in state.reason


def test_working_dir_and_env(engine: LocalEngine, shared_tmp: Path, state_dir: Path) -> None:
    workdir = shared_tmp / "wd"
    workdir.mkdir()
    script = (
        "import os; e = os.environ; "
        "print(os.getcwd()); print(e['FOO']); print(e['SUANLI_JOB_ID'], e['SUANLI_ATTEMPT'])"
    )
    key = engine.submit(
        task("j-env", PY, "-c", script, env={"FOO": "b a r"}, working_dir=str(workdir))
    )
    assert final(engine, key).status == JobStatus.SUCCEEDED
    assert stdout_of(engine, key).splitlines() == [str(workdir), "b a r", "j-env 1"]

    script = "import os; print(os.getcwd()); print(os.environ['HOME'], os.environ['TMPDIR'])"
    key = engine.submit(task("j-default-wd", PY, "-c", script))
    assert final(engine, key).status == JobStatus.SUCCEEDED
    cwd, home_tmp = stdout_of(engine, key).splitlines()
    # the task's scratch dir, outside the state dir: <jobs dir>/<job user>/<key>/work
    scratch = Path(cwd).parent
    assert (Path(cwd).name, scratch.name, scratch.parent.parent) == ("work", key, engine.jobs_dir)
    assert home_tmp.split() == [str(scratch), str(scratch / "tmp")]
    assert not Path(cwd).is_relative_to(state_dir)


def test_missing_working_dir_fails(engine: LocalEngine, tmp_path: Path) -> None:
    key = engine.submit(task("j-nowd", "true", working_dir=str(tmp_path / "absent")))
    state = final(engine, key)
    assert state.status == JobStatus.FAILED
    assert "working directory" in state.reason


def test_unrunnable_program_fails_127(engine: LocalEngine, tmp_path: Path) -> None:
    key = engine.submit(task("j-missing", "no-such-program-xyz", "arg"))
    state = final(engine, key)
    assert state.status == JobStatus.FAILED
    assert state.exit_code == 127
    assert "no-such-program-xyz" in state.reason
    assert b"no-such-program-xyz" in engine.read_log(key, "stderr", 0, 4096)

    not_executable = tmp_path / "script.sh"
    not_executable.write_text("#!/bin/sh\necho hi\n")
    state = final(engine, engine.submit(task("j-noexec", str(not_executable))))
    assert (state.status, state.exit_code) == (JobStatus.FAILED, 127)


def test_cancel_kills_the_group(engine: LocalEngine, state_dir: Path) -> None:
    key = engine.submit(task("j-cancel", "sleep", "600"))
    pgid = started(state_dir, key)["pgid"]
    assert engine.poll(key).status == JobStatus.RUNNING
    began = time.monotonic()
    engine.cancel(key, grace_s=5.0)
    assert time.monotonic() - began < 0.5  # cancel does not wait for the grace
    state = final(engine, key, timeout=5.0)
    assert state.status == JobStatus.CANCELLED
    assert state.exit_code == 128 + signal.SIGTERM
    wait_for(lambda: group_gone(pgid), 5.0, "the job's group to vanish")


def test_cancel_right_after_submit(engine: LocalEngine, state_dir: Path) -> None:
    key = engine.submit(task("j-early", "sleep", "600"))
    engine.cancel(key, grace_s=5.0)  # most likely before the shim has started the job
    state = final(engine, key, timeout=5.0)
    assert state.status == JobStatus.CANCELLED
    pgid = (shim.read_json(state_dir / key / shim.STATE_FILE) or {}).get("pgid")
    if pgid is not None:
        wait_for(lambda: group_gone(pgid), 5.0, "the job's group to vanish")


def test_cancel_kills_grandchildren(engine: LocalEngine, state_dir: Path) -> None:
    child, main = unique_seconds(), unique_seconds()
    script = f"sleep {child} & echo started; sleep {main}"
    key = engine.submit(task("j-tree", "sh", "-c", script))
    pgid = started(state_dir, key)["pgid"]
    wait_for(lambda: stdout_of(engine, key).strip(), 5.0, "the child to start")
    wait_for(lambda: live_with_argv(["sleep", child]), 5.0, "the grandchild to run")
    engine.cancel(key, grace_s=5.0)
    assert final(engine, key, timeout=5.0).status == JobStatus.CANCELLED
    wait_for(lambda: group_gone(pgid), 5.0, "the job's group to vanish")
    wait_for(lambda: not live_with_argv(["sleep", child]), 5.0, "the grandchild to vanish")


def test_leftovers_are_killed_when_the_main_process_exits(
    engine: LocalEngine, state_dir: Path
) -> None:
    seconds = unique_seconds()
    key = engine.submit(task("j-bg", "sh", "-c", f"sleep {seconds} & echo started"))
    state = final(engine, key)
    assert state.status == JobStatus.SUCCEEDED
    assert stdout_of(engine, key) == "started\n"
    wait_for(lambda: not live_with_argv(["sleep", seconds]), 5.0, "the background to vanish")


def test_cancel_escalates_to_sigkill_after_grace(engine: LocalEngine, state_dir: Path) -> None:
    script = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(600)"
    )
    key = engine.submit(task("j-stubborn", PY, "-c", script))
    pgid = started(state_dir, key)["pgid"]
    wait_for(lambda: "ready" in stdout_of(engine, key), 10.0, "the job to ignore SIGTERM")
    began = time.monotonic()
    engine.cancel(key, grace_s=0.5)
    state = final(engine, key, timeout=5.0)
    assert time.monotonic() - began >= 0.4
    assert state.status == JobStatus.CANCELLED
    assert state.exit_code == 128 + signal.SIGKILL
    wait_for(lambda: group_gone(pgid), 5.0, "the job's group to vanish")


def test_cancel_of_an_ended_task_changes_nothing(engine: LocalEngine) -> None:
    key = engine.submit(task("j-done", "true"))
    assert final(engine, key).status == JobStatus.SUCCEEDED
    engine.cancel(key, grace_s=1.0)
    assert engine.poll(key).status == JobStatus.SUCCEEDED


def test_time_limit(engine: LocalEngine, state_dir: Path) -> None:
    key = engine.submit(task("j-slow", "sleep", "30", time_limit_s=1))
    pgid = started(state_dir, key)["pgid"]
    state = final(engine, key, timeout=6.0)
    assert state.status == JobStatus.FAILED
    assert state.reason.startswith("TIMEOUT: time limit of 1 s exceeded")
    assert state.exit_code == 128 + signal.SIGTERM
    wait_for(lambda: group_gone(pgid), 5.0, "the job's group to vanish")


def test_readoption_by_a_new_engine(
    engine: LocalEngine, state_dir: Path, shared_tmp: Path, jobs_root: Path
) -> None:
    workdir = shared_tmp / "wd"
    workdir.mkdir()
    waiter = "while [ ! -e go ]; do sleep 0.05; done; echo adopted"
    first = engine.submit(task("j-adopt", "sh", "-c", waiter, working_dir=str(workdir)))
    second = engine.submit(task("j-adopt-cancel", "sleep", "600"))
    started(state_dir, first)
    started(state_dir, second)

    restarted = LocalEngine(state_dir, SystemClock(), jobs_root=jobs_root)
    known = {s.engine_job_id: s.status for s in restarted.known()}
    assert known == {first: JobStatus.RUNNING, second: JobStatus.RUNNING}

    (workdir / "go").touch()
    state = final(restarted, first)
    assert state.status == JobStatus.SUCCEEDED
    assert stdout_of(restarted, first) == "adopted\n"

    restarted.cancel(second, grace_s=5.0)  # wakes a shim this engine did not start
    assert final(restarted, second, timeout=5.0).status == JobStatus.CANCELLED


def test_dead_supervisor_means_lost(state_dir: Path, jobs_root: Path) -> None:
    clock = ManualClock()
    engine = LocalEngine(state_dir, clock, jobs_root=jobs_root)
    key = engine.submit(task("j-lost", "sleep", "600"))
    record = started(state_dir, key)
    os.kill(record["shim_pid"], signal.SIGKILL)
    os.killpg(record["pgid"], signal.SIGKILL)
    state = final(engine, key, timeout=5.0)
    assert state.status == JobStatus.LOST
    assert "supervisor" in state.reason
    # billed up to the shim's last sign of life (its liveness file), not the detection time
    # (never before the start: the file's time may lag the start by a clock tick)
    alive = (state_dir / key / "alive").stat().st_mtime
    assert state.ended_at is not None and state.started_at is not None
    assert state.started_at <= state.ended_at
    assert abs(state.ended_at.timestamp() - max(alive, state.started_at.timestamp())) < 1e-3
    clock.advance(60)
    again = LocalEngine(state_dir, clock, jobs_root=jobs_root).poll(key)
    assert (again.status, again.ended_at, again.reason) == (
        JobStatus.LOST,
        state.ended_at,
        state.reason,
    )


def test_lost_task_leaves_no_orphan(engine: LocalEngine, state_dir: Path) -> None:
    key = engine.submit(task("j-orphan", "sleep", "600"))
    record = started(state_dir, key)
    os.kill(record["shim_pid"], signal.SIGKILL)
    assert final(engine, key, timeout=5.0).status == JobStatus.LOST
    wait_for(lambda: group_gone(record["pgid"]), 5.0, "the orphaned group to vanish")


def test_forget_and_unknown_ids(engine: LocalEngine, state_dir: Path) -> None:
    key = engine.submit(task("j-forget", "true"))
    final(engine, key)
    (scratch,) = engine.jobs_dir.glob(f"*/{key}")
    with pytest.raises(EngineError):
        engine.submit(task("j-forget", "true"))
    engine.forget(key)
    assert not (state_dir / key).exists()
    assert not scratch.exists()
    assert engine.known() == []
    for bad in (key, "../etc", ""):
        with pytest.raises(EngineError):
            engine.poll(bad)
    key = engine.submit(task("j-log", "true"))
    with pytest.raises(EngineError):
        engine.read_log(key, "journal", 0, 10)


NVIDIA_SMI_SAMPLE = """\
NVIDIA A100-SXM4-80GB, 81920
NVIDIA A100-SXM4-80GB, 81920
NVIDIA H100 80GB HBM3, 81559
Mystery Accelerator 9000, 1234

"""


def test_parse_nvidia_smi(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        gpus, memory = parse_nvidia_smi(NVIDIA_SMI_SAMPLE)
    assert gpus == {"A100-80GB": 2, "H100": 1}
    assert memory == 81559
    assert "Mystery Accelerator 9000" in caplog.text
    assert parse_nvidia_smi("") == ({}, 0)
    assert parse_nvidia_smi("Tesla T4, [N/A]\n") == ({"T4": 1}, 0)


def test_detect_this_machine(engine: LocalEngine) -> None:
    (node,) = engine.detect()
    assert node.hostname
    assert node.capacity.cpu_milli == len(os.sched_getaffinity(0)) * 1000
    assert node.capacity.memory_mb > 0
