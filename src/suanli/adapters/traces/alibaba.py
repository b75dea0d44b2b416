"""Alibaba cluster traces (github.com/alibaba/clusterdata).

* v2023 (`cluster-trace-gpu-v2023`, Weng et al., ATC'23): node lists (sn, cpu_milli,
  memory_mib, gpu, model) and pod lists (name, cpu_milli, memory_mib, num_gpu, gpu_milli,
  gpu_spec, qos, pod_phase, creation_time, deletion_time, scheduled_time). A pod asking
  for part of one GPU has num_gpu 1 and gpu_milli < 1000: kept as `extra["gpu_milli"]`.
  `gpu_spec` lists acceptable models ("V100M16|V100M32"): kept raw in
  `extra["gpu_spec"]` and canonical in `extra["gpu_models"]`; `gpu_model` is set when it
  allows exactly one (disclosed) model. The `multigpu*` lists have only the first five
  columns (no times: submit_s 0, duration None).
* v2026 spot (`cluster-trace-v2026-spot-gpu`): node_info_df.csv (gpu_model,
  gpu_capacity_num, cpu_num, node_name).
* PAI 2020 (`cluster-trace-gpu-v2020`, Weng et al., NSDI'22): headerless
  `pai_job_table.csv` (job_name, inst_id, user, status, start_time, end_time) and
  `pai_task_table.csv` (job_name, task_name, inst_num, status, start_time, end_time,
  plan_cpu (100 = 1 core), plan_mem (GB), plan_gpu (100 = 1 GPU), gpu_type).
"""

from __future__ import annotations

import math
from pathlib import Path

from suanli.adapters.traces._read import Row, check_limit, map_gpu, read_csv, rebase
from suanli.adapters.traces.model import TraceJob, TraceNode

V2023_NODE_COLUMNS = ("sn", "cpu_milli", "memory_mib", "gpu", "model")
V2023_POD_COLUMNS = (
    "name",
    "cpu_milli",
    "memory_mib",
    "num_gpu",
    "gpu_milli",
    "gpu_spec",
    "qos",
    "pod_phase",
    "creation_time",
    "deletion_time",
    "scheduled_time",
)
V2026_NODE_COLUMNS = ("gpu_model", "gpu_capacity_num", "cpu_num", "node_name")
PAI_JOB_COLUMNS = ("job_name", "inst_id", "user", "status", "start_time", "end_time")
PAI_TASK_COLUMNS = (
    "job_name",
    "task_name",
    "inst_num",
    "status",
    "start_time",
    "end_time",
    "plan_cpu",
    "plan_mem",
    "plan_gpu",
    "gpu_type",
)
_PAI_UNDISCLOSED = {"MISC"}
"""PAI's gpu_type for older, unnamed GPU models."""
_PAI_NAMES = "alibaba-v2023"
"""PAI 2020 uses the v2023 trace's GPU names (T4, P100, V100, V100M32): map through those."""


def load_alibaba_v2023_nodes(path: Path, *, limit: int | None = None) -> list[TraceNode]:
    check_limit(limit)
    nodes: list[TraceNode] = []
    if limit == 0:
        return nodes
    for row in read_csv(path, V2023_NODE_COLUMNS):
        gpus = row.whole("gpu", what="GPUs")
        name = row.text("model")
        nodes.append(
            TraceNode(
                id=row.text("sn", required=True),
                gpu_model=map_gpu(row, path, "model", name, "alibaba-v2023"),
                gpus=gpus,
                cpus=row.whole("cpu_milli", what="milli-CPUs") / 1000,
                memory_mb=row.whole("memory_mib", what="MiB"),
                gpu_name=name,
            )
        )
        if limit is not None and len(nodes) >= limit:
            break
    return nodes


def load_alibaba_v2023_pods(path: Path, *, limit: int | None = None) -> list[TraceJob]:
    """Pods as jobs: submit at creation_time, duration deletion - scheduled time (None
    for a pod never scheduled). `tenant` is empty (the trace has none); `job_type` is
    the QoS class."""
    check_limit(limit)
    jobs: list[TraceJob] = []
    if limit == 0:
        return jobs
    for row in read_csv(path, V2023_POD_COLUMNS[:5]):
        gpus = row.whole("num_gpu", what="GPUs")
        milli = row.whole("gpu_milli", what="milli-GPUs")
        if milli > 1000:
            raise row.fail(
                "gpu_milli", "milli-GPUs per GPU between 0 and 1000", row.text("gpu_milli")
            )
        created = row.optional_number("creation_time", what="seconds") or 0.0
        deleted = row.optional_number("deletion_time", what="seconds")
        scheduled = row.optional_number("scheduled_time", what="seconds")
        duration = None
        if deleted is not None and scheduled is not None:
            if deleted < scheduled:
                raise row.fail(
                    "deletion_time",
                    f"a time not before scheduled_time {scheduled:g}",
                    row.text("deletion_time"),
                )
            duration = deleted - scheduled
        extra = {"gpu_milli": str(milli)}
        model = _spec_model(row, path, extra)
        jobs.append(
            TraceJob(
                id=row.text("name", required=True),
                submit_s=created,
                duration_s=duration,
                gpus=gpus,
                gpu_model=model,
                cpus=row.whole("cpu_milli", what="milli-CPUs") / 1000,
                memory_mb=row.whole("memory_mib", what="MiB"),
                job_type=row.text("qos"),
                status=row.text("pod_phase"),
                extra=extra,
            )
        )
        if limit is not None and len(jobs) >= limit:
            break
    return jobs


