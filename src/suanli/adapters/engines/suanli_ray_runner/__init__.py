"""The Ray engine's entrypoint runner: runs one task's argv inside a Ray job.

The Ray engine submits every task as ``python3 -m suanli_ray_runner --id SID [--time-limit
S] [--grace S] [--cwd DIR] -- ARGV...`` and ships this package to the node with the job's
``runtime_env.py_modules`` (Ray uploads it once per content hash), so nodes need nothing
from suanli installed. It imports only the standard library and runs on Python 3.8+.

What it adds to a plain Ray entrypoint, and why:

- Separate streams. Ray writes a job's stdout and stderr to one log. The runner pipes the
  job's two streams into ``stdout.log`` and ``stderr.log`` in ``<node's Ray logs
  dir>/suanli/<SID>/``, which the engine reads through the dashboard's log API from any
  node; it still copies both to its own stdout/stderr, so ``ray job logs`` shows the
  combined output as usual (interleaved chunk by chunk as the two pipes deliver them).
- A time limit (Ray has none): after ``--time-limit`` seconds the runner SIGTERMs the job's
  processes and SIGKILLs them ``--grace`` seconds later; the reason reads
  ``TIMEOUT: time limit of S s exceeded``.
- A record of the outcome, ``record.json`` in the same directory (replaced atomically):
  ``phase`` (``running`` or ``exited``), ``started_at`` / ``ended_at`` (ISO 8601 UTC: when
  the job's process started and ended, not when Ray queued it), ``exit_code`` (128+N for a
  job killed by signal N, 127 when the program could not be run), ``signal``, ``cause``
  (``""``, ``cancel``, ``timeout``, ``exec_error``, ``setup_error``) and ``reason``.
- The job runs its argv directly (no shell) in ``--cwd`` (default: a fresh
  ``<session dir>/suanli/<SID>/work``), in the runner's process group. Ray starts the
  entrypoint in a session of its own, SIGTERMs (then SIGKILLs) the whole process tree on
  ``ray job stop``, and kills the group if the job's supervisor dies: keeping the job in
  that group keeps all of this working. When the job's main process exits, whatever is left
  of the group is SIGKILLed, so no grandchild outlives the task.

The runner exits with the job's exit code (so Ray's own status agrees), or 124 for a job
that exited 0 after its time limit was hit.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from types import FrameType
from typing import IO, Any, BinaryIO

MODULE = "suanli_ray_runner"
FILES_SUBDIR = "suanli"
"""Under the node's Ray logs dir: ``suanli/<SID>/`` holds the task's files."""
STDOUT_LOG = "stdout.log"
STDERR_LOG = "stderr.log"
RECORD_FILE = "record.json"

PHASE_RUNNING = "running"
PHASE_EXITED = "exited"
CAUSE_CANCEL = "cancel"
CAUSE_TIMEOUT = "timeout"
CAUSE_EXEC_ERROR = "exec_error"
CAUSE_SETUP_ERROR = "setup_error"
EXEC_FAILED_EXIT = 127
TIMEOUT_EXIT = 124
WAIT_STEP_S = 0.2
PUMP_JOIN_S = 5.0
"""How long to wait for the output pumps after the job's group is gone: a process that
left the group (setsid) may hold a pipe open; its output after that is not kept."""


class Usage(Exception):
    """Bad command line."""


class Options:
    """The runner's command line: options, then ``--``, then the job's argv."""

    def __init__(
        self,
        submission_id: str,
        argv: list[str],
        time_limit_s: float | None = None,
        grace_s: float = 10.0,
        cwd: str | None = None,
    ) -> None:
        self.submission_id = submission_id
        self.argv = argv
        self.time_limit_s = time_limit_s
        self.grace_s = grace_s
        self.cwd = cwd

    @classmethod
    def parse(cls, args: list[str]) -> Options:
        """Parse ``--id SID [--time-limit S] [--grace S] [--cwd DIR] -- ARGV...``."""
        if "--" not in args:
            raise Usage("missing '--' before the job's command")
        split = args.index("--")
        head, argv = args[:split], args[split + 1 :]
        if not argv or not argv[0]:
            raise Usage("the job's command is empty")
        if len(head) % 2:
            raise Usage(f"option {head[-1]!r} has no value")
        values = {head[i]: head[i + 1] for i in range(0, len(head), 2)}
        unknown = set(values) - {"--id", "--time-limit", "--grace", "--cwd"}
        if unknown:
            raise Usage(f"unknown options: {', '.join(sorted(unknown))}")
        sid = values.get("--id", "")
        if not sid or sid.startswith(".") or "/" in sid:
            raise Usage(f"--id must name a file, got {sid!r}")
        try:
            limit = float(values["--time-limit"]) if "--time-limit" in values else None
            grace = float(values.get("--grace", "10"))
        except ValueError as exc:
            raise Usage(str(exc)) from None
        if (limit is not None and limit <= 0) or grace < 0:
            raise Usage("--time-limit must be positive and --grace not negative")
        return cls(sid, argv, limit, grace, values.get("--cwd"))


# ---- files -------------------------------------------------------------------------------


def ray_logs_dir(submission_id: str) -> Path | None:
    """The Ray logs dir of this node, found from our stdout: Ray's job supervisor points the
    entrypoint's stdout at ``<logs dir>/job-driver-<SID>.log``. None if it does not."""
    try:
        target = Path(os.readlink("/proc/self/fd/1"))  # noqa: PTH115 - Path's is 3.9+
    except OSError:
        return None
    if target.name != f"job-driver-{submission_id}.log":
        return None
    return target.parent


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, sort_keys=True))
    tmp.replace(path)


