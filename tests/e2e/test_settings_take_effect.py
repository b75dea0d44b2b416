"""Issue 16's report "a quota change took 15-45 s to take effect": a quota raised
through the CLI lets the job it held back start at the next cycle, not at the
scheduler's periodic re-read of its settings (every 30 s)."""

from __future__ import annotations

import time

from tests.e2e.harness import Server

PERIODIC_REFRESH_S = 30.0


def test_a_raised_quota_admits_the_job_it_held_back_at_once(server: Server) -> None:
    assert server.cli("quota", "set", "default", "cpu", "0")[0] == 0
    try:
        rc, out, err = server.cli("submit", "--cpus", "1", "--", "sleep", "5")
        assert rc == 0, err
        job_id = out.strip()
        deadline = time.monotonic() + 20
        while "Over quota" not in (job := server.cli_json("job", job_id))["reason"]:
            assert time.monotonic() < deadline, job
            time.sleep(0.2)
        raised = time.monotonic()
        assert server.cli("quota", "set", "default", "cpu", "4")[0] == 0
        # well before the periodic re-read: the change itself wakes the scheduler
        while server.cli_json("job", job_id)["status"] == "PENDING":
            assert time.monotonic() - raised < PERIODIC_REFRESH_S / 3, server.diagnostics()
            time.sleep(0.2)
    finally:
        server.cli("quota", "rm", "default", "cpu")
