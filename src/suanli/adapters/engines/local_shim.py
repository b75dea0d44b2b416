"""Supervisor shim of the local engine: one small process per task, detached from the agent.

Run as ``python -m suanli.adapters.engines.local_shim TASK_DIR``. The engine starts it in a
new session, so it outlives an agent that is killed. The shim starts the job in a session
(and process group) of its own, so that signalling the job's group never hits the shim.
The job's environment is exactly the spec's ``env``: nothing of the shim's (or the
agent's) environment is passed on.

Isolated tasks (the spec has ``isolation``: the engine runs as root) run in a sandbox:

    shim (root) -> unshare --pid --fork --mount-proc --kill-child   (the job's group leader)
                   -> this file --init TASK_DIR FD  (root; PID 1 of a new PID namespace,
                      with its own /proc)
                      -> the job: setgroups([]), setgid, setuid to the tenant's user,
                         no_new_privs, chdir (as that user), exec with the spec's env

The sandbox processes run with a fixed minimal environment and read argv and env from the
spec (never from the environment, which the tenant chooses: LD_PRELOAD must not reach a
root process). The job stays in the group the shim signals, so cancel and time limits
SIGTERM it directly (``unshare`` blocks SIGTERM and SIGINT while it waits; the namespace's
init ignores signals it has no handler for); a SIGKILL of the group kills the init, and
with it every process in the namespace, including ones that left the group. The init
reports the job's wait status (or why it could not start it) on an inherited pipe, so
exit codes and signal names are the job's own, not the sandbox's.

Files in TASK_DIR (JSON files are replaced atomically: write a temporary file, then
``os.replace``, so a reader sees the old or the new content, never half of it):

- ``spec.json`` (engine -> shim): argv, env, working dir, time limit, grace, isolation.
- ``state.json`` (shim -> engine): ``phase`` is ``starting``, ``running`` or ``exited``;
  the shim's and the job's pid and start time (clock ticks since boot, from
  ``/proc/<pid>/stat``, to tell a live process from a reused pid), ``started_at``,
  ``ended_at`` (ISO 8601, UTC), ``exit_code`` (128+N for a job killed by signal N, as a
  shell reports it; 127 when the program could not be executed), ``signal`` (its name),
  ``cause`` (``""``, ``cancel``, ``timeout``, ``exec_error`` or ``setup_error``) and
  ``reason`` (for people).
- ``cancel_requested`` (engine -> shim): ``{"grace_s": ...}``. After writing it the engine
  sends ``WAKE_SIGNAL`` to the shim; the shim SIGTERMs the job's group and SIGKILLs it after
  the grace. The shim also re-reads the marker at least every ``MAX_WAIT_S``, so a lost
  wake-up costs latency, never correctness.
- ``stdout.log``, ``stderr.log``: the job's output.

The time limit is enforced the same way (SIGTERM, SIGKILL after the spec's grace). When the
job's main process has exited, the shim SIGKILLs whatever is left in its process group
before reaping it, so no grandchild outlives the task. The shim imports nothing from
suanli: it must start fast and keep working whatever the agent's code does. Timestamps come
from the system clock: the shim is a separate process and cannot share the agent's clock.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any, BinaryIO, NoReturn

SPEC_FILE = "spec.json"
STATE_FILE = "state.json"
SHIM_FILE = "shim.json"
"""Written by the engine right after starting the shim: its pid and start ticks."""
LOST_FILE = "lost.json"
ALIVE_FILE = "alive"
"""Touched by the shim about once a second while it watches the job: its mtime is the last
moment the job is known to have been supervised, which bounds a LOST attempt's billing."""
"""Written by the engine when it finds the shim dead before the job's end was recorded."""
CANCEL_FILE = "cancel_requested"
SHIM_LOG = "shim.log"
STDOUT_LOG = "stdout.log"
STDERR_LOG = "stderr.log"

PHASE_STARTING = "starting"
PHASE_RUNNING = "running"
PHASE_EXITED = "exited"

CAUSE_CANCEL = "cancel"
CAUSE_TIMEOUT = "timeout"
CAUSE_EXEC_ERROR = "exec_error"
CAUSE_SETUP_ERROR = "setup_error"

