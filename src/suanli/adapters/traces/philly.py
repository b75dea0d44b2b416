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
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

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
    duration: float | None = None
    gpus = 0
    first_start: datetime | None = None
    for number, attempt in enumerate(attempts):
        where = f"attempts[{number}]"
        if not isinstance(attempt, dict):
            raise fail(where, "an attempt object", type(attempt).__name__)
        start = _time(
            attempt.get("start_time"),
            lambda v, w=where: fail(f"{w}.start_time", "a time or null", v),
        )
        end = _time(
            attempt.get("end_time"), lambda v, w=where: fail(f"{w}.end_time", "a time or null", v)
        )
        if start is not None and first_start is None:
            first_start = start
        if start is not None and end is not None:
            if end < start:
                raise fail(
                    f"{where}.end_time",
                    f"a time not before start_time {attempt.get('start_time')}",
                    attempt.get("end_time"),
                )
            duration = (duration or 0.0) + (end - start).total_seconds()
        detail = attempt.get("detail", [])
        if not isinstance(detail, list):
            raise fail(f"{where}.detail", "a list of machines", type(detail).__name__)
        count = 0
        for machine_index, machine in enumerate(detail):
            machine_gpus = machine.get("gpus") if isinstance(machine, dict) else None
            if not isinstance(machine_gpus, list):
                raise fail(
                    f"{where}.detail[{machine_index}].gpus", "a list of GPU names", machine_gpus
                )
            count += len(machine_gpus)
        if count:
            gpus = count
    status = record.get("status", "")
    extra = {"user": str(record.get("user", "")), "attempts": str(len(attempts))}
    if first_start is not None:
        extra["first_start_s"] = str((first_start - submitted).total_seconds())
    return TraceJob(
        id=job_id,
        submit_s=submitted.timestamp(),
        duration_s=duration,
        gpus=gpus,
        tenant=str(record.get("vc", "")),
        status=status if isinstance(status, str) else str(status),
        extra=extra,
    )


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
    decoder = json.JSONDecoder()
    with open_text(path) as handle:
        buffer = ""
        pos = 0
        line = 1  # line of buffer[pos]
        eof = False

        def more() -> bool:
            nonlocal buffer, pos, eof
            if eof:
                return False
            data = handle.read(chunk)
            if not data:
                eof = True
                return False
            buffer = buffer[pos:] + data
            pos = 0
            return True

        def skip_space() -> None:
            nonlocal pos, line
            while True:
                while pos < len(buffer) and buffer[pos] in " \t\r\n":
                    if buffer[pos] == "\n":
                        line += 1
                    pos += 1
                if pos < len(buffer) or not more():
                    return

        skip_space()
        if pos >= len(buffer) or buffer[pos] != "[":
            got = buffer[pos : pos + 20] if pos < len(buffer) else "an empty file"
            raise TraceError(path, line, None, "a JSON list of jobs starting with '['", got)
        pos += 1
        index = 0
        while True:
            skip_space()
            if pos >= len(buffer):
                raise TraceError(
                    path, line, None, "']' closing the list of jobs", "the end of the file"
                )
            if buffer[pos] == "]":
                return
            if index:
                if buffer[pos] != ",":
                    raise TraceError(
                        path, line, f"[{index}]", "',' between jobs", buffer[pos : pos + 20]
                    )
                pos += 1
                skip_space()
            while True:
                try:
                    item, end = decoder.raw_decode(buffer, pos)
                    break
                except json.JSONDecodeError as exc:
                    if more():
                        continue
                    raise TraceError(
                        path,
                        line + buffer.count("\n", pos, exc.pos),
                        f"[{index}]",
                        f"valid JSON ({exc.msg})",
                        buffer[exc.pos : exc.pos + 20],
                    ) from exc
                except (ValueError, RecursionError) as exc:
                    # JSON that Python refuses on its own terms: an integer of more than
                    # 4300 digits, or nesting deeper than the interpreter's stack
                    raise TraceError(
                        path, line, f"[{index}]", "JSON Python can read", _reason(exc)
                    ) from exc
            yield line, index, item
            line += buffer.count("\n", pos, end)
            pos = end
            index += 1
