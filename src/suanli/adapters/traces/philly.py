"""Microsoft Philly (Jeon et al., ATC'19).

Two formats:

* the one-row-per-job CSV of the Sia artifact (`philly.csv`): timestamp, duration (s),
  num_gpus, gpu_time, cluster (virtual-cluster hash);
* the original `cluster_job_log` of msr-fiddle/philly-traces: a JSON list of jobs, each
  ``{"status", "vc", "jobid", "user", "submitted_time", "attempts": [{"start_time",
  "end_time", "detail": [{"ip", "gpus": [...]}]}]}``. It is read one job at a time (the
  full log is ~1 GB), so memory grows with the jobs kept, not the file.

Philly's GPUs are not named in either (12 GB and 24 GB cards): `gpu_model` is None.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from suanli.adapters.traces._read import check_limit, open_text, parse_moment, read_csv, rebase
from suanli.adapters.traces.model import TraceError, TraceJob

PHILLY_CSV_COLUMNS = ("timestamp", "duration", "num_gpus", "gpu_time", "cluster")


def load_philly_csv(path: Path, *, limit: int | None = None) -> list[TraceJob]:
    """Jobs of the Philly CSV, in file order; `id` is the 1-based row number."""
    check_limit(limit)
    jobs: list[TraceJob] = []
    if limit == 0:
        return jobs
    for row in read_csv(path, PHILLY_CSV_COLUMNS):
        submitted = row.moment("timestamp")
        gpus = row.whole("num_gpus", what="GPUs")
        duration = row.number("duration", what="seconds")
        jobs.append(
            TraceJob(
                id=str(len(jobs) + 1),
                submit_s=submitted.timestamp(),
                duration_s=duration,
                gpus=gpus,
                tenant=row.text("cluster"),
                extra={"submitted_at": submitted.strftime("%Y-%m-%d %H:%M:%S")},
            )
        )
        if limit is not None and len(jobs) >= limit:
            break
    return rebase(jobs)


def load_philly_json(path: Path, *, limit: int | None = None) -> list[TraceJob]:
    """Jobs of Philly's `cluster_job_log`. `duration_s` sums the attempts that have both a
    start and an end time (None when none has); `gpus` counts the GPUs of the last
    attempt that lists any; `tenant` is the virtual cluster; `extra` keeps the user,
    the number of attempts and the first start time."""
    check_limit(limit)
    jobs: list[TraceJob] = []
    if limit == 0:
        return jobs
    for line, index, record in _json_array(path):
        jobs.append(_philly_job(path, line, index, record))
        if limit is not None and len(jobs) >= limit:
            break
    return rebase(jobs)


def _philly_job(path: Path, line: int, index: int, record: Any) -> TraceJob:
    def fail(field: str, expected: str, got: object) -> TraceError:
        return TraceError(path, line, f"[{index}].{field}", expected, got)

    if not isinstance(record, dict):
        raise fail("", "a JSON object per job", type(record).__name__)
    job_id = record.get("jobid")
    if not isinstance(job_id, str) or not job_id:
        raise fail("jobid", "a job id string", job_id)
    submitted = _time(
        record.get("submitted_time"),
        lambda v: fail("submitted_time", "a time like 2017-10-07 13:42:42", v),
    )
    if submitted is None:
        raise fail(
            "submitted_time", "a time like 2017-10-07 13:42:42", record.get("submitted_time")
        )
    attempts = record.get("attempts", [])
    if not isinstance(attempts, list):
        raise fail("attempts", "a list of attempts", type(attempts).__name__)
    ran = _Attempts()
    for number, attempt in enumerate(attempts):
        ran.add(f"attempts[{number}]", attempt, fail)
    status = record.get("status", "")
    extra = {"user": str(record.get("user", "")), "attempts": str(len(attempts))}
    if ran.first_start is not None:
        extra["first_start_s"] = str((ran.first_start - submitted).total_seconds())
    return TraceJob(
        id=job_id,
        submit_s=submitted.timestamp(),
        duration_s=ran.duration,
        gpus=ran.gpus,
        tenant=str(record.get("vc", "")),
        status=status if isinstance(status, str) else str(status),
        extra=extra,
    )


class _Attempts:
    """What a job's attempts add up to: the time they ran (None if none both started and
    ended), the GPUs of the last attempt that had any, and the first start."""

    def __init__(self) -> None:
        self.duration: float | None = None
        self.gpus = 0
        self.first_start: datetime | None = None

    def add(self, where: str, attempt: Any, fail: Callable[[str, str, object], TraceError]) -> None:
        """Count one attempt; `fail(field, expected, got)` makes the error for a bad one."""
        if not isinstance(attempt, dict):
            raise fail(where, "an attempt object", type(attempt).__name__)
        start = _time(
            attempt.get("start_time"), lambda v: fail(f"{where}.start_time", "a time or null", v)
        )
        end = _time(
            attempt.get("end_time"), lambda v: fail(f"{where}.end_time", "a time or null", v)
        )
        if start is not None and self.first_start is None:
            self.first_start = start
        if start is not None and end is not None:
            if end < start:
                raise fail(
                    f"{where}.end_time",
                    f"a time not before start_time {attempt.get('start_time')}",
                    attempt.get("end_time"),
                )
            self.duration = (self.duration or 0.0) + (end - start).total_seconds()
        self.gpus = _machine_gpus(where, attempt.get("detail", []), fail) or self.gpus


def _machine_gpus(
    where: str, detail: object, fail: Callable[[str, str, object], TraceError]
) -> int:
    """The GPUs an attempt's machines (`detail`) list, all together."""
    if not isinstance(detail, list):
        raise fail(f"{where}.detail", "a list of machines", type(detail).__name__)
    count = 0
    for machine_index, machine in enumerate(detail):
        machine_gpus = machine.get("gpus") if isinstance(machine, dict) else None
        if not isinstance(machine_gpus, list):
            raise fail(f"{where}.detail[{machine_index}].gpus", "a list of GPU names", machine_gpus)
        count += len(machine_gpus)
    return count


