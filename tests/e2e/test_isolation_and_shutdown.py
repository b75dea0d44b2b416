"""`suanli up` against an attacker, for real: a tenant's job cannot read the platform's
files, tokens or other jobs; agent tokens never appear on a command line; stopping `up
--demo` stops the agents it started; the server's log is private, quiet and token-free."""

from __future__ import annotations

import json
import os
import pwd
import re
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from suanli.adapters.engines.local import job_user_name
from suanli.services.bootstrap import DEFAULT_TENANT
from tests.e2e.harness import Server, all_pids, cmdline, process_alive
from tests.e2e.test_cli_acceptance import submit, wait_status, wait_terminal
from tests.engines.hostile import HOSTILE

ROOT = os.geteuid() == 0
VICTIM_SECRET = "victim-secret-0123456789"
TOKEN = re.compile(r"sl_[A-Za-z0-9_-]{8,}")


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def wait_until(probe: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


def group_pids(pgid: int) -> list[int]:
    pids = []
    for pid in all_pids():
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if fields[2] == str(pgid) and fields[0] != "Z":
            pids.append(pid)
    return pids


@pytest.mark.skipif(not ROOT, reason="isolation needs root (docs/engines.md); CI runs as root")
def test_a_hostile_job_through_up_gets_nothing(server: Server) -> None:
    victim = submit(server, "--env", f"SECRET={VICTIM_SECRET}", "--", "sleep", "600")
    wait_status(server, victim, "RUNNING")
    task_dir = server.data_dir / "engine" / f"{victim}.1"
    victim_pids = group_pids(json.loads((task_dir / "state.json").read_text())["pgid"])
    assert server.proc is not None
    targets = {
        "files": {
            "tokens": str(server.data_dir / "tokens.json"),
            "config": str(server.config_path),
            "database": str(server.data_dir / "suanli.db"),
            "wal": str(server.data_dir / "suanli.db-wal"),
            "log": str(server.data_dir / "suanli.log"),
            "victim_spec": str(task_dir / "spec.json"),
        },
        # the other job, and `up` itself (its in-process agent holds the agent token)
        "pids": [*victim_pids, server.proc.pid],
    }
    hostile = submit(server, "--", "python3", "-c", HOSTILE, json.dumps(targets))
    done = wait_terminal(server, hostile)
    rc, out, err = server.cli("logs", hostile)
    assert done["status"] == "SUCCEEDED" and rc == 0, (done, err)
    found = json.loads(out)

    tokens = json.loads((server.data_dir / "tokens.json").read_text())
    for secret in [*tokens.values(), VICTIM_SECRET]:
        assert secret not in out
    assert not TOKEN.search(out), "a token reached the job"
    assert found["files"] == {name: "DENIED PermissionError" for name in targets["files"]}
    for pid in targets["pids"]:
        assert found["environs"][str(pid)] == "DENIED FileNotFoundError", pid
    assert not [k for k in found["own_env"] if k.startswith("SUANLI_") and "TOKEN" in k]
    assert "SUANLI_CONFIG" not in found["own_env"]  # nothing of `up`'s environment
    assert sorted(found["visible"]) == ["1", "2"]
    # the claim carried the job's tenant to the engine, which ran it as that tenant's user
    assert found["uid"] == pwd.getpwnam(job_user_name(DEFAULT_TENANT)).pw_uid != 0
    # and what keeps the files private even where the data dir's mode would not
    assert mode(server.data_dir) == 0o700
    for name in ("tokens.json", "suanli.db", "suanli.db-wal", "suanli.log"):
        assert mode(server.data_dir / name) == 0o600, name
    assert mode(server.config_path) == 0o600
    rc, _, err = server.cli("cancel", victim)
    assert rc == 0, err


def _demo_agents(srv: Server) -> dict[int, list[str]]:
    """The demo's agent processes (pid -> argv), from the pids `up` prints."""
    text = (srv.logs_dir / f"up-{srv.starts}.stderr").read_text()
    pids = [int(p) for p in re.findall(r"agent pid (\d+)", text)]
    return {pid: cmdline(pid) for pid in pids}


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_demo_agents_keep_tokens_off_argv_and_stop_with_up(
    make_server: Callable[[], Server], stop_signal: signal.Signals
) -> None:
    srv = make_server()
    srv.start("--demo")
    srv.wait_ready()
    wait_until(lambda: len(_demo_agents(srv)) >= 3, 30, "the demo's agents to be listed")
    agents = _demo_agents(srv)
    tokens = json.loads((srv.data_dir / "demo" / "tokens.json").read_text())
    assert mode(srv.data_dir / "demo" / "tokens.json") == 0o600
    for pid, argv in agents.items():
        assert process_alive(pid), (pid, argv)
        joined = " ".join(argv)
        assert "--token-file" in argv and "--token" not in argv, argv
        assert not any(secret in joined for secret in tokens.values()), argv
        assert not TOKEN.search(joined), argv
        token_file = Path(argv[argv.index("--token-file") + 1])
        assert mode(token_file) == 0o600
    # what `ps` shows every user: no token on any command line of this server's tree
    for pid in srv.leftover_pids():
        assert not TOKEN.search(" ".join(cmdline(pid))), cmdline(pid)

    job = submit(srv, "--gpus", "T4:1", "--", "python3", "-c", "print(42)")
    assert wait_terminal(srv, job, timeout=60)["status"] == "SUCCEEDED"

    assert srv.proc is not None
    srv.proc.send_signal(stop_signal)  # as a service manager does, or Ctrl-C
    assert srv.proc.wait(30) == 0
    wait_until(lambda: not any(process_alive(p) for p in agents), 15, "the agents to stop")

    log = srv.data_dir / "suanli.log"
    text = log.read_text()
    assert mode(log) == 0o600
    assert not TOKEN.search(text), "a token in the server's log"
    assert "HTTP Request" not in text and '"POST /v1/agent' not in text, "a line per request"
    for agent_log in (srv.data_dir / "demo").glob("*/agent.log"):
        assert mode(agent_log) == 0o600
        assert not TOKEN.search(agent_log.read_text())
