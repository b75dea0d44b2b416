"""The local engine: runs tasks as processes on the agent's own machine.

Contract:

- Each task gets a directory ``state_dir/<task.key>/`` (the key, ``<job_id>.<attempt>``, is
  also the engine job id) holding ``spec.json``, the shim's ``state.json``, the logs
  ``stdout.log`` / ``stderr.log`` and ``shim.log`` (the supervisor's own output).
- A task is started through a supervisor shim (``local_shim``), in a session of its own, so
  a task outlives an agent that is SIGKILLed and a restarted agent re-adopts it from the
  files (``known``). The job runs its argv directly (no shell) in its own process group, in
  ``task.working_dir`` (default: ``<task dir>/work``), with ``task.env`` plus
  ``SUANLI_JOB_ID``, ``SUANLI_ATTEMPT``, ``SUANLI_GANG_SIZE`` and (when the task names
  them) ``SUANLI_NODES`` added to the agent's environment. A gang's command runs once, like
  Slurm's batch script on the first node; ``SUANLI_NODES`` lists one node id per member
  (comma-separated) so that it can start the others.
- ``cancel`` writes a ``cancel_requested`` marker and wakes the shim with a signal; the shim
  SIGTERMs the job's group and SIGKILLs it after the grace. ``cancel`` never waits. If the
  shim is already dead, the engine signals the job's group itself (SIGKILL from a daemon
  timer thread after the grace).
- ``poll`` maps the shim's record: running -> RUNNING; exit 0 -> SUCCEEDED; cancelled ->
  CANCELLED; non-zero exit, time limit (reason ``TIMEOUT: ...``), unrunnable program (exit
  code 127) -> FAILED. If the shim process is gone (its pid is absent, a zombie, or has a
  different start time, which defeats pid reuse) and no end was recorded -> LOST; the engine
  then SIGKILLs what is left of the job's group so that a requeued attempt never runs beside
  it, and records the loss (``lost.json``, time from the injected clock) so that every later
  poll answers the same.
- Recorded start and end times of a job come from the shim (system clock, UTC); times the
  engine itself records (submission, cancel request, loss) come from the injected Clock.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from suanli.adapters import calibration
from suanli.adapters.engines import local_shim as shim
from suanli.adapters.engines.local_shim import read_time
from suanli.adapters.node_calibration import node_calibration
from suanli.domain.calibration import NodeCalibration
from suanli.domain.devices import canonical_gpu_model
from suanli.domain.errors import InvalidInput
from suanli.domain.ids import JobId
from suanli.domain.jobs import JobStatus
from suanli.domain.resources import Resources
from suanli.ports.clock import Clock
from suanli.ports.engine import (
    Capability,
    DetectedNode,
    Engine,
    EngineError,
    EngineState,
    EngineTask,
)

log = logging.getLogger("suanli.engine.local")

SHIM_MODULE = "suanli.adapters.engines.local_shim"
STARTUP_GRACE_S = 60.0
"""A task dir with a spec but no record of its shim is taken as starting for this long (the
agent may have died between starting the shim and recording it); after that it is LOST."""
NVIDIA_SMI_TIMEOUT_S = 15.0
_STREAMS = {"stdout": shim.STDOUT_LOG, "stderr": shim.STDERR_LOG}


class LocalEngine(Engine):
    """Runs tasks as supervised local processes; see the module docstring for the contract."""

    name = "local"
    capabilities = frozenset(
        {Capability.LOG_STREAMING, Capability.ADOPT, Capability.PREEMPT_SIGNAL, Capability.GANG}
    )

    def __init__(
        self,
        state_dir: Path,
        clock: Clock,
        *,
        python: str = sys.executable,
        timeout_grace_s: float = 10.0,
        declared: DetectedNode | None = None,
    ) -> None:
        """`python` runs the shim; `timeout_grace_s` is the SIGTERM-to-SIGKILL grace when a
        task's time limit is hit. `declared`: offer this node instead of what the machine
        has (demos and tests that run several clusters on one machine; its GPUs are
        declared, not real, and it is not calibrated)."""
        self._declared = declared
        self._root = Path(state_dir).absolute()
        self._root.mkdir(parents=True, exist_ok=True)
        self._clock = clock
        self._python = python
        self._timeout_grace_s = timeout_grace_s
        # Shims this engine started: kept to reap them (they are our children) and as the
        # quickest liveness check. A restarted agent has none and falls back to /proc.
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    # ---- submit -------------------------------------------------------------------------

    def _submit(self, task: EngineTask) -> str:
        if not task.argv or not task.argv[0]:
            raise EngineError(f"task {task.key} has an empty command.")
        key = task.key
        task_dir = self._dir(key)
        try:
            task_dir.mkdir()
        except FileExistsError:
            raise EngineError(
                f"task {key} was already submitted to this engine (its files are in "
                f"{task_dir}); forget it first or submit a new attempt."
            ) from None
        try:
            self._write_spec(task, task_dir)
            self._start_shim(key, task_dir)
        except OSError as exc:
            shutil.rmtree(task_dir, ignore_errors=True)
            raise EngineError(f"could not start task {key}: {exc}") from exc
        self._reap_finished()
        return key

    def _write_spec(self, task: EngineTask, task_dir: Path) -> None:
        working_dir = task.working_dir
        if working_dir is None:
            default = task_dir / "work"
            default.mkdir()
            working_dir = str(default)
        env = task.job_env()
        spec = shim.ShimSpec(task.argv, env, working_dir, task.time_limit_s, self._timeout_grace_s)
        meta = {
            "job_id": str(task.job_id),
            "attempt": task.attempt,
            "gpus": task.allocation.gpu_count,
            "submitted_at": self._clock.now().isoformat(),
        }
        shim.write_json_atomic(task_dir / shim.SPEC_FILE, {**spec.to_json(), **meta})

    def _start_shim(self, key: str, task_dir: Path) -> None:
        with (task_dir / shim.SHIM_LOG).open("ab") as shim_log:
            proc = subprocess.Popen(
                [self._python, "-m", SHIM_MODULE, str(task_dir)],
                cwd=task_dir,
                stdin=subprocess.DEVNULL,
                stdout=shim_log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # survives the agent; out of its terminal's signals
            )
        with self._lock:
            self._children[key] = proc
        record = {"pid": proc.pid, "start_ticks": shim.process_start_ticks(proc.pid)}
        shim.write_json_atomic(task_dir / shim.SHIM_FILE, record)

    def _reap_finished(self) -> None:
        """Reap shims that have exited so they do not linger as zombies of the agent."""
        with self._lock:
            for key, proc in list(self._children.items()):
                if proc.poll() is not None:
                    del self._children[key]

    def _gpus_of(self, engine_job_id: str) -> int:
        spec = shim.read_json(self._existing_dir(engine_job_id) / shim.SPEC_FILE) or {}
        return _opt_int(spec.get("gpus")) or 0

    # ---- poll -----------------------------------------------------------------------------

    def _poll(self, engine_job_id: str) -> EngineState:
        task_dir = self._existing_dir(engine_job_id)
        spec = shim.read_json(task_dir / shim.SPEC_FILE)
        if spec is None:
            raise EngineError(f"task {engine_job_id} has no readable {shim.SPEC_FILE}.")
        state = shim.read_json(task_dir / shim.STATE_FILE)
        if _ended(state):
            return self._final_state(engine_job_id, spec, state or {})
        lost = shim.read_json(task_dir / shim.LOST_FILE)
        if lost is not None:
            return self._lost_state(engine_job_id, spec, state, lost)
        if self._shim_alive(engine_job_id, task_dir, state):
            return self._state(engine_job_id, spec, state or {}, JobStatus.RUNNING)
        # The shim may have recorded the end just before exiting: read once more.
        state = shim.read_json(task_dir / shim.STATE_FILE)
        if _ended(state):
            return self._final_state(engine_job_id, spec, state or {})
        return self._declare_lost(engine_job_id, task_dir, spec, state)

    def _final_state(
        self, engine_job_id: str, spec: Mapping[str, Any], state: Mapping[str, Any]
    ) -> EngineState:
        cause, code = state.get("cause"), _opt_int(state.get("exit_code"))
        if cause == shim.CAUSE_CANCEL:
            status = JobStatus.CANCELLED
        elif not cause and code == 0:
            status = JobStatus.SUCCEEDED
        else:
            status = JobStatus.FAILED
        return self._state(engine_job_id, spec, state, status)

    def _state(
        self,
        engine_job_id: str,
        spec: Mapping[str, Any],
        state: Mapping[str, Any],
        status: JobStatus,
    ) -> EngineState:
        return EngineState(
            engine_job_id=engine_job_id,
            job_id=JobId(str(spec.get("job_id", ""))),
            attempt=_opt_int(spec.get("attempt")) or 0,
            status=status,
            started_at=read_time(state.get("started_at")),
            ended_at=read_time(state.get("ended_at")),
            exit_code=_opt_int(state.get("exit_code")),
            reason=str(state.get("reason") or ""),
        )

    def _lost_state(
        self,
        engine_job_id: str,
        spec: Mapping[str, Any],
        state: Mapping[str, Any] | None,
        lost: Mapping[str, Any],
    ) -> EngineState:
        started = read_time((state or {}).get("started_at"))
        return EngineState(
            engine_job_id=engine_job_id,
            job_id=JobId(str(spec.get("job_id", ""))),
            attempt=_opt_int(spec.get("attempt")) or 0,
            status=JobStatus.LOST,
            started_at=started,
            ended_at=read_time(lost.get("at")),
            reason=str(lost.get("reason") or "the supervisor died"),
        )

    def _declare_lost(
        self,
        engine_job_id: str,
        task_dir: Path,
        spec: Mapping[str, Any],
        state: Mapping[str, Any] | None,
    ) -> EngineState:
        pid = _shim_record(task_dir, state)[0]
        reason = (
            f"the supervisor (local shim{f', pid {pid}' if pid else ''}) died before the job "
            "ended; the job's outcome is unknown"
        )
        last = _last_line(task_dir / shim.SHIM_LOG)
        if last:
            reason += f" (its last output: {last})"
        if state is not None:
            _signal_job_group(state, signal.SIGKILL)  # so a requeued attempt never overlaps
        with self._lock:  # one record of the loss, however many threads poll
            recorded = shim.read_json(task_dir / shim.LOST_FILE)
            if recorded is not None:
                return self._lost_state(engine_job_id, spec, state, recorded)
            lost = {
                "at": _last_sign_of_life(task_dir, state, self._clock.now()).isoformat(),
                "reason": reason,
            }
            with contextlib.suppress(OSError):
                shim.write_json_atomic(task_dir / shim.LOST_FILE, lost)
        log.warning("%s: task %s is lost: %s", self.name, engine_job_id, reason)
        return self._lost_state(engine_job_id, spec, state, lost)

    def _shim_alive(self, key: str, task_dir: Path, state: Mapping[str, Any] | None) -> bool:
        with self._lock:
            proc = self._children.get(key)
            if proc is not None:
                if proc.poll() is None:
                    return True
                del self._children[key]
                return False
        pid, ticks = _shim_record(task_dir, state)
        if pid is not None:
            return ticks is not None and shim.process_start_ticks(pid) == ticks
        # No record of a shim at all: it is being started, or the agent died meanwhile.
        try:
            age = time.time() - (task_dir / shim.SPEC_FILE).stat().st_mtime
        except OSError:
            return False
        return age < STARTUP_GRACE_S

    # ---- cancel -------------------------------------------------------------------------

    def _cancel(self, engine_job_id: str, grace_s: float) -> None:
        task_dir = self._existing_dir(engine_job_id)
        if _ended(shim.read_json(task_dir / shim.STATE_FILE)):
            return
        grace = max(0.0, grace_s)
        marker = {"grace_s": grace, "requested_at": self._clock.now().isoformat()}
        shim.write_json_atomic(task_dir / shim.CANCEL_FILE, marker)
        # Read the state only after writing the marker: a shim without state.json yet has not
        # looked for the marker either, and will see it; one with state.json can take the
        # wake-up signal (it installs its handler before writing the state).
        state = shim.read_json(task_dir / shim.STATE_FILE)
        if _ended(state):
            return
        if self._shim_alive(engine_job_id, task_dir, state):
            if state is not None:
                self._wake_shim(task_dir, state)
            return
        if state is not None:
            self._stop_orphaned_job(state, grace)

    def _wake_shim(self, task_dir: Path, state: Mapping[str, Any]) -> None:
        pid, ticks = _shim_record(task_dir, state)
        if pid is not None and ticks is not None and shim.process_start_ticks(pid) == ticks:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, shim.WAKE_SIGNAL)

    def _stop_orphaned_job(self, state: Mapping[str, Any], grace: float) -> None:
        """The shim is dead: SIGTERM the job's group now and SIGKILL it after `grace` from a
        daemon timer (which dies with the agent; the next poll's LOST check kills too)."""
        _signal_job_group(state, signal.SIGTERM)
        timer = threading.Timer(grace, _signal_job_group, args=(state, signal.SIGKILL))
        timer.daemon = True
        timer.start()

    # ---- logs, adoption, cleanup --------------------------------------------------------

    def _read_log(self, engine_job_id: str, stream: str, offset: int, limit: int) -> bytes:
        if stream not in _STREAMS:
            raise EngineError(f"unknown log stream {stream!r}; use 'stdout' or 'stderr'.")
        if offset < 0:
            raise EngineError(f"log offset must not be negative, got {offset}.")
        if limit <= 0:
            return b""
        path = self._existing_dir(engine_job_id) / _STREAMS[stream]
        try:
            with path.open("rb") as f:
                f.seek(offset)
                return f.read(limit)
        except FileNotFoundError:
            return b""

    def _known(self) -> list[EngineState]:
        states: list[EngineState] = []
        for entry in sorted(self._root.iterdir()):
            if not (entry / shim.SPEC_FILE).is_file():
                continue
            try:
                states.append(self._poll(entry.name))
            except EngineError as exc:
                log.warning("%s: skipping task dir %s: %s", self.name, entry, exc)
        return states

    def _forget(self, engine_job_id: str) -> None:
        """Delete the task's files. A task that is still running is killed first: nobody
        would ever learn its outcome."""
        task_dir = self._dir(engine_job_id)
        state = shim.read_json(task_dir / shim.STATE_FILE)
        if state is not None and not _ended(state):
            _signal_job_group(state, signal.SIGKILL)
        with self._lock:
            proc = self._children.pop(engine_job_id, None)
        if proc is not None:
            proc.poll()
        shutil.rmtree(task_dir, ignore_errors=True)

    def _dir(self, engine_job_id: str) -> Path:
        # The id names a directory: refuse anything that could step outside state_dir.
        if not engine_job_id or engine_job_id.startswith(".") or {"/", "\x00"} & set(engine_job_id):
            raise EngineError(f"{engine_job_id!r} is not a local engine job id.")
        return self._root / engine_job_id

    def _existing_dir(self, engine_job_id: str) -> Path:
        task_dir = self._dir(engine_job_id)
        if not task_dir.is_dir():
            raise EngineError(f"the local engine knows no task {engine_job_id!r}.")
        return task_dir

    # ---- calibrate ----------------------------------------------------------------------

    def calibrate(self) -> dict[str, NodeCalibration]:
        """Measure this machine (CPU matmul and triad; CUDA GPUs through PyTorch when
        present): a few seconds of full load. A declared node is not this machine: it is
        rated from the catalog alone."""
        if self._declared is not None:
            return {}
        measurement = calibration.calibrate()
        return {socket.gethostname(): node_calibration(measurement, self._clock.now())}

    # ---- detect -------------------------------------------------------------------------

    def detect(self) -> list[DetectedNode]:
        if self._declared is not None:
            return [self._declared]
        cpus = len(os.sched_getaffinity(0))
        gpus, gpu_memory = _detect_gpus()
        capacity = Resources(cpus * 1000, _memory_mb(), gpus, gpu_memory)
        return [DetectedNode(socket.gethostname(), capacity)]


# ---- helpers ------------------------------------------------------------------------------


def _ended(state: Mapping[str, Any] | None) -> bool:
    return state is not None and state.get("phase") == shim.PHASE_EXITED


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _shim_record(task_dir: Path, state: Mapping[str, Any] | None) -> tuple[int | None, int | None]:
    """The shim's pid and start ticks, as the engine recorded them or else as the shim did
    (the engine finds no ticks if the shim had already exited when it looked)."""
    record = shim.read_json(task_dir / shim.SHIM_FILE) or {}
    pid, ticks = _opt_int(record.get("pid")), _opt_int(record.get("start_ticks"))
    if ticks is None and state is not None and _opt_int(state.get("shim_pid")) is not None:
        return _opt_int(state.get("shim_pid")), _opt_int(state.get("shim_start_ticks"))
    return pid, ticks


def _signal_job_group(state: Mapping[str, Any], sig: signal.Signals) -> None:
    """Signal the job's process group unless its leader's pid now names another process."""
    pgid, ticks = _opt_int(state.get("pgid")), _opt_int(state.get("job_start_ticks"))
    if pgid is None or pgid <= 1:
        return
    leader = shim.process_start_ticks(pgid)
    if leader is not None and leader != ticks:
        return  # pid reused: our group is gone (a group's id is never reused while it lives)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _last_line(path: Path, limit: int = 200) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return lines[-1][:limit] if lines else ""


def _memory_mb() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024  # reported in kB
    except (OSError, ValueError, IndexError) as exc:
        log.warning("cannot read memory size from /proc/meminfo: %s", exc)
    return 0


def _detect_gpus() -> tuple[dict[str, int], int]:
    tool = shutil.which("nvidia-smi")
    if tool is None:
        return {}, 0
    query = [tool, "--query-gpu=name,memory.total", "--format=csv,noheader,nounits"]
    try:
        done = subprocess.run(
            query, capture_output=True, text=True, timeout=NVIDIA_SMI_TIMEOUT_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("nvidia-smi failed, reporting no GPUs: %s", exc)
        return {}, 0
    if done.returncode != 0:
        log.warning(
            "nvidia-smi exited with %d, reporting no GPUs: %s",
            done.returncode,
            done.stderr.strip()[:200],
        )
        return {}, 0
    return parse_nvidia_smi(done.stdout)


def parse_nvidia_smi(text: str) -> tuple[dict[str, int], int]:
    """GPU counts by canonical model, and the least memory (MiB) of any counted GPU, from
    ``nvidia-smi --query-gpu=name,memory.total --format=csv,noheader,nounits`` output.

    Unknown models and unparseable lines are logged and skipped. Memory is 0 if unknown.
    """
    counts: dict[str, int] = {}
    memories: list[int] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        name, _, memory = line.rpartition(",")
        if not name.strip():
            log.warning("skipping unparseable nvidia-smi line %r", line)
            continue
        try:
            model = canonical_gpu_model(name)
        except InvalidInput:
            log.warning(
                "skipping GPU of unknown model %r: to pool it, add its row (with a datasheet"
                " source) to src/suanli/domain/devices.json",
                name.strip(),
            )
            continue
        counts[model] = counts.get(model, 0) + 1
        try:
            memories.append(int(float(memory.strip())))
        except ValueError:
            log.warning("nvidia-smi reported no usable memory size for %r", name.strip())
    return counts, min(memories, default=0)


def _last_sign_of_life(task_dir: Path, state: Mapping[str, Any] | None, now: datetime) -> datetime:
    """When a lost task was last known to be supervised: the shim's liveness file, else its
    recorded start, else `now`. A LOST attempt is billed up to here, not up to when the
    loss was noticed (which may be after a long outage of the agent)."""
    try:
        mtime = (task_dir / shim.ALIVE_FILE).stat().st_mtime
        return datetime.fromtimestamp(mtime, UTC)
    except OSError:
        started = read_time(state.get("started_at")) if state else None
        return started or now
