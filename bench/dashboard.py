"""Dashboard page loads with 100,000 jobs in the store (issue 13: under 300 ms each).

A platform on SQLite (a temporary file) gets N jobs (default 100,000) of three tenants,
submitted in batches through the job service (as the API would), and 30 days of minute
samples of the pool (three regions, a CPU and two GPU models each) and the queue, the
history's whole retention (the utilisation page over 24 h and 7 days). It is served by
uvicorn from this process. Debian's Chromium (headless, through Playwright's
executable_path; nothing is downloaded) logs in as the operator, who sees every tenant's
jobs, and loads each page cold: a fresh navigation from about:blank, timed until the
page says it has drawn (`body[data-ready]`), so HTML, scripts and every API call the page
makes are inside the figure. Each page is loaded `--repeat` times; the median and the
worst are printed.

Baseline, in the same run: the one thing server-side pagination replaces, reading every
job to show the queue (`GET /v1/jobs` page after page of 1,000 until the end), timed the
same way from the page's own fetch. The ratio is how many times longer that takes than
the queue page does.

    .venv/bin/python bench/dashboard.py [--jobs 100000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, sync_playwright
from sqlalchemy import func, select

from suanli.adapters.store_sql.tables import pool_samples, queue_samples
from suanli.api.app import create_app
from suanli.api.background import serve_in_thread
from suanli.domain.history import HISTORY_RETENTION_DAYS, ROLLUP_S, PoolSample, QueueSample
from suanli.domain.ids import TenantId, UserId
from suanli.domain.jobs import JobSpec
from suanli.domain.resources import Resources
from suanli.domain.tenancy import Role
from suanli.platform import Platform, PlatformConfig
from suanli.services.bootstrap import bootstrap_local

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run"]  # fmt: skip
PAGES = ("pool", "queue", "queue?tab=all", "job", "utilisation", "utilisation?hours=168",
         "sectors", "market", "money", "lab")  # fmt: skip
HISTORY_REGIONS = ("beijing", "zhengzhou", "guiyang")
HISTORY_RESOURCES = ("cpu", "gpu:A100-40GB", "gpu:H100-80GB")
TARGET_MS = 300.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def populate(plat: Platform, operator_token: str, jobs: int) -> str:
    """`jobs` pending jobs over three tenants; returns one job's id."""
    op = plat.auth.authenticate(operator_token)
    users = []
    for tenant in ("acme", "beta", "gamma"):
        plat.accounts.add_tenant(op, TenantId(tenant), sector="research")
        user = UserId(f"u-{tenant}")
        plat.accounts.add_user(op, user, role=Role.CONSUMER, tenant_id=TenantId(tenant))
        users.append(plat.auth.authenticate(plat.accounts.create_token(op, user_id=user).secret))
    batch = 5_000
    last = ""
    t0 = time.perf_counter()
    for start in range(0, jobs, batch):
        items = [
            (
                users[i % 3],
                JobSpec(
                    command=("sleep", "60"),
                    resources=Resources(cpu_milli=1000 * (1 + i % 4), memory_mb=1024),
                    name=f"job-{i}",
                ),
            )
            for i in range(start, min(jobs, start + batch))
        ]
        made = plat.jobs.submit_many(items)
        last = str(getattr(made[-1], "id", last))
    log(f"populated {jobs:,} jobs in {time.perf_counter() - t0:.1f} s")
    return last