EXEC_FAILED_EXIT = 127
WAKE_SIGNAL = signal.SIGUSR1
MAX_WAIT_S = 1.0
INIT_FLAG = "--init"
SANDBOX_START_TIMEOUT_S = 30.0
SAFE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
SANDBOX_ENV = {"PATH": SAFE_PATH, "LANG": "C.UTF-8"}
"""The whole environment of the sandbox's root processes (unshare and the init)."""
_PR_SET_NO_NEW_PRIVS = 38


# ---- helpers shared with the engine -------------------------------------------------


def write_json_atomic(path: Path, data: Mapping[str, object]) -> None:
    """Replace `path` with `data` as JSON so that readers never see a partial file."""
    # Unique per process and thread, so that concurrent writers never share a temporary.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(data, sort_keys=True))
    tmp.replace(path)


def read_time(value: object) -> datetime | None:
    """A time written into a record as ISO 8601, or None when absent or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in `path`, or None if it is missing or not a JSON object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def process_start_ticks(pid: int) -> int | None:
    """Start time (clock ticks since boot) of live process `pid`; None if gone or a zombie.

    Comparing it with a recorded value tells the same process from a reused pid.
    """
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    # Field 2 (comm) may hold spaces and parentheses: the fields after it follow the last ')'.
    fields = text[text.rfind(")") + 2 :].split()
    if len(fields) < 20 or fields[0] in ("Z", "X", "x"):
        return None
    try:
        return int(fields[19])  # field 22 of the file: starttime
    except ValueError:
        return None


def utc_now_iso() -> str:
    return datetime.now(UTC).isoformat()


def describe_exit(exit_code: int, signal_name: str | None) -> str:
    if signal_name:
        return f"killed by {signal_name} (exit code {exit_code})"
    return f"exited with code {exit_code}"


# ---- the task spec ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Isolation:
    """Run the job as `user` (`uid`, `gid`, no supplementary groups) in a PID and mount
    namespace of its own, created by the `unshare` program at that path."""

    user: str
    uid: int
    gid: int
    unshare: str

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: object) -> Isolation:
        """Parse the spec's `isolation`; raises ValueError naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError("spec: isolation must be an object")
        user, uid, gid, unshare = (data.get(k) for k in ("user", "uid", "gid", "unshare"))
        if not isinstance(user, str) or not user:
            raise ValueError("spec: isolation.user must be a non-empty string")
        for name, value in (("uid", uid), ("gid", gid)):
            # 0 is refused: an isolated job never runs as root
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"spec: isolation.{name} must be a positive integer")
        if not isinstance(unshare, str) or not unshare.startswith("/"):
            raise ValueError("spec: isolation.unshare must be an absolute path")
        return cls(user, int(str(uid)), int(str(gid)), unshare)


@dataclass(frozen=True, slots=True)
class ShimSpec:
    argv: tuple[str, ...]
    env: Mapping[str, str]
    """The job's whole environment (nothing is inherited from the shim or the agent)."""
    working_dir: str
    time_limit_s: int | None
    grace_s: float
    """SIGTERM-to-SIGKILL grace when the time limit is hit."""
    isolation: Isolation | None = None
    """None: the job runs as the shim's user, in the shim's PID namespace."""

    def to_json(self) -> dict[str, object]:
        return {
            "argv": list(self.argv),
            "env": dict(self.env),
            "working_dir": self.working_dir,
            "time_limit_s": self.time_limit_s,
            "grace_s": self.grace_s,
            "isolation": self.isolation.to_json() if self.isolation else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ShimSpec:
        """Parse a spec; raises ValueError naming the bad field."""
        argv, env, wd = data.get("argv"), data.get("env") or {}, data.get("working_dir")
        limit, grace = data.get("time_limit_s"), data.get("grace_s", 10.0)
        isolation = data.get("isolation")
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) for a in argv):
            raise ValueError("spec: argv must be a non-empty list of strings")
        if not isinstance(env, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in env.items()
        ):
            raise ValueError("spec: env must map strings to strings")
        if not isinstance(wd, str) or not wd:
            raise ValueError("spec: working_dir must be a non-empty string")
        if limit is not None and (not isinstance(limit, int) or limit <= 0):
            raise ValueError("spec: time_limit_s must be a positive integer or null")
        if not isinstance(grace, int | float) or grace < 0:
            raise ValueError("spec: grace_s must be a non-negative number")
        sandbox = Isolation.from_json(isolation) if isolation is not None else None
        return cls(tuple(argv), dict(env), wd, limit, float(grace), sandbox)


