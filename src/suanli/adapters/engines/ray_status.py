"""How the Ray engine reads a task's state: Ray's job record plus the runner's own record.

`verdict` is a pure function of three JSON objects, so its mapping is tested without Ray:

- ``info``: the job as Ray's Job API answers ``GET /api/jobs/<submission id>``
  (``status``, ``message``, ``error_type``, ``start_time`` / ``end_time`` in ms since the
  epoch, ``driver_exit_code``);
- ``record``: the runner's ``record.json`` (see `suanli_ray_runner`), or None when it
  cannot be read (not written yet, the node is gone, or the runner never ran);
- ``cancel``: the engine's own note of a cancel asked for while Ray still had the job
  PENDING (Ray queues a stop for a job whose supervisor is not scheduled yet and keeps it
  PENDING, for ever if its resources never appear), or None.

Mapping:

- PENDING -> RUNNING (not started: ``started_at`` None); with a cancel note -> CANCELLED.
- RUNNING -> RUNNING, ``started_at`` from the runner's record (None until the runner has
  started the job: Ray's ``start_time`` is when the job was queued, not when it started).
- SUCCEEDED -> SUCCEEDED (exit code 0).
- FAILED -> FAILED with the runner's exit code and reason (``TIMEOUT: ...`` when the runner
  stopped the job at its time limit). Without an end in the runner's record: LOST with
  ``NODE_FAIL: ...`` when Ray lost the job's supervisor actor (its node died, or its
  process was killed), since nobody knows how the job ended; else FAILED with Ray's exit
  code (``driver_exit_code``, or the one in its message) and the first and last lines of
  its message (runtime env setup failures, a runner that could not start).
- STOPPED -> CANCELLED.

Times: the runner's ``started_at`` / ``ended_at`` where it recorded them, else Ray's
``start_time`` / ``end_time``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from suanli.domain.jobs import JobStatus

SUPERVISOR_DIED = "JOB_SUPERVISOR_ACTOR_DIED"
REASON_LIMIT = 500
_EXIT_CODE = re.compile(r"exit code (-?\d+)")
_RAY_HEADER = "Running entrypoint for job "


@dataclass(frozen=True, slots=True)
class Verdict:
    status: JobStatus
    started_at: datetime | None = None
    ended_at: datetime | None = None
    exit_code: int | None = None
    reason: str = ""


def verdict(
    info: Mapping[str, Any],
    record: Mapping[str, Any] | None,
    cancel: Mapping[str, Any] | None = None,
) -> Verdict:
    """The task's state from Ray's job info, the runner's record and a cancel note."""
    status = str(info.get("status") or "")
    rec = record or {}
    exited = rec.get("phase") == "exited"
    started = iso_time(rec.get("started_at"))
    ended = iso_time(rec.get("ended_at")) if exited else None
    ray_start, ray_end = ms_time(info.get("start_time")), ms_time(info.get("end_time"))
    message = first_line(info.get("message"))

    if status == "PENDING":
        if cancel is not None:
            at = iso_time(cancel.get("requested_at"))
            return Verdict(JobStatus.CANCELLED, None, at, None, "cancelled before it started")
        return Verdict(JobStatus.RUNNING)
    if status == "RUNNING" or status not in ("SUCCEEDED", "FAILED", "STOPPED"):
        return Verdict(JobStatus.RUNNING, started)

    started = started or ray_start
    ended = ended or ray_end
    code = _opt_int(rec.get("exit_code")) if exited else None
    reason = _clip(str(rec.get("reason") or "")) if exited else ""
    if status == "STOPPED":
        return Verdict(JobStatus.CANCELLED, started, ended, code, reason or "stopped")
    if status == "SUCCEEDED":
        if exited and rec.get("cause") == "timeout":  # exited 0 after SIGTERM at the limit
            return Verdict(JobStatus.FAILED, started, ended, code, reason)
        return Verdict(JobStatus.SUCCEEDED, started, ended, 0 if code is None else code, reason)
    # FAILED
    if exited:
        return Verdict(JobStatus.FAILED, started, ended, code, reason)
    if supervisor_lost(info):
        detail = message or "Ray lost the job's supervisor actor"
        return Verdict(
            JobStatus.LOST,
            started,
            ended,
            None,
            _clip(f"NODE_FAIL: the job's Ray supervisor died; outcome unknown ({detail})"),
        )
    code = _opt_int(info.get("driver_exit_code"))
    if code is None:
        found = _EXIT_CODE.search(str(info.get("message") or ""))
        code = int(found.group(1)) if found else None
    return Verdict(JobStatus.FAILED, started, ended, code, _clip(failure_reason(info)))


def supervisor_lost(info: Mapping[str, Any]) -> bool:
    """Ray failed the job because its supervisor actor died (node death included).
    Clusters older than Ray's `error_type` field say so in the message only."""
    if info.get("error_type") == SUPERVISOR_DIED:
        return True
    message = str(info.get("message") or "")
    return info.get("error_type") is None and "supervisor actor died" in message.lower()


def failure_reason(info: Mapping[str, Any]) -> str:
    """Ray's message, cut to its first line, plus its last line when that differs: Ray's
    message for a failed entrypoint ends with the tail of the job's log (e.g. "python3: not
    found" when the node has no such interpreter)."""
    lines = [line.strip() for line in str(info.get("message") or "").splitlines()]
    # Ray's header line lands before or after the command's own output (it is buffered).
    lines = [line for line in lines if line and not line.startswith(_RAY_HEADER)]
    if not lines:
        return "failed in Ray"
    return lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"


def ms_time(value: object) -> datetime | None:
    """A time from Ray's milliseconds since the epoch (0 or missing: None)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return datetime.fromtimestamp(value / 1000, UTC)


def iso_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def first_line(value: object) -> str:
    text = str(value or "").strip()
    return text.splitlines()[0] if text else ""


def _clip(text: str) -> str:
    return text if len(text) <= REASON_LIMIT else text[: REASON_LIMIT - 1] + "…"


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