def populate_history(plat: Platform, days: int) -> int:
    """The full retention of minute samples (`days` x 1,440 instants) of three regions
    with a CPU and two GPU models each, raw and rolled up, less the raw samples the
    platform would have deleted; returns the rows kept."""
    now_s = int(plat.clock.now().timestamp())
    t0 = time.perf_counter()
    for day in range(days):
        with plat.store.unit_of_work() as uow:
            for minute in range(1440):
                at_s = now_s - 60 * (1440 * (days - day) - minute)
                busy = 0.5 + 0.4 * math.sin(at_s / 7200)
                pool = [
                    PoolSample(at_s, region, resource, 64.0, round(64.0 * busy))
                    for region in HISTORY_REGIONS
                    for resource in HISTORY_RESOURCES
                ]
                uow.history.add_samples(pool, QueueSample(at_s, int(300 * busy), 60), ROLLUP_S)
            uow.commit()
    plat.history.purge()  # raw samples beyond their 4 days go, as on the platform
    with plat.store.engine.connect() as conn:
        rows = sum(
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (pool_samples, queue_samples)
        )
    took = time.perf_counter() - t0
    log(f"populated {days} days of history ({rows:,} rows raw and rolled up) in {took:.1f} s")
    return rows


def load(page: Page, base: str, target: str) -> float:
    """Milliseconds from navigating to `target` until the page has drawn."""
    page.goto("about:blank")
    t0 = time.perf_counter()
    page.goto(f"{base}/ui/#/{target}")
    page.wait_for_selector(f"body[data-ready='#/{target}']", timeout=60_000)
    return (time.perf_counter() - t0) * 1000


def read_everything(page: Page, base: str) -> tuple[float, int]:
    """The baseline: every job through the API, 1,000 a page, from the page itself."""
    page.goto(f"{base}/ui/#/pool")
    page.wait_for_selector("body[data-ready='#/pool']")
    got: list[float] = page.evaluate(
        """async () => {
            const t0 = performance.now();
            let cursor = null, n = 0;
            for (;;) {
              const q = new URLSearchParams({limit: '1000'});
              if (cursor) q.set('cursor', cursor);
              const page = await (await fetch('/v1/jobs?' + q)).json();
              n += page.items.length;
              cursor = page.next_cursor;
              if (!cursor) break;
            }
            return [performance.now() - t0, n];
        }"""
    )
    return float(got[0]), int(got[1])


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="suanli-bench-dashboard-") as tmp:
        config = PlatformConfig(f"sqlite:///{Path(tmp) / 'bench.db'}")
        plat = Platform(config)
        tokens = bootstrap_local(plat.store, plat.clock, plat.ids, user="bench", previous=None)
        job_id = populate(plat, tokens.operator, args.jobs)
        samples = populate_history(plat, int(HISTORY_RETENTION_DAYS))
        out: dict[str, Any] = {
            "bench": "dashboard",
            "jobs": args.jobs,
            "history_rows": samples,
            "database": "sqlite",
        }
        with serve_in_thread(create_app(plat)) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=args.chromium, args=ARGS)
            page = browser.new_page(locale="en-GB")
            page.goto(f"{base}/ui/")
            page.wait_for_selector("body[data-ready='login']")
            page.fill("#token", tokens.operator)
            page.click("#login-button")
            page.wait_for_selector("#logout")
            pages: dict[str, dict[str, float]] = {}
            for name in PAGES:
                target = f"jobs/{job_id}" if name == "job" else name
                times = sorted(load(page, base, target) for _ in range(args.repeat))
                pages[name] = {"median_ms": round(statistics.median(times), 1),
                               "max_ms": round(times[-1], 1)}  # fmt: skip
                log(f"{name:16} median {pages[name]['median_ms']:7.1f} ms  "
                    f"max {pages[name]['max_ms']:7.1f} ms")  # fmt: skip
            everything_ms, listed = read_everything(page, base)
            browser.close()
        plat.close()
    worst = max(p["median_ms"] for p in pages.values())
    out.update(
        pages=pages,
        worst_median_ms=worst,
        target_ms=TARGET_MS,
        within_target=worst < TARGET_MS,
        baseline_read_all_ms=round(everything_ms, 1),
        baseline_jobs_read=listed,
        ratio_read_all_vs_queue_page=round(everything_ms / pages["queue?tab=all"]["median_ms"], 1),
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--chromium", default=CHROMIUM)
    args = parser.parse_args(argv)
    print(json.dumps(run(args)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
