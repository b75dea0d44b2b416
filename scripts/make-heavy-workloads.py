"""Write the heavy Sia-style workloads of issue 15 (bench/workloads/sia-workloads/).

Each is 1,000 jobs in the Sia artifact's workload format (name, time, application,
num_replicas, batch_size). A job's (application, GPUs, batch size) is drawn from the
rows of one family's published workloads (philly: the Microsoft Philly trace's
distribution as the Sia paper sampled it; saturn: SenseTime Helios'), and the gaps
between arrivals from the same workloads' gaps, divided by the rate factor:

    heavy-philly/workload-N.csv, heavy-saturn/workload-N.csv   N = 1, 2, 3, 4

N is the arrival rate against the published workloads (1: the same rate, about 1,000
jobs over two days; 2-4: two to four times as fast). Usage (needs ../shared/traces):

    .venv/bin/python scripts/make-heavy-workloads.py [--traces ../shared/traces] [--seed 15]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import random
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "bench" / "workloads" / "sia-workloads"
JOBS = 1_000
RATES = (1, 2, 3, 4)


def _pooled(folder: Path) -> tuple[list[tuple[str, str, str]], list[float]]:
    """(application, num_replicas, batch_size) of every row, and every gap between
    consecutive arrivals, over the family's workloads."""
    rows: list[tuple[str, str, str]] = []
    gaps: list[float] = []
    for file in sorted(folder.glob("workload-*.csv")):
        with file.open() as f:
            table = list(csv.DictReader(f))
        times = sorted(float(r["time"]) for r in table)
        gaps += [b - a for a, b in itertools.pairwise(times)]
        rows += [(r["application"], r["num_replicas"], r["batch_size"]) for r in table]
    if not rows:
        raise SystemExit(f"no workload-*.csv in {folder}")
    return rows, gaps


def write(family: str, traces: Path, seed: int) -> None:
    rows, gaps = _pooled(traces / "sia-workloads" / family)
    for rate in RATES:
        rng = random.Random(f"{seed}-{family}-{rate}")
        out = OUT / f"heavy-{family}" / f"workload-{rate}.csv"
        out.parent.mkdir(parents=True, exist_ok=True)
        t = 0.0
        with out.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["name", "time", "application", "num_replicas", "batch_size"])
            for i in range(JOBS):
                app, replicas, batch = rng.choice(rows)
                w.writerow([f"{app}-{i}", round(t, 1), app, replicas, batch])
                t += rng.choice(gaps) / rate
        print(f"{out.relative_to(REPO)}: {JOBS} jobs over {t / 3600:.1f} h")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=Path, default=REPO.parent / "shared" / "traces")
    parser.add_argument("--seed", type=int, default=15)
    args = parser.parse_args()
    for family in ("philly", "saturn"):
        write(family, args.traces, args.seed)


if __name__ == "__main__":
    main()
