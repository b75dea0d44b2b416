"""The local engine: runs tasks as processes on the agent's own machine.

Contract:

- Each task gets a directory ``state_dir/<task.key>/`` (the key, ``<job_id>.<attempt>``, is
  also the engine job id) holding ``spec.json``, the shim's ``state.json``, the logs
  ``stdout.log`` / ``stderr.log`` and ``shim.log`` (the supervisor's own output). The state
  dir and the task dirs are private to the agent's user (0700): the spec holds the job's
  environment, secrets included.
- Each task also gets a scratch directory outside the state dir,
  ``<jobs root>/<engine id>/<job user>/<task.key>/`` (``<engine id>``: a hash of the state
  dir, so engines sharing a jobs root never collide), mode 0700 and owned by the job's
  user, with ``tmp/`` and ``work/`` in it. It is the job's HOME, ``tmp/`` its TMPDIR and
  ``work/`` its working dir unless the task names one. ``forget`` deletes it.
- A task is started through a supervisor shim (``local_shim``), in a session of its own, so
  a task outlives an agent that is SIGKILLed and a restarted agent re-adopts it from the
  files (``known``). The job runs its argv directly (no shell) in its own process group, in
  its working dir, with a clean environment: PATH, HOME, LANG and TMPDIR set by the engine,
  then ``task.env`` plus ``SUANLI_JOB_ID``, ``SUANLI_ATTEMPT``, ``SUANLI_GANG_SIZE`` and
  (when the task names them) ``SUANLI_NODES``; nothing of the agent's environment. A gang's
  command runs once, like Slurm's batch script on the first node; ``SUANLI_NODES`` lists
  one node id per member (comma-separated) so that it can start the others.
- Isolation (the default when the agent runs as root): each tenant's jobs run as an
  unprivileged OS user of its own (``job_user_name``; created on first use with
  ``useradd --system``, no home, no login shell), with no supplementary groups and
  no_new_privs, in a PID namespace of their own with their own /proc (``unshare``), so a
  job sees neither the platform's files (data dir, tokens, database, state dir: 0700) nor
  other jobs' processes, environments or scratch dirs. Without root, jobs run as the
  agent's user: only the clean environment and the scratch dir outside the data dir
  remain, and a warning says so once.
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
import fcntl
import hashlib
import logging
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import platformdirs

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
ISOLATED_JOBS_ROOT = Path("/var/lib/suanli-jobs")
"""Default jobs root of an isolating (root) engine; without root it is the user's cache
dir (``~/.cache/suanli/jobs``). Either way outside the data dir."""
USER_PREFIX = "suanli-t-"
"""OS user of a tenant whose id fits in a user name: suanli-t-<tenant id>."""
HASHED_USER_PREFIX = "suanli-h-"
"""OS user of any other tenant: suanli-h-<hash>; the account's comment names the tenant."""
MAX_USER_NAME = 32
SETUP_TIMEOUT_S = 30.0
_SLUG_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_warned_unisolated = False


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
        jobs_root: Path | None = None,
        isolate: bool | None = None,
    ) -> None:
        """`python` runs the shim; `timeout_grace_s` is the SIGTERM-to-SIGKILL grace when a
        task's time limit is hit. `declared`: offer this node instead of what the machine
        has (demos and tests that run several clusters on one machine; its GPUs are
        declared, not real, and it is not calibrated). `jobs_root`: where the tasks'
        scratch dirs go (default `ISOLATED_JOBS_ROOT` when isolating, else the user's cache
        dir); keep it outside the data dir. `isolate`: run jobs as per-tenant users in PID
        namespaces of their own (default: when running as root; True without root is
        refused). Raises EngineError when isolation is asked for but cannot work here."""
        self._declared = declared
        self._root = Path(state_dir).absolute()
        self._root.mkdir(parents=True, exist_ok=True)
        # The task dirs hold the jobs' environments (secrets) and the logs: agent only.
        self._root.chmod(0o700)
        self._clock = clock
        self._python = python
        self._timeout_grace_s = timeout_grace_s
        self._unshare = _sandbox_program(isolate)
        isolated = self._unshare is not None
        base = Path(jobs_root) if jobs_root is not None else default_jobs_root(isolated)
        self._jobs = _engine_jobs_dir(base.absolute(), self._root, isolated=isolated)
        self._users = JobUsers(base.absolute() / ".users.lock") if isolated else None
        # Shims this engine started: kept to reap them (they are our children) and as the
        # quickest liveness check. A restarted agent has none and falls back to /proc.
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._lock = threading.Lock()

    @property
    def isolated(self) -> bool:
        """Jobs run as per-tenant users in PID namespaces of their own."""
        return self._unshare is not None

    @property
    def jobs_dir(self) -> Path:
        """This engine's part of the jobs root: `<jobs root>/<engine id>`."""
        return self._jobs

    # ---- submit -------------------------------------------------------------------------

    def _submit(self, task: EngineTask) -> str:
        if not task.argv or not task.argv[0]:
            raise EngineError(f"task {task.key} has an empty command.")
        key = task.key
        task_dir = self._dir(key)
        user = self._users.get(task.tenant_id) if self._users is not None else None
        try:
            task_dir.mkdir(mode=0o700)
        except FileExistsError:
            raise EngineError(
                f"task {key} was already submitted to this engine (its files are in "
                f"{task_dir}); forget it first or submit a new attempt."
            ) from None
        scratch: Path | None = None
        try:
            scratch = self._make_scratch(user, key)
            self._write_spec(task, task_dir, scratch, user)
            self._start_shim(key, task_dir)
        except OSError as exc:
            shutil.rmtree(task_dir, ignore_errors=True)
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
            raise EngineError(f"could not start task {key}: {exc}") from exc
        self._reap_finished()
        return key

    def _make_scratch(self, user: JobUser | None, key: str) -> Path:
        """`<jobs dir>/<user>/<key>/` with `tmp/` and `work/`, 0700 and owned by the job's
        user. Created through directory descriptors without following symlinks: the
        user's dir belongs to the user, whose jobs may plant links or rename entries in it.
        A scratch dir that already exists is refused rather than reused."""
        owner = user.name if user is not None else _own_user_name()
        uid, gid = (user.uid, user.gid) if user is not None else (-1, -1)
        jobs_fd = os.open(self._jobs, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        try:
            user_fd = _private_dir(jobs_fd, owner, uid, gid, fresh=False)
        finally:
            os.close(jobs_fd)
        try:
            try:
                task_fd = _private_dir(user_fd, key, uid, gid, fresh=True)
            except FileExistsError:
                raise OSError(
                    f"its scratch dir {self._jobs / owner / key} already exists"
                ) from None
            try:
                for sub in ("tmp", "work"):
                    os.close(_private_dir(task_fd, sub, uid, gid, fresh=True))
            finally:
                os.close(task_fd)
        finally:
            os.close(user_fd)
        return self._jobs / owner / key

    def _write_spec(
        self, task: EngineTask, task_dir: Path, scratch: Path, user: JobUser | None
    ) -> None:
        working_dir = task.working_dir or str(scratch / "work")
        base = {
            "PATH": shim.SAFE_PATH,
            "HOME": str(scratch),
            "LANG": "C.UTF-8",
            "TMPDIR": str(scratch / "tmp"),
        }
        env = {**base, **task.job_env()}
        isolation = None
        if user is not None and self._unshare is not None:
            isolation = shim.Isolation(user.name, user.uid, user.gid, self._unshare)
        spec = shim.ShimSpec(
            task.argv, env, working_dir, task.time_limit_s, self._timeout_grace_s, isolation
        )
        meta = {
            "job_id": str(task.job_id),
            "attempt": task.attempt,
            "gpus": task.allocation.gpu_count,
            "submitted_at": self._clock.now().isoformat(),
            "scratch_dir": str(scratch),
        }
        shim.write_json_atomic(task_dir / shim.SPEC_FILE, {**spec.to_json(), **meta})

    def _start_shim(self, key: str, task_dir: Path) -> None:
        # The shim needs nothing of the agent's environment (its token above all); the
        # operator's PYTHONPATH is kept so that a source checkout still finds the shim.
        env = dict(shim.SANDBOX_ENV)
        if os.environ.get("PYTHONPATH"):
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        with (task_dir / shim.SHIM_LOG).open("ab") as shim_log:
            proc = subprocess.Popen(
                [self._python, "-m", SHIM_MODULE, str(task_dir)],
                cwd=task_dir,
                env=env,
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
        scratch = (shim.read_json(task_dir / shim.SPEC_FILE) or {}).get("scratch_dir")
        if isinstance(scratch, str) and Path(scratch).parent.parent == self._jobs:
            # rmtree never follows symlinks: a job cannot point it anywhere else
            shutil.rmtree(scratch, ignore_errors=True)
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


# ---- isolation ----------------------------------------------------------------------------


def default_jobs_root(isolated: bool) -> Path:
    """Where scratch dirs go unless configured: a system dir when jobs run as other users
    (they must be able to reach it), else the user's own cache dir."""
    if isolated:
        return ISOLATED_JOBS_ROOT
    return platformdirs.user_cache_path("suanli") / "jobs"


def job_user_name(tenant_id: str) -> str:
    """The OS user that runs `tenant_id`'s jobs: ``suanli-t-<tenant id>`` when the id is a
    slug that fits a user name (32 characters), else ``suanli-h-<20 hex digits of its
    SHA-256>``. The prefixes keep the two forms from ever naming the same user."""
    name = USER_PREFIX + tenant_id
    if _SLUG_NAME.match(tenant_id) and len(name) <= MAX_USER_NAME:
        return name
    return HASHED_USER_PREFIX + hashlib.sha256(tenant_id.encode()).hexdigest()[:20]


def user_comment(tenant_id: str) -> str:
    """The account comment (GECOS) of a tenant's user: how a hashed name maps back, and how
    suanli recognises its own accounts."""
    return "suanli tenant " + re.sub(r"[^A-Za-z0-9_.@-]", "?", tenant_id)


@dataclass(frozen=True, slots=True)
class JobUser:
    name: str
    uid: int
    gid: int


class JobUsers:
    """The OS users that run tenants' jobs, created on first use (root only).

    Idempotent and race-safe: an existing account is reused when its comment says suanli
    made it for this tenant (any other account of that name is refused, as is uid or gid
    0); creation holds an exclusive lock on `lock_path` (agents sharing a jobs root
    queue), and a `useradd` that fails is forgiven when the account exists afterwards
    (another agent, or an operator, created it meanwhile)."""

    def __init__(self, lock_path: Path) -> None:
        self._lock_path = lock_path
        self._lock = threading.Lock()
        self._known: dict[str, JobUser] = {}

    def get(self, tenant_id: str) -> JobUser:
        """The user for `tenant_id`, created if missing. Raises EngineError."""
        with self._lock:
            user = self._known.get(tenant_id)
            if user is None:
                user = self._lookup(tenant_id) or self._create(tenant_id)
                self._known[tenant_id] = user
            return user

    def _lookup(self, tenant_id: str) -> JobUser | None:
        name = job_user_name(tenant_id)
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            return None
        if entry.pw_gecos != user_comment(tenant_id) or entry.pw_uid == 0 or entry.pw_gid == 0:
            raise EngineError(
                f"the OS user {name} exists but suanli did not create it for tenant "
                f"{tenant_id!r} (its comment is {entry.pw_gecos!r}); jobs of that tenant "
                "will not run as it. Remove or rename that account."
            )
        return JobUser(name, entry.pw_uid, entry.pw_gid)

    def _create(self, tenant_id: str) -> JobUser:
        name = job_user_name(tenant_id)
        useradd = shutil.which("useradd", path=shim.SAFE_PATH)
        if useradd is None:
            raise EngineError(
                "cannot create job users: useradd is missing (apt-get install passwd)."
            )
        fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            user = self._lookup(tenant_id)  # created while we waited for the lock?
            if user is not None:
                return user
            argv = [
                useradd,
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                "--comment",
                user_comment(tenant_id),
                name,
            ]
            try:
                done = subprocess.run(
                    argv,
                    env=dict(shim.SANDBOX_ENV),
                    capture_output=True,
                    text=True,
                    timeout=SETUP_TIMEOUT_S,
                    check=False,
                )
                message = done.stderr.strip() or f"exit code {done.returncode}"
            except (OSError, subprocess.TimeoutExpired) as exc:
                message = str(exc)
        finally:
            os.close(fd)  # releases the lock
        user = self._lookup(tenant_id)
        if user is None:
            raise EngineError(
                f"cannot create the OS user {name} for tenant {tenant_id!r}: {message}"
            )
        log.info("created OS user %s (uid %d) for tenant %s's jobs", name, user.uid, tenant_id)
        return user


def _sandbox_program(isolate: bool | None) -> str | None:
    """The `unshare` program to isolate jobs with, or None when jobs run unisolated (as
    the agent's user; warned about once per process). Isolation is the default for root
    and is refused, with the reason, where it cannot work."""
    global _warned_unisolated
    root = os.geteuid() == 0
    if isolate is None:
        isolate = root
    if not isolate:
        if not _warned_unisolated:
            _warned_unisolated = True
            log.warning(
                "local engine: jobs run as this agent's user (uid %d), unisolated: they can "
                "read whatever it can (its data dir, tokens, database) and see its "
                "processes. Run the agent as root to run each tenant's jobs as a user of "
                "its own, in a PID namespace of their own.",
                os.geteuid(),
            )
        return None
    if not root:
        raise EngineError(
            "the local engine can isolate jobs only when it runs as root (it creates a user "
            "per tenant and PID namespaces); run the agent as root."
        )
    unshare = shutil.which("unshare", path=shim.SAFE_PATH)
    if unshare is None or shutil.which("useradd", path=shim.SAFE_PATH) is None:
        raise EngineError(
            "the local engine isolates jobs with unshare and useradd, and this machine lacks "
            "them: apt-get install util-linux passwd."
        )
    probe = [unshare, "--pid", "--fork", "--mount-proc", "--kill-child", "true"]
    try:
        done = subprocess.run(
            probe,
            env=dict(shim.SANDBOX_ENV),
            capture_output=True,
            text=True,
            timeout=SETUP_TIMEOUT_S,
            check=False,
        )
        problem = "" if done.returncode == 0 else done.stderr.strip() or f"exit {done.returncode}"
    except (OSError, subprocess.TimeoutExpired) as exc:
        problem = str(exc)
    if problem:
        raise EngineError(
            f"the local engine cannot create a PID namespace here ({' '.join(probe)}: "
            f"{problem}); a container needs CAP_SYS_ADMIN for it."
        )
    return unshare


def _engine_jobs_dir(base: Path, state_dir: Path, *, isolated: bool) -> Path:
    """`<base>/<engine id>`, created, owned by this process's user, 0711 when jobs of other
    users must pass through it to their dirs (they can list neither it nor each other's
    dirs), else 0700. Refuses a dir that other users could tamper with or, when isolated,
    that job users cannot reach."""
    engine_id = hashlib.sha256(str(state_dir).encode()).hexdigest()[:16]
    try:
        base.mkdir(mode=0o711 if isolated else 0o700, parents=True, exist_ok=True)
        base_fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
        try:
            mode = os.fstat(base_fd).st_mode
            if mode & (stat.S_IWGRP | stat.S_IWOTH) and not mode & stat.S_ISVTX:
                raise EngineError(
                    f"the jobs root {base} is writable by other users; give it mode 0711 or "
                    "choose another (--jobs-root)."
                )
            jobs_fd = _private_dir(base_fd, engine_id, -1, -1, fresh=False, owned=True)
            os.fchmod(jobs_fd, 0o711 if isolated else 0o700)
            os.close(jobs_fd)
        finally:
            os.close(base_fd)
    except OSError as exc:
        raise EngineError(f"cannot prepare the jobs root {base}: {exc}") from exc
    jobs = base / engine_id
    if isolated:
        for directory in (jobs, *jobs.parents):
            if not directory.stat().st_mode & stat.S_IXOTH:
                raise EngineError(
                    f"job users cannot reach the jobs root {jobs}: {directory} is not "
                    "searchable by others (chmod o+x, or choose another --jobs-root)."
                )
    return jobs


def _private_dir(
    parent_fd: int, name: str, uid: int, gid: int, *, fresh: bool, owned: bool = False
) -> int:
    """Open directory `name` in `parent_fd`, creating it (mode 0700) if missing; with
    `fresh` it must not exist yet (FileExistsError). Never follows a symlink. Gives it to
    `uid`:`gid` (-1: unchanged) with mode 0700; with `owned`, an existing dir must belong
    to this process's user. Returns its descriptor."""
    try:
        os.mkdir(name, mode=0o700, dir_fd=parent_fd)
    except FileExistsError:
        if fresh:
            raise
    fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent_fd)
    try:
        if owned and os.fstat(fd).st_uid != os.geteuid():
            raise OSError(f"{name} belongs to another user")
        os.fchown(fd, uid, gid)
        os.fchmod(fd, 0o700)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _own_user_name() -> str:
    try:
        return pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        return str(os.geteuid())


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
    loss was noticed (which may be after a long outage of the agent). Never before the
    recorded start: file times come from the kernel's coarser clock and may lag by a tick."""
    started = read_time(state.get("started_at")) if state else None
    try:
        mtime = (task_dir / shim.ALIVE_FILE).stat().st_mtime
    except OSError:
        return started or now
    alive = datetime.fromtimestamp(mtime, UTC)
    return max(alive, started) if started is not None else alive
