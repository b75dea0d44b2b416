"""Quota is an invariant of the scheduling cycle, not a feature of the default policy:
through the CLI against a real `suanli up --policy fifo` (and sjf), a tenant with a
1-core CPU quota and no borrowing never runs two 1-core jobs at once; the second starts
when the first ends."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from tests.e2e.cli import js, new_token, ok, wait_status
from tests.e2e.harness import Server

SCHEDULER_PERIODS_S = 6.0
"""Several scheduler periods (2 s each): long enough for a wrong admission to happen."""


@pytest.mark.parametrize("policy", ["fifo", "sjf"])
def test_a_tenant_never_runs_past_its_quota(policy: str, make_server: Callable[[], Server]) -> None:
    srv = make_server()
    srv.start("--policy", policy)
    srv.wait_ready()
    ok(srv, None, "tenant", "add", "capped", "--sector", "research")
    ok(srv, None, "user", "add", "cap", "--tenant", "capped", "--role", "consumer")
    ok(srv, None, "quota", "set", "capped", "cpu", "1", "--borrow", "0")
    token = new_token(srv, "cap")
    first = ok(srv, token, "submit", "--cpus", "1", "--time", "10m", "--", "sleep", "300")
    wait_status(srv, token, first.strip(), "RUNNING")
    second = ok(srv, token, "submit", "--cpus", "1", "--time", "1m", "--", "true").strip()
    time.sleep(SCHEDULER_PERIODS_S)
    waiting = js(srv, token, "job", second)
    assert waiting["status"] == "PENDING", waiting
    assert "quota" in waiting["reason"].lower(), waiting["reason"]
    running = js(srv, token, "jobs", "--status", "RUNNING", "--status", "SCHEDULED")
    assert len(running) == 1

    ok(srv, token, "cancel", first.strip())
    assert wait_status(srv, token, second, "SUCCEEDED")["status"] == "SUCCEEDED"