def _time(value: object, error: Any) -> datetime | None:
    if value is None or value in ("", "None"):
        return None
    if not isinstance(value, str):
        raise error(value)
    return parse_moment(value, lambda: error(value))


def _reason(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "nesting too deep"
    return str(exc).split(";")[0]


def _json_array(path: Path, chunk: int = 1 << 20) -> Iterator[tuple[int, int, Any]]:
    """(line, index, item) for each item of a top-level JSON array, decoded one at a time."""
    with open_text(path) as handle:
        reader = _ArrayReader(path, handle, chunk)
        reader.open()
        index = 0
        while reader.before_item(index):
            line = reader.line
            yield line, index, reader.item(index)
            index += 1


class _ArrayReader:
    """A top-level JSON array read in chunks: `buffer[pos:]` is what is not yet decoded,
    `line` the line of `buffer[pos]` (for errors that name where)."""

    def __init__(self, path: Path, handle: IO[str], chunk: int) -> None:
        self.path = path
        self.handle = handle
        self.chunk = chunk
        self.decoder = json.JSONDecoder()
        self.buffer = ""
        self.pos = 0
        self.line = 1
        self.eof = False

    def more(self) -> bool:
        """Read another chunk, dropping what was decoded; False at the end of the file."""
        if self.eof:
            return False
        data = self.handle.read(self.chunk)
        if not data:
            self.eof = True
            return False
        self.buffer = self.buffer[self.pos :] + data
        self.pos = 0
        return True

    def skip_space(self) -> None:
        """Skip whitespace, counting lines, reading on as needed."""
        while True:
            buffer = self.buffer
            while self.pos < len(buffer) and buffer[self.pos] in " \t\r\n":
                if buffer[self.pos] == "\n":
                    self.line += 1
                self.pos += 1
            if self.pos < len(buffer) or not self.more():
                return

    def open(self) -> None:
        """Consume the '[' that opens the array (TraceError if it is not there)."""
        self.skip_space()
        if self.pos >= len(self.buffer) or self.buffer[self.pos] != "[":
            got = (
                self.buffer[self.pos : self.pos + 20]
                if self.pos < len(self.buffer)
                else "an empty file"
            )
            raise TraceError(
                self.path, self.line, None, "a JSON list of jobs starting with '['", got
            )
        self.pos += 1

    def before_item(self, index: int) -> bool:
        """Move to item `index` (past the ',' before it); False at the closing ']'."""
        self.skip_space()
        if self.pos >= len(self.buffer):
            raise TraceError(
                self.path, self.line, None, "']' closing the list of jobs", "the end of the file"
            )
        if self.buffer[self.pos] == "]":
            return False
        if index:
            if self.buffer[self.pos] != ",":
                raise TraceError(
                    self.path,
                    self.line,
                    f"[{index}]",
                    "',' between jobs",
                    self.buffer[self.pos : self.pos + 20],
                )
            self.pos += 1
            self.skip_space()
        return True

    def item(self, index: int) -> Any:
        """Decode the item at `pos`, reading on until it is whole."""
        while True:
            try:
                item, end = self.decoder.raw_decode(self.buffer, self.pos)
                break
            except json.JSONDecodeError as exc:
                if self.more():
                    continue
                raise TraceError(
                    self.path,
                    self.line + self.buffer.count("\n", self.pos, exc.pos),
                    f"[{index}]",
                    f"valid JSON ({exc.msg})",
                    self.buffer[exc.pos : exc.pos + 20],
                ) from exc
            except (ValueError, RecursionError) as exc:
                # JSON that Python refuses on its own terms: an integer of more than
                # 4300 digits, or nesting deeper than the interpreter's stack
                raise TraceError(
                    self.path, self.line, f"[{index}]", "JSON Python can read", _reason(exc)
                ) from exc
        self.line += self.buffer.count("\n", self.pos, end)
        self.pos = end
        return item
