"""Harness of the end-to-end tests: a real `suanli up` process and the real CLI.

Nothing is mocked. Each server gets a free port, a temporary data dir and a temporary
SUANLI_CONFIG (XDG_* point into the temporary tree too, so the real user config is never
read or written).

The tree lives in a directory of its own under the system's temporary dir (mode 0755),
not under pytest's `tmp_path`: run as root, the local engine runs jobs as per-tenant users,
who must be able to reach their working dir (the CLI's cwd, `workdir`) and their scratch
dirs (`jobs_root`, given to `up` as --jobs-root), and who cannot enter pytest's 0700 base
dir. The data dir in that tree is protected by `up` itself (0700), as in real use.

Teardown finds what a test left running, even after `up` itself was SIGKILLed: `up` and
`suanli agent` processes carry a unique marker in their environment; shims name a task dir
under the tree on their command line; jobs run in the tree (their cwd) -- jobs no longer
inherit any environment -- and every descendant of those is included.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

CLI_TIMEOUT_S = 30.0
READY_TIMEOUT_S = 30.0
STOP_GRACE_S = 10.0
MARKER_ENV = "SUANLI_E2E_MARKER"


def suanli_argv() -> list[str]:
    """The console script beside this interpreter, else `python -m suanli.cli.main`."""
    script = Path(sys.executable).with_name("suanli")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "suanli.cli.main"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _tail(path: Path, limit: int = 6000) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError as exc:
        return f"<cannot read {path}: {exc}>"
    return text if len(text) <= limit else "..." + text[-limit:]


def process_alive(pid: int) -> bool:
    """True if `pid` is a live process (a zombie counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat[stat.rfind(")") + 2 :].split()
    return bool(fields) and fields[0] not in ("Z", "X", "x")


def all_pids() -> list[int]:
    return [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def _environ_has(pid: int, entry: bytes) -> bool:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return False
    return entry in raw.split(b"\0")


def _under(arg: str, directory: str) -> bool:
    return arg == directory or arg.startswith(directory + os.sep)


def _cwd(pid: int) -> str:
    try:
        return str(Path(f"/proc/{pid}/cwd").readlink())
    except OSError:
        return ""


def _parents() -> dict[int, int]:
    """Every live process's parent pid."""
    parents = {}
    for pid in all_pids():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[1].isdigit():
            parents[pid] = int(fields[1])
    return parents


def with_descendants(pids: set[int]) -> set[int]:
    """`pids` and all their descendants (the sandbox processes and jobs under a shim)."""
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    found, todo = set(pids), list(pids)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


class Server:
    """One `suanli up` on a fixed port and data dir; it can be killed and started again."""

    def __init__(self, pytest_dir: Path) -> None:
        """`pytest_dir` (the test's own temporary dir) only names the tree, which is made
        elsewhere (see the module doc) and deleted by `remove_files`."""
        root = Path(tempfile.mkdtemp(prefix=f"suanli-e2e-{pytest_dir.name}-"))
        root.chmod(0o755)
        self.root = root
        self.data_dir = root / "data"
        self.workdir = root / "work"
        self.jobs_root = root / "jobs"
        self.logs_dir = root / "up-logs"
        self.config_path = root / "config" / "suanli.json"
        for d in (self.workdir, self.logs_dir):
            d.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.marker = uuid.uuid4().hex
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.started_wall: float = 0.0
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUANLI_")}
        env.update(
            SUANLI_CONFIG=str(self.config_path),
            XDG_CONFIG_HOME=str(root / "xdg-config"),
            XDG_DATA_HOME=str(root / "xdg-data"),
            NO_COLOR="1",
            COLUMNS="200",
        )
        self.env = env
        """Environment of every CLI subprocess."""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # ---- lifecycle ---------------------------------------------------------------------

    def start(self, *extra: str) -> None:
        """Start `suanli up` (with `extra` options)."""
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.starts += 1
        n = self.starts
        env = {**self.env, MARKER_ENV: self.marker}
        argv = [
            *suanli_argv(),
            "up",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--jobs-root",
            str(self.jobs_root),
            *extra,
        ]
        with (
            (self.logs_dir / f"up-{n}.stdout").open("wb") as out,
            (self.logs_dir / f"up-{n}.stderr").open("wb") as err,
        ):
            self.started_wall = time.time()
            self.proc = subprocess.Popen(
                argv,
                env=env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # our signals only; never the terminal's
            )

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> dict[str, Any]:
        """Poll `suanli pool --json` until the `local` cluster is READY and its agent has
        checked in since this start; returns that cluster."""
        deadline = time.monotonic() + timeout
        last = ""
        while True:
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(
                    f"`suanli up` exited with {self.proc.returncode}.\n{self.diagnostics()}"
                )
            rc, out, err = self.cli("pool", "--json", check_timeout=False)
            last = f"rc={rc} stdout={out[-500:]!r} stderr={err[-500:]!r}"
            if rc == 0:
                for cluster in json.loads(out):
                    beat = cluster.get("last_heartbeat_at")
                    if (
                        cluster["id"] == "local"
                        and cluster["state"] == "READY"
                        and beat
                        and parse_time(beat).timestamp() >= self.started_wall - 0.5
                    ):
                        return dict(cluster)
            if time.monotonic() > deadline:
                pytest.fail(
                    f"the local cluster was not READY within {timeout:g} s "
                    f"(last `suanli pool --json`: {last}).\n{self.diagnostics()}"
                )
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGINT, then SIGKILL after STOP_GRACE_S."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(STOP_GRACE_S)

    def kill(self) -> None:
        """SIGKILL `up` (not the shims: they are in sessions of their own)."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(STOP_GRACE_S)

    def leftover_pids(self) -> list[int]:
        """Live processes this server started: `up` and agents (they carry the marker),
        shims (their task dir is in the tree), jobs (their cwd is in the tree), and all
        their descendants."""
        entry = f"{MARKER_ENV}={self.marker}".encode()
        root = str(self.root)
        me = os.getpid()
        roots = {
            pid
            for pid in all_pids()
            if pid != me
            and (
                _environ_has(pid, entry)
                or any(_under(a, root) for a in cmdline(pid))
                or _under(_cwd(pid), root)
            )
        }
        return sorted(p for p in with_descendants(roots) if p != me and process_alive(p))

    def kill_leftovers(self) -> list[int]:
        """SIGKILL every leftover process and its process group (never ours)."""
        own_group = os.getpgrp()
        found = self.leftover_pids()
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                pgid = os.getpgid(pid)
                if pgid != own_group and pgid > 1:
                    os.killpg(pgid, signal.SIGKILL)
                else:
                    os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while any(process_alive(p) for p in found) and time.monotonic() < deadline:
            time.sleep(0.05)
        return found

    def remove_files(self) -> None:
        """Delete the server's tree (after `kill_leftovers`)."""
        shutil.rmtree(self.root, ignore_errors=True)

    # ---- the CLI -------------------------------------------------------------------------

    def cli(
        self, *args: str, timeout: float = CLI_TIMEOUT_S, check_timeout: bool = True
    ) -> tuple[int, str, str]:
        """Run `suanli ARGS...`; returns (exit code, stdout, stderr)."""
        try:
            done = subprocess.run(
                [*suanli_argv(), *args],
                env=self.env,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            if not check_timeout:
                return -1, "", f"timed out after {timeout:g} s"
            pytest.fail(f"`suanli {' '.join(args)}` timed out after {timeout:g} s: {exc}")
        return done.returncode, done.stdout, done.stderr

    def cli_json(self, *args: str) -> Any:
        rc, out, err = self.cli(*args, "--json")
        assert rc == 0, f"`suanli {' '.join(args)} --json` failed ({rc}): {err}"
        return json.loads(out)

    def token(self) -> str:
        data = json.loads(self.config_path.read_text())
        return str(data["token"])

    def diagnostics(self) -> str:
        parts = []
        for n in range(1, self.starts + 1):
            parts.append(f"--- up #{n} stdout ---\n{_tail(self.logs_dir / f'up-{n}.stdout')}")
            parts.append(f"--- up #{n} stderr ---\n{_tail(self.logs_dir / f'up-{n}.stderr')}")
        parts.append(
            f"--- {self.data_dir / 'suanli.log'} ---\n{_tail(self.data_dir / 'suanli.log')}"
        )
        return "\n".join(parts)


def shutdown(server: Server) -> None:
    """Stop a test's server, then kill whatever it left and remove its files."""
    try:
        server.stop()
    finally:
        server.kill_leftovers()
        server.remove_files()
