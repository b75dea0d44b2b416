"""Neutral records that every trace loader produces, and the one error they raise.

A loader turns one published trace format into `TraceJob`s (work arriving over time),
`TraceNode`s (the hardware a trace ran on) or `Throughputs` (how fast each job type runs on
each device model). The simulator and the benchmarks read only these records, never a
trace format.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from suanli.domain.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class TraceJob:
    """One job of a trace.

    `submit_s` counts seconds from the start of the trace (the earliest submission among
    the jobs loaded); `duration_s` is the measured run time on the job's original hardware
    (None when the trace does not say). `gpu_model` is a canonical catalog name, or None
    when the trace names no model or an undisclosed one (the raw name is then kept in
    `extra["gpu_name"]`). Format-specific fields the simulator may want (batch size, total
    steps, fractional GPU share as `gpu_milli`, ...) are kept as strings in `extra`.
    """

    id: str
    submit_s: float
    duration_s: float | None
    gpus: int
    gpu_model: str | None = None
    cpus: float | None = None
    memory_mb: int | None = None
    tenant: str = ""
    job_type: str = ""
    status: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TraceNode:
    """One machine of a trace's cluster. `gpu_model` is canonical or None (undisclosed
    model; `gpu_name` keeps the trace's own name, "" for a node without GPUs)."""

    id: str
    gpu_model: str | None
    gpus: int
    cpus: float | None = None
    memory_mb: int | None = None
    gpu_name: str = ""


@dataclass(frozen=True, slots=True)
class Throughputs:
    """Measured speed of each job type on each device model, by GPU count.

    `table[(job_type, model)][gpus]` is the throughput of one job of that type running on
    `gpus` GPUs of that model, in `unit` (Gavel: "steps/s"; Sia: "samples/s").
    """

    unit: str
    table: Mapping[tuple[str, str], Mapping[int, float]]
    source: str = ""

    def get(self, job_type: str, model: str, gpus: int = 1) -> float | None:
        """Throughput on exactly `gpus` GPUs, or None when it was not measured."""
        by_count = self.table.get((job_type, model))
        return None if by_count is None else by_count.get(gpus)

    def job_types(self) -> list[str]:
        return sorted({job_type for job_type, _ in self.table})

    def models(self) -> list[str]:
        return sorted({model for _, model in self.table})


class TraceError(InvalidInput):
    """A trace file that cannot be read: names the file, the 1-based line, the column or
    field, what was expected and what was found."""

    def __init__(
        self,
        path: Path | str,
        line: int | None,
        column: str | None,
        expected: str,
        got: object = None,
        *,
        hint: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.line = line
        self.column = column
        self.expected = expected
        self.got = got
        where = [self.path.name]
        if line is not None:
            where.append(f"line {line}")
        if column is not None:
            where.append(f"column {column!r}")
        message = f"{', '.join(where)}: expected {expected}"
        if got is not None:
            message += f", got {_show(got)}"
        message += "."
        super().__init__(message, field=column, hint=hint)
        self._hint = hint

    def __reduce__(self) -> tuple[object, ...]:
        """Picklable (simulation sweeps run in other processes and send errors back)."""
        args = (self.path, self.line, self.column, self.expected, self.got)
        return (_trace_error, (args, self._hint))


def _trace_error(args: tuple[object, ...], hint: str | None) -> TraceError:
    path, line, column, expected, got = args
    return TraceError(path, line, column, expected, got, hint=hint)  # type: ignore[arg-type]


def _show(value: object) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int of more than 4300 digits
        text = "a very large number"
    return text if len(text) <= 80 else text[:77] + "..."
