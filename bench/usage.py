"""Usage aggregation: tenant x day totals over 1,000,000 usage records, in the database.

Loads --records synthetic usage records (over --tenants tenants, --days UTC days, with
CPU, memory and GPU dimensions and standard units) into a fresh SQLite database (or the
one named by --database-url) through the store's own schema, then times
`UsageRepo.totals(by=("tenant", "day"))` against the same aggregation done in plain
Python over the same rows read from the database (the read is timed as part of the Python
side: that is what an application without SQL aggregation would pay). The two results
must agree. Last stdout line:

    {"bench": "usage", "records": ..., "seconds": ..., "vs_python": ..., ...}

Target (issue 3): < 2 s on SQLite for 1,000,000 records.

    .venv/bin/python bench/usage.py [--records 1000000] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from suanli.adapters.store_sql.store import SqlStore
from suanli.adapters.store_sql.tables import jobs, tenants, usage_records

DIMENSIONS = (("cpu", 8.0, 2e-5), ("memory", 65536.0, None), ("gpu:A100-80GB", 4.0, 0.2184))
START = datetime(2026, 1, 1, tzinfo=UTC)
DAY_MS = 86_400_000
CHUNK = 20_000


def log(message: str) -> None:
    print(f"[bench usage] {message}", file=sys.stderr, flush=True)


def load(store: SqlStore, records: int, tenant_count: int, days: int, seed: int) -> None:
    rng = random.Random(seed)
    job_count = max(1, records // len(DIMENSIONS))
    spec = {"command": ["true"], "resources": {"cpus": 8, "memory_mb": 65536, "gpus": {}}}
    with store.engine.begin() as conn:
        conn.execute(
            insert(tenants), [{"id": f"t{i:03d}", "name": f"T{i}"} for i in range(tenant_count)]
        )
        for start in range(0, job_count, CHUNK):
            conn.execute(
                insert(jobs),
                [
                    {
                        "id": f"j{i:08d}",
                        "tenant_id": f"t{i % tenant_count:03d}",
                        "user_id": "u",
                        "name": "",
                        "spec": spec,
                        "status": "SUCCEEDED",
                        "reason": "",
                        "attempt": 1,
                        "submitted_at": START,
                        "cancel_requested": False,
                    }
                    for i in range(start, min(job_count, start + CHUNK))
                ],
            )
    written = 0
    with store.engine.begin() as conn:
        while written < records:
            rows: list[dict[str, Any]] = []
            for _ in range(min(CHUNK, records - written)):
                job = (written // len(DIMENSIONS)) % job_count
                dim, qty, rating = DIMENSIONS[written % len(DIMENSIONS)]
                # each record lies within one UTC day, as metering writes them, and is
                # metered to the millisecond (migration 0005)
                day_start = START + timedelta(days=rng.randrange(days))
                ms = rng.randrange(1, DAY_MS)
                begin = day_start + timedelta(milliseconds=rng.randrange(0, DAY_MS - ms + 1))
                rows.append(
                    {
                        "job_id": f"j{job:08d}",
                        "attempt": 1 + written // (len(DIMENSIONS) * job_count),
                        "tenant_id": f"t{job % tenant_count:03d}",
                        "provider_id": "p",
                        "region_id": "r",
                        "cluster_id": "c",
                        "node_id": "n",
                        "sector": "research",
                        "workload_class": "ai",
                        "dimension": dim,
                        "quantity": qty,
                        "started_at": begin,
                        "ended_at": begin + timedelta(milliseconds=ms),
                        "day": begin.date().isoformat(),
                        "milliseconds": ms,
                        "rating_pflops": rating,
                        "standard_units": qty * ms * rating / 3_600_000 if rating else None,
                    }
                )
                written += 1
            conn.execute(insert(usage_records), rows)
            if written % 200_000 < CHUNK:
                log(f"loaded {written} records")


def in_database(store: SqlStore) -> tuple[float, dict[tuple[str, str, str], tuple[float, float]]]:
    t0 = time.perf_counter()
    with store.unit_of_work(readonly=True) as uow:
        totals = uow.usage.totals(by=("tenant", "day"), tenant_id=None, since=None)
    elapsed = time.perf_counter() - t0
    return elapsed, {
        (t.key, t.workload_class, t.dimension): (t.amount, t.standard_units) for t in totals
    }


def in_python(store: SqlStore) -> tuple[float, dict[tuple[str, str, str], tuple[float, float]]]:
    u = usage_records
    t0 = time.perf_counter()
    sums: dict[tuple[str, str, str], list[float]] = {}
    with store.engine.connect() as conn:
        result = conn.execute(
            select(
                u.c.tenant_id,
                u.c.started_at,
                u.c.workload_class,
                u.c.dimension,
                u.c.quantity,
                u.c.milliseconds,
                u.c.standard_units,
            )
        )
        for tenant, started, cls, dim, qty, ms, units in result:
            key = (f"{tenant}/{started.date().isoformat()}", cls, dim)
            acc = sums.setdefault(key, [0.0, 0.0])
            acc[0] += qty * ms / 1000  # unit-seconds, as UsageTotal.amount
            acc[1] += units or 0.0
    elapsed = time.perf_counter() - t0
    return elapsed, {k: (v[0], v[1]) for k, v in sums.items()}


def agree(
    a: dict[tuple[str, str, str], tuple[float, float]],
    b: dict[tuple[str, str, str], tuple[float, float]],
) -> bool:
    if a.keys() != b.keys():
        return False
    return all(abs(a[k][i] - b[k][i]) <= 1e-6 * max(1.0, abs(a[k][i])) for k in a for i in (0, 1))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=50)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--database-url", help="an empty database (default: fresh SQLite)")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite file")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="suanli-bench-usage-"))
    try:
        store = SqlStore(args.database_url or f"sqlite:///{work / 'usage.db'}")
        t0 = time.perf_counter()
        load(store, args.records, args.tenants, args.days, args.seed)
        log(f"loaded {args.records} records in {time.perf_counter() - t0:.1f} s")
        db_s, db = in_database(store)
        py_s, py = in_python(store)
        if not agree(db, py):
            log("error: the database and Python totals differ")
            return 1
        print(
            json.dumps(
                {
                    "bench": "usage",
                    "records": args.records,
                    "seconds": round(db_s, 3),
                    "python_seconds": round(py_s, 3),
                    "vs_python": round(py_s / db_s, 2),
                    "groups": len(db),
                    "database": store.engine.dialect.name,
                }
            )
        )
        store.close()
        return 0
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            log(f"kept {work}")


if __name__ == "__main__":
    sys.exit(main())
