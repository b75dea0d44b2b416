"""Sia (Jayaram Subramanya et al., SOSP'23) workloads and throughput profiles.

A workload CSV: name, time (arrival s), application, num_replicas (GPUs asked for),
batch_size (global). Jobs are elastic in Sia; the trace gives the GPU count and batch size
they were submitted with (kept, the batch size in `extra`). No measured duration: Sia jobs
run until their application's target (epochs) is reached.

Throughput profiles, one folder per application, one file per cluster type:
`placements-CLUSTER.csv` (placement, local_bsz, step_time, sync_time), where a placement
such as "12" means 1 GPU on one node and 2 on another. Cluster types map to GPU models via
the catalog ('aws' = T4, 'azure' = V100-32GB, 'dgx'/'dgx-ext' = A100, 'quad' = RTX 6000,
'rtx' = RTX 2080 Ti). `scalability-*.csv` files are multi-node extrapolations and are not
read.
"""

from __future__ import annotations

import re
from pathlib import Path

from suanli.adapters.traces._read import check_limit, map_gpu, read_csv
from suanli.adapters.traces.model import Throughputs, TraceError, TraceJob

SIA_WORKLOAD_COLUMNS = ("name", "time", "application", "num_replicas", "batch_size")
SIA_PLACEMENT_COLUMNS = ("placement", "local_bsz", "step_time", "sync_time")
PLACEMENT = re.compile(r"[1-9]{1,64}", re.ASCII)
"""A placement: GPUs per node as ASCII digits 1-9 (`str.isdigit` also takes '²')."""


def load_sia_workload(path: Path, *, limit: int | None = None) -> list[TraceJob]:
    """Jobs of one Sia workload file (arrival times as in the file: already from 0)."""
    check_limit(limit)
    jobs: list[TraceJob] = []
    if limit == 0:
        return jobs
    for row in read_csv(path, SIA_WORKLOAD_COLUMNS):
        jobs.append(
            TraceJob(
                id=row.text("name", required=True),
                submit_s=row.number("time", what="seconds"),
                duration_s=None,
                gpus=row.whole("num_replicas", what="GPUs", minimum=1),
                job_type=row.text("application", required=True),
                extra={"batch_size": str(row.whole("batch_size", what="samples", minimum=1))},
            )
        )
        if limit is not None and len(jobs) >= limit:
            break
    return jobs


def load_sia_throughputs(folder: Path) -> Throughputs:
    """Samples/s by (application, GPU model) and GPU count, from every
    `APP/placements-CLUSTER.csv` under `folder`. For each GPU count the best measured
    configuration is kept: max over placements and local batch sizes of
    gpus * local_bsz / step_time. Two clusters with the same model keep the faster."""
    if not folder.is_dir():
        raise TraceError(
            folder, None, None, "a folder of APP/placements-CLUSTER.csv files", "not a folder"
        )
    table: dict[tuple[str, str], dict[int, float]] = {}
    files = sorted(folder.glob("*/placements-*.csv"))
    if not files:
        raise TraceError(folder, None, None, "at least one APP/placements-CLUSTER.csv file", "none")
    for file in files:
        cluster = file.stem.removeprefix("placements-")
        model = map_gpu(None, file, "file name", cluster, "sia-workloads")
        if model is None:
            raise TraceError(
                file, None, "file name", "a cluster type with a known GPU model", cluster
            )
        by_count = table.setdefault((file.parent.name, model), {})
        for count, rate in _placements(file).items():
            by_count[count] = max(rate, by_count.get(count, 0.0))
    return Throughputs(unit="samples/s", table=table, source=folder.name)


def _placements(path: Path) -> dict[int, float]:
    best: dict[int, float] = {}
    for row in read_csv(path, SIA_PLACEMENT_COLUMNS):
        placement = row.text("placement")
        if not PLACEMENT.fullmatch(placement):
            raise row.fail("placement", "GPUs per node as digits 1-9, e.g. '12'", placement)
        gpus = sum(int(digit) for digit in placement)
        local_bsz = row.whole("local_bsz", what="samples", minimum=1)
        step = row.number("step_time", what="seconds")
        row.number("sync_time", what="seconds")
        if step <= 0:
            raise row.fail("step_time", "a step time > 0 seconds", row.text("step_time"))
        rate = gpus * local_bsz / step
        best[gpus] = max(rate, best.get(gpus, 0.0))
    return best
