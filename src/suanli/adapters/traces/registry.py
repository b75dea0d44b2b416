"""`load_trace`: pick a loader by name, or guess it from the file name and first line."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from suanli.adapters.traces._read import open_text
from suanli.adapters.traces.alibaba import (
    load_alibaba_v2023_nodes,
    load_alibaba_v2023_pods,
    load_alibaba_v2026_nodes,
    load_pai_jobs,
    load_pai_tasks,
)
from suanli.adapters.traces.gavel import load_gavel_trace
from suanli.adapters.traces.helios import load_helios_jobs
from suanli.adapters.traces.model import TraceError, TraceJob, TraceNode
from suanli.adapters.traces.philly import load_philly_csv, load_philly_json
from suanli.adapters.traces.sia import load_sia_workload
from suanli.adapters.traces.tiresias import load_tiresias_cluster, load_tiresias_jobs

JobLoader = Callable[..., list[TraceJob]]
NodeLoader = Callable[..., list[TraceNode]]

JOB_FORMATS: dict[str, JobLoader] = {
    "philly-csv": load_philly_csv,
    "philly-json": load_philly_json,
    "gavel": load_gavel_trace,
    "sia": load_sia_workload,
    "tiresias": load_tiresias_jobs,
    "alibaba-v2023-pods": load_alibaba_v2023_pods,
    "helios": load_helios_jobs,
    "pai-jobs": load_pai_jobs,
    "pai-tasks": load_pai_tasks,
}
NODE_FORMATS: dict[str, NodeLoader] = {
    "alibaba-v2023-nodes": load_alibaba_v2023_nodes,
    "alibaba-v2026-nodes": load_alibaba_v2026_nodes,
    "tiresias-cluster": load_tiresias_cluster,
}

# First-line signatures of the formats with a header (column names, in order).
_HEADERS: dict[str, tuple[str, ...]] = {
    "philly-csv": ("timestamp", "duration", "num_gpus", "gpu_time", "cluster"),
    "sia": ("name", "time", "application", "num_replicas", "batch_size"),
    "alibaba-v2023-pods": ("name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli"),
    "alibaba-v2023-nodes": ("sn", "cpu_milli", "memory_mib", "gpu", "model"),
    "alibaba-v2026-nodes": ("gpu_model", "gpu_capacity_num", "cpu_num", "node_name"),
    "tiresias-cluster": ("num_switch", "num_node_p_switch", "num_gpu_p_node"),
}


def trace_formats() -> list[str]:
    return sorted([*JOB_FORMATS, *NODE_FORMATS])


def guess_format(path: Path) -> str:
    """The format of a trace file, from its name and first line; TraceError if unclear."""
    name = path.name.lower()
    if name.startswith("pai_job_table"):
        return "pai-jobs"
    if name.startswith("pai_task_table"):
        return "pai-tasks"
    if name.endswith(".trace"):
        return "gavel"
    with open_text(path) as handle:
        first = handle.readline().strip()
    if name.startswith("cluster_job_log") or (name.endswith(".json") and first.startswith("[")):
        return "philly-json"
    columns = tuple(c.strip() for c in first.split(","))
    for fmt, header in _HEADERS.items():
        if columns[: len(header)] == header:
            return fmt
    if {"job_id", "num_gpu", "submit_time", "duration"} <= set(columns):
        return "tiresias"
    if {"job_id", "gpu_num", "submit_time"} <= set(columns):
        return "helios"
    if first.count("\t") == 9:
        return "gavel"
    raise TraceError(
        path,
        1,
        None,
        "a trace whose format can be recognised from its name or header",
        first[:60],
        hint=f"name the format explicitly: one of {', '.join(trace_formats())}.",
    )


def load_trace(
    path: Path, format: str | None = None, *, limit: int | None = None
) -> list[TraceJob]:
    """Jobs of a trace file in `format` (guessed when None)."""
    fmt = format or guess_format(path)
    loader = JOB_FORMATS.get(fmt)
    if loader is None:
        what = "a job-trace format" + (
            " (that one lists nodes: use load_nodes)" if fmt in NODE_FORMATS else ""
        )
        raise TraceError(
            path, None, "format", f"{what}: one of {', '.join(sorted(JOB_FORMATS))}", fmt
        )
    return loader(path, limit=limit)


def load_nodes(
    path: Path, format: str | None = None, *, limit: int | None = None
) -> list[TraceNode]:
    """Nodes of a node-list file in `format` (guessed when None)."""
    fmt = format or guess_format(path)
    loader = NODE_FORMATS.get(fmt)
    if loader is None:
        raise TraceError(
            path,
            None,
            "format",
            f"a node-list format: one of {', '.join(sorted(NODE_FORMATS))}",
            fmt,
        )
    return loader(path, limit=limit)
