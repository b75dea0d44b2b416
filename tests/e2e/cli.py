"""The CLI as a user runs it, against a harness server: `suanli ARGS` with a token."""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

from tests.e2e.harness import CLI_TIMEOUT_S, Server, suanli_argv


def run(srv: Server, token: str | None, *args: str) -> tuple[int, str, str]:
    """`suanli ARGS` with SUANLI_TOKEN=token (None: the config's operator token)."""
    env = dict(srv.env)
    if token is not None:
        env["SUANLI_TOKEN"] = token
    done = subprocess.run(
        [*suanli_argv(), *args],
        env=env,
        cwd=srv.workdir,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        check=False,
    )
    return done.returncode, done.stdout, done.stderr


def ok(srv: Server, token: str | None, *args: str) -> str:
    rc, out, err = run(srv, token, *args)
    assert rc == 0, f"`suanli {' '.join(args)}` failed ({rc}): {err}"
    return out


def js(srv: Server, token: str | None, *args: str) -> Any:
    return json.loads(ok(srv, token, *args, "--json"))


def refused(srv: Server, token: str | None, *args: str) -> str:
    rc, out, err = run(srv, token, *args)
    assert rc == 1, f"`suanli {' '.join(args)}` should fail, got {rc}: {out} {err}"
    return err


def new_token(srv: Server, user: str) -> str:
    out = ok(srv, None, "token", "create", "--user", user, "--name", "e2e", "--expires", "1d")
    return out.strip().splitlines()[-1]


def wait_status(
    srv: Server, token: str, job_id: str, *wanted: str, timeout_s: float = 60.0
) -> dict[str, Any]:
    """Poll `suanli job ID` until its status is one of `wanted`; fails with the job's
    status, reason and the server's diagnostics after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while (job := js(srv, token, "job", job_id))["status"] not in wanted:
        assert time.monotonic() < deadline, (job["status"], job["reason"], srv.diagnostics())
        time.sleep(0.3)
    return dict(job)
