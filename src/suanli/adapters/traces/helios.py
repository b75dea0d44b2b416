"""SenseTime Helios (Hu et al., SC'21; github.com/S-Lab-System-Group/HeliosData):
`cluster_log.csv` per cluster (Venus, Earth, Saturn, Uranus), one row per job. Columns
are read by name; job_id, gpu_num and submit_time are required, and user, vc, cpu_num,
node_num, state, start_time, end_time, duration are used when present. Times are
'YYYY-MM-DD HH:MM:SS'. Helios names no GPU model per job (its clusters are V100 or
1080 Ti machines per cluster): `gpu_model` is None.
"""

from __future__ import annotations

from pathlib import Path

from suanli.adapters.traces._read import check_limit, read_csv, rebase
from suanli.adapters.traces.model import TraceJob

HELIOS_REQUIRED = ("job_id", "gpu_num", "submit_time")


def load_helios_jobs(path: Path, *, limit: int | None = None) -> list[TraceJob]:
    check_limit(limit)
    jobs: list[TraceJob] = []
    if limit == 0:
        return jobs
    for row in read_csv(path, HELIOS_REQUIRED):
        submitted = row.moment("submit_time")
        duration = row.optional_number("duration", what="seconds")
        if duration is None and row.text("start_time") and row.text("end_time"):
            span = (row.moment("end_time") - row.moment("start_time")).total_seconds()
            if span < 0:
                raise row.fail("end_time", "a time not before start_time", row.text("end_time"))
            duration = span
        cpus = row.optional_number("cpu_num", what="CPUs")
        extra = {"submitted_at": row.text("submit_time")}
        for column in ("user", "node_num", "start_time"):
            if row.text(column):
                extra[column] = row.text(column)
        jobs.append(
            TraceJob(
                id=row.text("job_id", required=True),
                submit_s=submitted.timestamp(),
                duration_s=duration,
                gpus=row.whole("gpu_num", what="GPUs"),
                cpus=cpus,
                tenant=row.text("vc") or row.text("user"),
                status=row.text("state"),
                extra=extra,
            )
        )
        if limit is not None and len(jobs) >= limit:
            break
    return rebase(jobs)