# ---- the supervisor -----------------------------------------------------------------------


@dataclass(slots=True)
class ShimState:
    """The content of state.json."""

    shim_pid: int
    shim_start_ticks: int | None
    phase: str = PHASE_STARTING
    pid: int | None = None
    pgid: int | None = None
    job_start_ticks: int | None = None
    started_at: str | None = None
    ended_at: str | None = None
    exit_code: int | None = None
    signal: str | None = None
    cause: str = ""
    reason: str = ""


class Supervisor:
    """Runs one task: start, watch, stop on cancel or time limit, record the outcome."""

    def __init__(self, task_dir: Path, spec: ShimSpec) -> None:
        self.dir = task_dir
        self.spec = spec
        self.state = ShimState(os.getpid(), process_start_ticks(os.getpid()))
        self._kill_at: float | None = None
        self._report_fd: int | None = None
        """Read end of the isolated job's init report (see `run_init`)."""
        self._report = bytearray()

    def run(self) -> int:
        self._save()
        if self._cancel_grace() is not None:
            self._finish(None, None, CAUSE_CANCEL, "cancelled before the job started")
            return 0
        proc = self._spawn()
        if proc is None:
            return 0
        # Block the signals we wait for only now: a child inherits the signal mask.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGCHLD, WAKE_SIGNAL})
        self._watch(proc.pid)
        # The main process is a zombie now and still holds the group id: clear the group.
        self._kill_group(signal.SIGKILL)
        _, status = os.waitpid(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)  # tell Popen it was reaped
        self._record_end(status)
        return 0

    # -- starting

    def _spawn(self) -> subprocess.Popen[bytes] | None:
        spec = self.spec
        if not Path(spec.working_dir).is_dir():
            self._fail_setup(
                f"working directory {spec.working_dir!r} does not exist or is not a directory"
            )
            return None
        # The shim (privileged) opens the logs and hands the job their descriptors: an
        # isolated job can write its output but never open anything in the task dir.
        with (self.dir / STDOUT_LOG).open("ab") as out, (self.dir / STDERR_LOG).open("ab") as err:
            try:
                if spec.isolation is None:
                    proc = subprocess.Popen(
                        spec.argv,
                        cwd=spec.working_dir,
                        env=dict(spec.env),
                        stdin=subprocess.DEVNULL,
                        stdout=out,
                        stderr=err,
                        start_new_session=True,
                    )
                else:
                    proc = self._spawn_sandbox(spec.isolation, out, err)
            except OSError as exc:
                if spec.isolation is None:
                    reason = _exec_error_reason(spec.argv[0], spec.working_dir, exc)
                else:
                    what = exc.strerror or str(exc)
                    reason = f"cannot start the job's sandbox {spec.isolation.unshare!r}: {what}"
                err.write(f"suanli: {reason}\n".encode())
                cause = CAUSE_EXEC_ERROR
                self._finish(EXEC_FAILED_EXIT, None, cause, f"{reason} (exit code 127)")
                return None
        st = self.state
        st.phase, st.pid, st.pgid = PHASE_RUNNING, proc.pid, proc.pid
        st.job_start_ticks = process_start_ticks(proc.pid)
        st.started_at = utc_now_iso()
        self._save()
        return proc

    def _spawn_sandbox(
        self, isolation: Isolation, out: BinaryIO, err: BinaryIO
    ) -> subprocess.Popen[bytes]:
        """Start unshare -> init -> job (see the module docstring); the init reports on a
        pipe whose read end the shim keeps."""
        read_end, write_end = os.pipe()
        argv = [
            isolation.unshare,
            "--pid",
            "--fork",
            "--mount-proc",
            "--kill-child",  # the init (and its namespace) dies with unshare
            "--",
            sys.executable,
            "-I",  # the init is root: no PYTHON* variables, no user site, no cwd on sys.path
            str(Path(__file__).resolve()),
            INIT_FLAG,
            str(self.dir),
            str(write_end),
        ]
        try:
            proc = subprocess.Popen(
                argv,
                cwd="/",
                env=dict(SANDBOX_ENV),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
                pass_fds=(write_end,),
            )
        except OSError:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        self._report_fd = read_end
        self._await_start(read_end)
        return proc

    def _await_start(self, fd: int) -> None:
        """Wait until the init says the job runs (or gives up): the job is in the group
        from then on, so a cancel's SIGTERM reaches it instead of being lost on a sandbox
        that is still starting (and turned into a SIGKILL after the grace)."""
        deadline = time.monotonic() + SANDBOX_START_TIMEOUT_S
        while b"\n" not in self._report:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                print("suanli shim: the sandbox did not report a start", file=sys.stderr)
                return
            chunk = os.read(fd, 65536)
            if not chunk:
                return  # the init is gone; the end says why
            self._report += chunk

    def _fail_setup(self, reason: str) -> None:
        with contextlib.suppress(OSError), (self.dir / STDERR_LOG).open("ab") as err:
            err.write(f"suanli: {reason}\n".encode())
        self._finish(None, None, CAUSE_SETUP_ERROR, reason)

    # -- watching

    def _watch(self, pid: int) -> None:
        """Return once the job's main process has exited (it is left unreaped)."""
        limit = self.spec.time_limit_s
        deadline = time.monotonic() + limit if limit is not None else None
        alive = self.dir / ALIVE_FILE
        while not _has_exited(pid):
            with contextlib.suppress(OSError):
                alive.touch()
            now = time.monotonic()
            grace = self._cancel_grace()
            if grace is not None:
                self._stop(CAUSE_CANCEL, "cancelled", grace, now)
            elif deadline is not None and now >= deadline:
                reason = f"TIMEOUT: time limit of {limit} s exceeded"
                self._stop(CAUSE_TIMEOUT, reason, self.spec.grace_s, now)
            if self._kill_at is not None and now >= self._kill_at:
                self._kill_group(signal.SIGKILL)
                self._kill_at = None
            wait = MAX_WAIT_S
            if deadline is not None and not self.state.cause:
                wait = min(wait, deadline - now)
            if self._kill_at is not None:
                wait = min(wait, self._kill_at - now)
            signal.sigtimedwait({signal.SIGCHLD, WAKE_SIGNAL}, max(wait, 0.01))

    def _stop(self, cause: str, reason: str, grace: float, now: float) -> None:
        """SIGTERM the group once; SIGKILL it `grace` seconds later (the sooner if asked twice)."""
        kill_at = now + grace
        if self._kill_at is not None:
            self._kill_at = min(self._kill_at, kill_at)
        if self.state.cause:
            return
        self.state.cause, self.state.reason = cause, reason
        self._save()
        self._kill_group(signal.SIGTERM)
        self._kill_at = kill_at

    def _cancel_grace(self) -> float | None:
        """The grace asked for by a cancel marker, or None if no cancel was asked for."""
        path = self.dir / CANCEL_FILE
        if not path.exists():
            return None
        grace = (read_json(path) or {}).get("grace_s", 0.0)
        return float(grace) if isinstance(grace, int | float) and grace >= 0 else 0.0

    def _kill_group(self, sig: signal.Signals) -> None:
        if self.state.pgid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.state.pgid, sig)

    # -- ending

    def _record_end(self, status: int) -> None:
        """Record how the job ended from its wait status; for an isolated job, from what
        its init reported (`status`, the wait status of unshare, is the sandbox's)."""
        if self.spec.isolation is None:
            self._record_exit(status)
            return
        report = self._init_report()
        job_status, error = report.get("status"), report.get("error")
        if isinstance(job_status, int) and not isinstance(job_status, bool):
            self._record_exit(job_status)
        elif isinstance(error, str) and error:
            with contextlib.suppress(OSError), (self.dir / STDERR_LOG).open("ab") as err:
                err.write(f"suanli: {error}\n".encode())
            self._finish(EXEC_FAILED_EXIT, None, CAUSE_EXEC_ERROR, f"{error} (exit code 127)")
        elif os.WIFEXITED(status) and not self.state.cause:
            # No word from the init, and the sandbox was not killed: it never ran the job.
            code = os.waitstatus_to_exitcode(status)
            program = Path(self.spec.isolation.unshare).name
            self._fail_setup(
                f"the job's sandbox failed before starting the job ({program} exited with "
                f"code {code}; its message is in the job's stderr)"
            )
        else:
            self._record_exit(status)  # the sandbox was killed with the job (SIGKILL)

    def _init_report(self) -> dict[str, Any]:
        """What the init wrote on the report pipe, its JSON lines merged ({} if nothing).
        Every writer has exited by now (the namespace dies with its init), so a
        non-blocking read sees it all."""
        fd, self._report_fd = self._report_fd, None
        if fd is None:
            return {}
        try:
            os.set_blocking(fd, False)
            while chunk := os.read(fd, 65536):
                self._report += chunk
        except BlockingIOError:
            pass
        except OSError as exc:
            print(f"suanli shim: cannot read the init's report: {exc}", file=sys.stderr)
        finally:
            os.close(fd)
        merged: dict[str, Any] = {}
        for line in bytes(self._report).splitlines():
            with contextlib.suppress(ValueError):
                data = json.loads(line)
                merged.update(data if isinstance(data, dict) else {})
        return merged

    def _record_exit(self, status: int) -> None:
        code = os.waitstatus_to_exitcode(status)
        signal_name: str | None = None
        if code < 0:
            signal_name = _signal_name(-code)
            code = 128 - code
        outcome = describe_exit(code, signal_name)
        cause = self.state.cause
        reason = f"{self.state.reason}; {outcome}" if cause else outcome
        self._finish(code, signal_name, cause, reason)

    def _finish(self, code: int | None, signal_name: str | None, cause: str, reason: str) -> None:
        st = self.state
        st.phase, st.exit_code, st.signal, st.cause, st.reason = (
            PHASE_EXITED,
            code,
            signal_name,
            cause,
            reason,
        )
        st.ended_at = utc_now_iso()
        self._save()

    def _save(self) -> None:
        save_state(self.dir, self.state)


