"""Tiresias (Gu et al., NSDI'19) simulator CSVs.

Job lists (`60_job.csv`: job_id, num_gpu, submit_time, iterations, model_name, duration,
interval; `tf_job.csv` adds start_time, model_size, ...): the columns job_id, num_gpu,
submit_time and duration are required, model_name is the job type; the other columns are
kept in `extra`. Cluster shapes (`n32g4.csv`, ...): num_switch, num_node_p_switch,
num_gpu_p_node, num_cpu_p_node, mem_p_node (GB), one row, expanded to nodes. Tiresias
names no GPU model.
"""

from __future__ import annotations

from pathlib import Path

from suanli.adapters.traces._read import check_limit, read_csv, rebase
from suanli.adapters.traces.model import TraceError, TraceJob, TraceNode

TIRESIAS_JOB_COLUMNS = ("job_id", "num_gpu", "submit_time", "duration")
TIRESIAS_CLUSTER_COLUMNS = (
    "num_switch",
    "num_node_p_switch",
    "num_gpu_p_node",
    "num_cpu_p_node",
    "mem_p_node",
)
_KNOWN = {*TIRESIAS_JOB_COLUMNS, "model_name"}
MAX_NODES = 1_000_000
"""Most nodes a cluster shape may expand to (the published shapes have 32 to 256)."""


def load_tiresias_jobs(path: Path, *, limit: int | None = None) -> list[TraceJob]:
    check_limit(limit)
    jobs: list[TraceJob] = []
    if limit == 0:
        return jobs
    for row in read_csv(path, TIRESIAS_JOB_COLUMNS):
        jobs.append(
            TraceJob(
                id=row.text("job_id", required=True),
                submit_s=row.number("submit_time", what="seconds"),
                duration_s=row.number("duration", what="seconds"),
                gpus=row.whole("num_gpu", what="GPUs"),
                job_type=row.text("model_name"),
                extra={k: v.strip() for k, v in row.values.items() if k not in _KNOWN},
            )
        )
        if limit is not None and len(jobs) >= limit:
            break
    return rebase(jobs)


def load_tiresias_cluster(path: Path, *, limit: int | None = None) -> list[TraceNode]:
    """Nodes of a Tiresias cluster shape, named s{switch}n{node}."""
    check_limit(limit)
    nodes: list[TraceNode] = []
    rows = list(read_csv(path, TIRESIAS_CLUSTER_COLUMNS))
    if len(rows) != 1:
        raise TraceError(
            path, 2, None, "exactly one row describing the cluster", f"{len(rows)} rows"
        )
    row = rows[0]
    switches = row.whole("num_switch", what="switches", minimum=1, maximum=MAX_NODES)
    per_switch = row.whole(
        "num_node_p_switch", what="nodes per switch", minimum=1, maximum=MAX_NODES
    )
    if switches * per_switch > MAX_NODES:
        raise row.fail(
            "num_node_p_switch",
            f"at most {MAX_NODES} nodes in all (num_switch x num_node_p_switch)",
            switches * per_switch,
        )
    gpus = row.whole("num_gpu_p_node", what="GPUs per node")
    cpus = row.number("num_cpu_p_node", what="CPUs per node")
    memory_gb = row.number("mem_p_node", what="GB per node")
    for switch in range(switches):
        for node in range(per_switch):
            if limit is not None and len(nodes) >= limit:
                return nodes
            nodes.append(
                TraceNode(
                    id=f"s{switch}n{node}",
                    gpu_model=None,
                    gpus=gpus,
                    cpus=cpus,
                    memory_mb=int(memory_gb * 1024),
                )
            )
    return nodes