def utc_now_iso() -> str:
    return datetime.now(timezone.utc).isoformat()  # noqa: UP017 - UTC is 3.11+


# ---- process groups ----------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    # Field 2 (comm) may hold spaces and parentheses: the fields after it follow the last ')'.
    return text[text.rfind(")") + 2 :].split()


def _ancestors(pid: int) -> set[int]:
    """`pid` and the processes above it (Ray's ``/bin/sh -c`` may still be our parent)."""
    seen = {pid}
    while pid > 1:
        fields = _stat_fields(pid)
        if fields is None or len(fields) < 2:
            break
        pid = int(fields[1])
        seen.add(pid)
    return seen


def signal_group_but_us(sig: signal.Signals) -> int:
    """Signal the job's processes: everything that descends from us, and, when our process
    group is the one Ray made for this job (a session's group: Ray starts the entrypoint
    with ``start_new_session``), every other member of it too (orphaned grandchildren).
    Never us or our ancestors. Returns how many were signalled."""
    me, group = os.getpid(), os.getpgrp()
    own_group = group == os.getsid(0)
    spared = _ancestors(me)
    parents: dict[int, int] = {}
    members: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is None or len(fields) < 3 or fields[0] in ("Z", "X"):
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        if own_group and int(fields[2]) == group:
            members.add(pid)
    targets = members | _descendants(me, parents)
    count = 0
    for pid in targets - spared:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
            count += 1
    return count


def _descendants(root: int, parents: dict[int, int]) -> set[int]:
    children: dict[int, list[int]] = {}
    for pid, ppid in parents.items():
        children.setdefault(ppid, []).append(pid)
    found: set[int] = set()
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


# ---- the runner --------------------------------------------------------------------------