def save_state(task_dir: Path, state: ShimState) -> None:
    try:
        write_json_atomic(task_dir / STATE_FILE, asdict(state))
    except OSError as exc:
        # The engine may have forgotten (deleted) the task; keep supervising regardless.
        print(f"suanli shim: cannot write state: {exc}", file=sys.stderr)


def _has_exited(pid: int) -> bool:
    """True once `pid` (our child) has exited; it is not reaped, so its group id stays ours."""
    try:
        info = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return True
    return info is not None and info.si_pid == pid


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _exec_error_reason(program: str, working_dir: str, exc: OSError) -> str:
    what = exc.strerror or str(exc)
    if exc.filename is not None and str(exc.filename) == working_dir and program != working_dir:
        return f"cannot enter working directory {working_dir!r}: {what}"
    return f"cannot run program {program!r}: {what}"


# ---- the init of an isolated job's namespace -------------------------------------------


def run_init(task_dir: Path, report_fd: int) -> int:
    """PID 1 of an isolated job's PID namespace, running as root: start the job as its
    user (see `_become_job`), reap every orphan of the namespace, and exit with the job's
    main process, which kills whatever is left in the namespace. Reports to the shim as
    JSON lines on `report_fd`: ``{"started": true}`` once the job runs, then
    ``{"status": <wait status>}``, or ``{"error": <why it could not start>}``.

    Signals from outside reach the init only if it handles them, and it handles none: the
    job, in the same process group, receives the shim's SIGTERM itself."""
    os.set_inheritable(report_fd, False)  # the job must not be able to forge the report
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        spec = ShimSpec.from_json(read_json(task_dir / SPEC_FILE) or {})
        if spec.isolation is None:
            raise ValueError("spec: the task is not isolated")
    except ValueError as exc:
        _report(report_fd, {"error": f"the job's sandbox cannot read its spec: {exc}"})
        return 2
    # Imported while still root: once the child is the job's user it may not be able to
    # read this interpreter's library (a Python under /root, say).
    import ctypes

    no_new_privs = functools.partial(_no_new_privs, ctypes)
    errors_r, errors_w = os.pipe()  # close-on-exec: stays empty when the exec succeeds
    pid = os.fork()
    if pid == 0:
        os.close(errors_r)
        _become_job(spec, spec.isolation, errors_w, no_new_privs)
    os.close(errors_w)
    with os.fdopen(errors_r, "rb") as errors:
        failure = errors.read().decode(errors="replace")
    if not failure:
        _report(report_fd, {"started": True})
    while True:
        child, status = os.wait()  # orphans of the namespace are ours to reap
        if child == pid:
            break
    if failure:
        _report(report_fd, {"error": failure})
        return EXEC_FAILED_EXIT
    _report(report_fd, {"status": status})
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def _become_job(
    spec: ShimSpec, isolation: Isolation, errors_fd: int, no_new_privs: Callable[[], None]
) -> NoReturn:
    """In the forked child: drop to the job's user (no supplementary groups, no way back
    through set-uid programs), enter the working directory as that user -- so a job
    cannot be placed in a directory it could not enter itself -- and exec the job with
    exactly the spec's environment. On failure, write why on `errors_fd` and exit 127."""
    stage = "user"
    try:
        for sig in (signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)  # Python's own dispositions, not the job's
        os.setgroups([])
        os.setgid(isolation.gid)
        os.setuid(isolation.uid)
        no_new_privs()
        stage = "cwd"
        os.chdir(spec.working_dir)
        stage = "exec"
        os.execvpe(spec.argv[0], list(spec.argv), dict(spec.env))
    except OSError as exc:
        what = exc.strerror or str(exc)
        if stage == "user":
            reason = f"cannot run as user {isolation.user} (uid {isolation.uid}): {what}"
        elif stage == "cwd":
            reason = (
                f"cannot enter working directory {spec.working_dir!r} as the job's user "
                f"{isolation.user}: {what}; submit from (or give --workdir) a directory "
                "that every user may enter"
            )
        else:
            reason = _exec_error_reason(spec.argv[0], spec.working_dir, exc)
        with contextlib.suppress(OSError):
            os.write(errors_fd, reason.encode())
    finally:
        os._exit(EXEC_FAILED_EXIT)


