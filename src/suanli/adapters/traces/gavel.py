"""Gavel (Narayanan et al., OSDI'20): 10-column job traces and measured throughputs.

A trace line is tab-separated: job_type, command, working_directory, num_steps_arg,
needs_data_dir, total_steps, scale_factor (GPUs), priority_weight, SLO (-1: none),
arrival_time (s). There is no header. Gavel's jobs have no measured duration: their
length is `total_steps`, kept in `extra` with the other columns; the simulator divides it
by the throughput of the device the job holds.

`simulation_throughputs.json` maps worker type -> "('job type', scale factor)" -> {"null":
steps/s alone, "('other job', sf)": [this, other] co-located}. Only the isolated figures
are loaded (co-location is not modelled).
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from suanli.adapters.traces._read import Row, check_limit, map_gpu, open_text
from suanli.adapters.traces.model import Throughputs, TraceError, TraceJob

GAVEL_COLUMNS = (
    "job_type",
    "command",
    "working_directory",
    "num_steps_arg",
    "needs_data_dir",
    "total_steps",
    "scale_factor",
    "priority_weight",
    "SLO",
    "arrival_time",
)


def load_gavel_trace(path: Path, *, limit: int | None = None) -> list[TraceJob]:
    """Jobs of a Gavel trace; `id` is the 0-based line index (Gavel's own job ids)."""
    check_limit(limit)
    jobs: list[TraceJob] = []
    if limit == 0:
        return jobs
    with open_text(path) as handle:
        for line_number, line in enumerate(handle, start=1):
            text = line.rstrip("\r\n")
            if not text.strip():
                continue
            values = text.split("\t")
            if len(values) != len(GAVEL_COLUMNS):
                column = GAVEL_COLUMNS[len(values)] if len(values) < len(GAVEL_COLUMNS) else None
                raise TraceError(
                    path,
                    line_number,
                    column,
                    f"{len(GAVEL_COLUMNS)} tab-separated values ({', '.join(GAVEL_COLUMNS)})",
                    f"{len(values)} values",
                )
            row = Row(path, line_number, dict(zip(GAVEL_COLUMNS, values, strict=True)))
            job_type = row.text("job_type", required=True)
            steps = row.whole("total_steps", what="steps", minimum=1)
            gpus = row.whole("scale_factor", what="GPUs", minimum=1)
            weight = row.number("priority_weight", what="weight")
            slo = row.number("SLO", what="SLO factor (-1 for none)", minimum=-1.0)
            needs_data = row.text("needs_data_dir")
            if needs_data not in ("0", "1"):
                raise row.fail("needs_data_dir", "0 or 1", needs_data)
            arrival = row.number("arrival_time", what="seconds")
            extra = {
                "total_steps": str(steps),
                "priority_weight": repr(weight),
                "command": row.text("command"),
                "working_directory": row.text("working_directory"),
                "num_steps_arg": row.text("num_steps_arg"),
                "needs_data_dir": needs_data,
            }
            if slo > 0:
                extra["slo"] = repr(slo)
            jobs.append(
                TraceJob(
                    id=str(len(jobs)),
                    submit_s=arrival,
                    duration_s=None,
                    gpus=gpus,
                    job_type=job_type,
                    extra=extra,
                )
            )
            if limit is not None and len(jobs) >= limit:
                break
    return jobs


def load_gavel_throughputs(path: Path, *, consolidated: bool = True) -> Throughputs:
    """Isolated steps/s by (job type, canonical model) and scale factor. Gavel measures
    each worker type twice: consolidated (all of a job's GPUs on one server, the default)
    and `_unconsolidated` (spread out)."""
    with open_text(path) as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as exc:
            raise TraceError(path, exc.lineno, None, f"valid JSON ({exc.msg})") from exc
        except (ValueError, RecursionError) as exc:
            # an integer of more than 4300 digits, or nesting deeper than the stack
            why = "nesting too deep" if isinstance(exc, RecursionError) else str(exc)
            raise TraceError(path, None, None, "JSON Python can read", why.split(";")[0]) from exc
    if not isinstance(data, dict):
        raise TraceError(path, 1, None, "a JSON object keyed by worker type", type(data).__name__)
    table: dict[tuple[str, str], dict[int, float]] = {}
    for worker, jobs in data.items():
        is_spread = worker.endswith("_unconsolidated")
        if is_spread == consolidated:
            continue
        name = worker.removesuffix("_unconsolidated")
        model = map_gpu(None, path, worker, name, "gavel")
        if model is None:
            raise TraceError(path, None, worker, "a worker type with a known GPU model", name)
        if not isinstance(jobs, dict):
            raise TraceError(
                path,
                None,
                worker,
                "an object keyed by (job type, scale factor)",
                type(jobs).__name__,
            )
        for key, measured in jobs.items():
            field = f"{worker}.{key}"
            job_type, scale = _job_key(path, field, key)
            alone = measured.get("null") if isinstance(measured, dict) else None
            if isinstance(alone, bool) or not isinstance(alone, int | float) or alone < 0:
                raise TraceError(
                    path, None, f"{field}.null", "an isolated throughput >= 0 (steps/s)", alone
                )
            if alone > 0:
                table.setdefault((job_type, model), {})[scale] = float(alone)
    return Throughputs(unit="steps/s", table=table, source=path.name)


def _job_key(path: Path, field: str, key: str) -> tuple[str, int]:
    value: object = None
    # a real key is short; a long one could only be nesting meant to exhaust the parser
    if len(key) <= 1000:
        try:
            value = ast.literal_eval(key)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            value = None
    if (
        not isinstance(value, tuple)
        or len(value) != 2
        or not isinstance(value[0], str)
        or not isinstance(value[1], int)
        or value[1] < 1
    ):
        raise TraceError(path, None, field, "a key like \"('ResNet-18 (batch size 64)', 1)\"", key)
    return value[0], value[1]