class Runner:
    """Runs the job, copies its output, enforces its time limit, records the outcome."""

    def __init__(self, opts: Options, files: Path, default_cwd: Path) -> None:
        self.opts = opts
        self.files = files
        self.default_cwd = default_cwd
        self.record: dict[str, Any] = {
            "phase": PHASE_RUNNING,
            "host": socket.gethostname(),
            "runner_pid": os.getpid(),
            "pid": None,
            "started_at": None,
            "ended_at": None,
            "exit_code": None,
            "signal": None,
            "cause": "",
            "reason": "",
        }
        self._kill_at: float | None = None
        # Re-entrant: the stop-signal handler runs on the main thread, maybe inside `_watch`
        # while it holds the lock.
        self._lock = threading.RLock()

    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_stop_signal)
        cwd = self.opts.cwd
        if cwd is None:
            self.default_cwd.mkdir(parents=True, exist_ok=True)
            cwd = str(self.default_cwd)
        if not Path(cwd).is_dir():
            return self._fail_setup(f"working directory {cwd!r} does not exist or is not one")
        try:
            proc = subprocess.Popen(
                self.opts.argv,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
        except OSError as exc:
            what = exc.strerror or str(exc)
            reason = f"cannot run program {self.opts.argv[0]!r}: {what}"
            self._append(STDERR_LOG, f"suanli: {reason}\n".encode(), sys.stderr.buffer)
            return self._finish(EXEC_FAILED_EXIT, None, CAUSE_EXEC_ERROR, f"{reason} (exit 127)")
        self.record.update(pid=proc.pid, started_at=utc_now_iso())
        self._save()
        assert proc.stdout is not None and proc.stderr is not None
        pumps = [
            _pump(proc.stdout, self.files / STDOUT_LOG, sys.stdout.buffer),
            _pump(proc.stderr, self.files / STDERR_LOG, sys.stderr.buffer),
        ]
        code = self._watch(proc)
        # The main process has exited: clear what is left of the group, then the pipes.
        signal_group_but_us(signal.SIGKILL)
        for pump in pumps:
            pump.join(PUMP_JOIN_S)
        signal_name: str | None = None
        if code < 0:
            signal_name, code = _signal_name(-code), 128 - code
        outcome = (
            f"killed by {signal_name} (exit code {code})"
            if signal_name
            else f"exited with code {code}"
        )
        cause = self.record["cause"]
        reason = f"{self.record['reason']}; {outcome}" if cause else outcome
        self._finish(code, signal_name, cause, reason)
        if cause == CAUSE_TIMEOUT and code == 0:
            return TIMEOUT_EXIT
        return code

    def _watch(self, proc: subprocess.Popen[bytes]) -> int:
        """Wait for the job's main process; stop it at its time limit. Its exit status."""
        limit = self.opts.time_limit_s
        deadline = time.monotonic() + limit if limit is not None else None
        while True:
            try:
                return proc.wait(timeout=WAIT_STEP_S)
            except subprocess.TimeoutExpired:
                pass
            now = time.monotonic()
            if deadline is not None and now >= deadline and not self.record["cause"]:
                reason = f"TIMEOUT: time limit of {_seconds(limit)} s exceeded"
                self._stop(CAUSE_TIMEOUT, reason)
            with self._lock:
                kill = self._kill_at is not None and now >= self._kill_at
                if kill:
                    self._kill_at = None
            if kill:
                signal_group_but_us(signal.SIGKILL)

    def _stop(self, cause: str, reason: str) -> None:
        """SIGTERM the job's processes once; SIGKILL them after the grace."""
        with self._lock:
            if self.record["cause"]:
                return
            self.record.update(cause=cause, reason=reason)
            self._kill_at = time.monotonic() + self.opts.grace_s
        self._save()
        signal_group_but_us(signal.SIGTERM)

    def _on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        # `ray job stop` signals every process of the job's tree at once; the job has its
        # signal too. Forwarding covers a stop aimed at the runner alone. Ray SIGKILLs the
        # tree after its own grace (RAY_JOB_STOP_WAIT_TIME_S), which the engine sets.
        self._stop(CAUSE_CANCEL, f"stopped through Ray ({_signal_name(signum)})")

    def _fail_setup(self, reason: str) -> int:
        self._append(STDERR_LOG, f"suanli: {reason}\n".encode(), sys.stderr.buffer)
        self._finish(None, None, CAUSE_SETUP_ERROR, reason)
        return 1

    def _finish(self, code: int | None, signal_name: str | None, cause: str, reason: str) -> int:
        self.record.update(
            phase=PHASE_EXITED,
            exit_code=code,
            signal=signal_name,
            cause=cause,
            reason=reason,
            ended_at=utc_now_iso(),
        )
        self._save()
        return code if code is not None else 1

    def _append(self, name: str, data: bytes, echo: BinaryIO) -> None:
        with contextlib.suppress(OSError), (self.files / name).open("ab") as f:
            f.write(data)
        with contextlib.suppress(OSError):
            echo.write(data)
            echo.flush()

    def _save(self) -> None:
        try:
            write_json_atomic(self.files / RECORD_FILE, self.record)
        except OSError as exc:
            print(f"suanli runner: cannot write the record: {exc}", file=sys.stderr)


def _pump(source: IO[bytes], path: Path, echo: BinaryIO) -> threading.Thread:
    """Copy `source` to `path` and to `echo` (Ray's log) as it comes, until EOF."""

    def copy() -> None:
        fd = source.fileno()
        with path.open("ab", buffering=0) as out:
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except InterruptedError:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                out.write(chunk)
                with contextlib.suppress(OSError, ValueError):
                    echo.write(chunk)
                    echo.flush()

    thread = threading.Thread(target=copy, name=f"pump-{path.name}", daemon=True)
    thread.start()
    return thread


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def _seconds(value: float | None) -> str:
    return "" if value is None else (f"{value:g}")


def main(args: list[str]) -> int:
    try:
        opts = Options.parse(args)
    except Usage as exc:
        print(f"suanli runner: {exc}", file=sys.stderr)
        print(
            f"usage: python3 -m {MODULE} --id SID [--time-limit S] [--grace S] [--cwd DIR]"
            " -- COMMAND [ARG...]",
            file=sys.stderr,
        )
        return 2
    logs = ray_logs_dir(opts.submission_id)
    if logs is None:
        # Not under a Ray job supervisor (or an unknown Ray layout): run anyway; the engine
        # then has Ray's combined log only.
        base = Path(tempfile.mkdtemp(prefix=f"suanli-{opts.submission_id}-"))
        files, work = base, base / "work"
        print(f"suanli runner: Ray's logs dir not found; files in {base}", file=sys.stderr)
    else:
        files = logs / FILES_SUBDIR / opts.submission_id
        work = logs.parent / FILES_SUBDIR / opts.submission_id / "work"
    files.mkdir(parents=True, exist_ok=True)
    return Runner(opts, files, work).run()