def _no_new_privs(ctypes: ModuleType) -> None:
    """prctl(PR_SET_NO_NEW_PRIVS): set-uid and file-capability programs give the job
    nothing more than its user has."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"prctl(PR_SET_NO_NEW_PRIVS): {os.strerror(errno)}")


def _report(fd: int, data: Mapping[str, object]) -> None:
    """One JSON line to the shim (the pipe closes when the init exits)."""
    with contextlib.suppress(OSError):
        os.write(fd, json.dumps(data).encode() + b"\n")


def _wake(signum: int, frame: FrameType | None) -> None:
    """Handler for WAKE_SIGNAL until it is blocked: the default action would kill the shim.
    (A Python handler, unlike SIG_IGN, is reset to the default in the job on exec.)"""


def main(argv: list[str]) -> int:
    if len(argv) == 4 and argv[1] == INIT_FLAG and argv[3].isdigit():
        return run_init(Path(argv[2]), int(argv[3]))
    if len(argv) != 2:
        print("usage: python -m suanli.adapters.engines.local_shim TASK_DIR", file=sys.stderr)
        return 2
    signal.signal(WAKE_SIGNAL, _wake)
    task_dir = Path(argv[1]).resolve()
    try:
        spec = ShimSpec.from_json(read_json(task_dir / SPEC_FILE) or {})
    except ValueError as exc:
        # Record the failure so that the engine reports FAILED, not a dead supervisor.
        print(f"suanli shim: {exc}", file=sys.stderr)
        state = ShimState(os.getpid(), process_start_ticks(os.getpid()), PHASE_EXITED)
        state.cause, state.reason, state.ended_at = CAUSE_SETUP_ERROR, str(exc), utc_now_iso()
        save_state(task_dir, state)
        return 2
    return Supervisor(task_dir, spec).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
