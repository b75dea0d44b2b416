"""Trace loaders: public cluster traces and throughput profiles as neutral records.

Pure Python, streaming (memory grows with the records kept). Every malformed input raises
`TraceError` (an `InvalidInput`) naming the file, the line and the column. See
docs/traces.md for the formats and which were checked against real files.
"""

from suanli.adapters.traces.alibaba import (
    load_alibaba_v2023_nodes,
    load_alibaba_v2023_pods,
    load_alibaba_v2026_nodes,
    load_pai_jobs,
    load_pai_tasks,
)
from suanli.adapters.traces.gavel import load_gavel_throughputs, load_gavel_trace
from suanli.adapters.traces.helios import load_helios_jobs
from suanli.adapters.traces.model import Throughputs, TraceError, TraceJob, TraceNode
from suanli.adapters.traces.philly import load_philly_csv, load_philly_json
from suanli.adapters.traces.registry import guess_format, load_nodes, load_trace, trace_formats
from suanli.adapters.traces.sia import load_sia_throughputs, load_sia_workload
from suanli.adapters.traces.tiresias import load_tiresias_cluster, load_tiresias_jobs

__all__ = [
    "Throughputs",
    "TraceError",
    "TraceJob",
    "TraceNode",
    "guess_format",
    "load_alibaba_v2023_nodes",
    "load_alibaba_v2023_pods",
    "load_alibaba_v2026_nodes",
    "load_gavel_throughputs",
    "load_gavel_trace",
    "load_helios_jobs",
    "load_nodes",
    "load_pai_jobs",
    "load_pai_tasks",
    "load_philly_csv",
    "load_philly_json",
    "load_sia_throughputs",
    "load_sia_workload",
    "load_tiresias_cluster",
    "load_tiresias_jobs",
    "load_trace",
    "trace_formats",
]