def _spec_model(row: Row, path: Path, extra: dict[str, str]) -> str | None:
    """The one model a pod's gpu_spec allows, else None; the raw spec and the canonical
    models it allows go to `extra` ("gpu_spec", "gpu_models")."""
    spec = row.text("gpu_spec")
    if spec.lower() in ("", "nan"):
        return None
    extra["gpu_spec"] = spec
    models: list[str] = []
    undisclosed = False
    for name in spec.split("|"):
        model = map_gpu(row, path, "gpu_spec", name, "alibaba-v2023")
        if model is None:
            undisclosed = True
        elif model not in models:
            models.append(model)
    extra["gpu_models"] = "|".join(models)
    return models[0] if len(models) == 1 and not undisclosed else None


def load_alibaba_v2026_nodes(path: Path, *, limit: int | None = None) -> list[TraceNode]:
    check_limit(limit)
    nodes: list[TraceNode] = []
    if limit == 0:
        return nodes
    for row in read_csv(path, V2026_NODE_COLUMNS):
        name = row.text("gpu_model")
        nodes.append(
            TraceNode(
                id=row.text("node_name", required=True),
                gpu_model=map_gpu(row, path, "gpu_model", name, "alibaba-v2026-spot"),
                gpus=row.whole("gpu_capacity_num", what="GPUs"),
                cpus=row.number("cpu_num", what="CPUs"),
                gpu_name=name,
            )
        )
        if limit is not None and len(nodes) >= limit:
            break
    return nodes


def load_pai_jobs(path: Path, *, limit: int | None = None) -> list[TraceJob]:
    """Jobs of PAI 2020's `pai_job_table.csv` (headerless). The job table names no
    resources (`gpus` is 0): use `load_pai_tasks` for those."""
    check_limit(limit)
    jobs: list[TraceJob] = []
    if limit == 0:
        return jobs
    for row in read_csv(path, PAI_JOB_COLUMNS, columns=PAI_JOB_COLUMNS):
        start, duration = _span(row)
        jobs.append(
            TraceJob(
                id=row.text("job_name", required=True),
                submit_s=start,
                duration_s=duration,
                gpus=0,
                tenant=row.text("user"),
                status=row.text("status"),
                extra={"inst_id": row.text("inst_id")},
            )
        )
        if limit is not None and len(jobs) >= limit:
            break
    return rebase(jobs)


def load_pai_tasks(path: Path, *, limit: int | None = None) -> list[TraceJob]:
    """Tasks of PAI 2020's `pai_task_table.csv` (headerless) as jobs, id
    "job_name/task_name". `gpus` is whole GPUs for all instances
    (ceil(plan_gpu / 100) x inst_num); a fractional share per instance is kept as
    `extra["gpu_milli"]` (plan_gpu x 10), `cpus` and `memory_mb` are per instance. Tasks
    that never started (no start_time) are skipped."""
    check_limit(limit)
    jobs: list[TraceJob] = []
    if limit == 0:
        return jobs
    for row in read_csv(path, PAI_TASK_COLUMNS, columns=PAI_TASK_COLUMNS):
        if row.optional_number("start_time", what="seconds") is None:
            continue
        start, duration = _span(row)
        instances = row.whole("inst_num", what="instances", minimum=1)
        plan_gpu = row.optional_number("plan_gpu", what="GPU percent") or 0.0
        plan_cpu = row.optional_number("plan_cpu", what="CPU percent")
        plan_mem = row.optional_number("plan_mem", what="GB")
        name = row.text("gpu_type")
        model = (
            None
            if name.upper() in _PAI_UNDISCLOSED
            else map_gpu(row, path, "gpu_type", name, _PAI_NAMES)
        )
        extra = {"gpu_milli": str(round(plan_gpu * 10)), "instances": str(instances)}
        if name:
            extra["gpu_name"] = name
        jobs.append(
            TraceJob(
                id=f"{row.text('job_name', required=True)}/{row.text('task_name')}",
                submit_s=start,
                duration_s=duration,
                gpus=math.ceil(plan_gpu / 100) * instances,
                gpu_model=model,
                cpus=None if plan_cpu is None else plan_cpu / 100,
                memory_mb=None if plan_mem is None else round(plan_mem * 1024),
                status=row.text("status"),
                extra=extra,
            )
        )
        if limit is not None and len(jobs) >= limit:
            break
    return rebase(jobs)


def _span(row: Row) -> tuple[float, float | None]:
    start = row.optional_number("start_time", what="seconds (Unix time)")
    end = row.optional_number("end_time", what="seconds (Unix time)")
    if start is None:
        raise row.fail("start_time", "a start time in seconds", row.text("start_time"))
    if end is None or end == 0:
        return start, None
    if end < start:
        raise row.fail("end_time", f"a time not before start_time {start:g}", row.text("end_time"))
    return start, end - start
