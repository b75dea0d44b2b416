"""What Slurm's tools say about jobs and nodes, parsed: `squeue -O` and `sacct
--parsable2` rows (with SLURM_TIME_FORMAT=%s, times as epoch seconds) into `SlurmJob`s,
their states into the engine's statuses and reasons (`classify`), TRES and GRES strings.
Pure functions, tested on recorded output (tests/engines/test_contract_slurm.py)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from suanli.domain.jobs import JobStatus

log = logging.getLogger("suanli.engine.slurm")


SQUEUE_FIELDS = (
    "JobID",
    "Name",
    "State",
    "Reason",
    "StartTime",
    "EndTime",
    "exit_code",
    "tres-alloc",
    "NodeList",
    "STDOUT",
)


SACCT_FIELDS = (
    "JobID",
    "JobName",
    "State",
    "Reason",
    "Start",
    "End",
    "ExitCode",
    "AllocTRES",
    "NodeList",
    "TotalCPU",
)


LIVE_STATES = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "SUSPENDED",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
        "SPECIAL_EXIT",
        "RESV_DEL_HOLD",
        "STOPPED",
    }
)


@dataclass(frozen=True, slots=True)
class SlurmJob:
    """One job as squeue or sacct describe it."""

    job_id: str
    name: str
    state: str
    """Slurm's base state, e.g. RUNNING, TIMEOUT, CANCELLED (sacct's "by <uid>" dropped)."""
    reason: str = ""
    start: datetime | None = None
    end: datetime | None = None
    exit_code: int | None = None
    """The program's exit code, or 128+N when signal N killed it."""
    gpus: int | None = None
    """gres/gpu of the allocation; None when Slurm does not account GPUs (or none yet)."""
    nodes: str = ""
    stdout: str = ""
    cpu_s: float | None = None
    """sacct's TotalCPU (known once steps end); None from squeue."""

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES


def parse_squeue(text: str) -> list[SlurmJob]:
    """Jobs from ``squeue --noheader -O <SQUEUE_FIELDS, each with suffix '|'>`` output
    printed with ``SLURM_TIME_FORMAT=%s``. squeue's exit_code is the raw wait status."""
    jobs: list[SlurmJob] = []
    for row in rows(text, len(SQUEUE_FIELDS)):
        job_id, name, state, reason, start, end, status, tres, nodes, stdout = row
        jobs.append(
            SlurmJob(
                job_id=job_id,
                name=name,
                state=_base_state(state),
                reason=_clean(reason),
                start=_epoch(start),
                end=_epoch(end),
                exit_code=_from_wait_status(status),
                gpus=parse_tres(tres).get("gres/gpu"),
                nodes=_clean(nodes),
                stdout=stdout,
            )
        )
    return jobs


def parse_sacct(text: str) -> list[SlurmJob]:
    """Jobs (not their steps) from ``sacct --noheader --parsable2 -o <SACCT_FIELDS>``
    output printed with ``SLURM_TIME_FORMAT=%s``. sacct's ExitCode is ``code:signal``."""
    jobs: list[SlurmJob] = []
    for row in rows(text, len(SACCT_FIELDS)):
        job_id, name, state, reason, start, end, code, tres, nodes, total_cpu = row
        if not job_id.isdigit():
            continue  # a step (123.batch, 123.0) or an array/het part: not a job of ours
        jobs.append(
            SlurmJob(
                job_id=job_id,
                name=name,
                state=_base_state(state),
                reason=_clean(reason),
                start=_epoch(start),
                end=_epoch(end),
                exit_code=_from_code_signal(code),
                gpus=parse_tres(tres).get("gres/gpu"),
                nodes=_clean(nodes),
                cpu_s=parse_duration(total_cpu),
            )
        )
    return jobs


def parse_tres(text: str) -> dict[str, int]:
    """Counts of a TRES string such as ``cpu=1,mem=100M,node=1,gres/gpu=2`` (memory and
    other suffixed sizes are left out)."""
    counts: dict[str, int] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if sep and value.isdigit():
            counts[name.strip()] = int(value)
    return counts


def parse_duration(text: str) -> float | None:
    """Seconds of a Slurm duration: ``MM:SS.mmm``, ``HH:MM:SS`` or ``D-HH:MM:SS``."""
    text = text.strip()
    days, _, clock = text.rpartition("-")
    if not clock:
        return None
    try:
        seconds = 0.0
        for part in clock.split(":"):
            seconds = seconds * 60 + float(part)
        return seconds + (int(days) * 86400 if days else 0)
    except ValueError:
        return None


def classify(job: SlurmJob, *, time_limit_s: int | None = None) -> tuple[JobStatus, str]:
    """The port's status and reason for what Slurm says of a job (cancel requests and
    memory kills seen in the job's stderr are the engine's to add)."""
    state, where = job.state, f" on {job.nodes}" if job.nodes else ""
    slurm_reason = f" (Slurm: {job.reason})" if job.reason and job.reason != "None" else ""
    if job.live:
        return JobStatus.RUNNING, "" if state == "RUNNING" else f"Slurm: {state}{slurm_reason}"
    if state == "COMPLETED":
        return JobStatus.SUCCEEDED, ""
    if state in ("TIMEOUT", "DEADLINE"):
        limit = f" of {time_limit_s} s" if time_limit_s else ""
        what = "deadline" if state == "DEADLINE" else f"time limit{limit}"
        return JobStatus.FAILED, f"TIMEOUT: Slurm's {what} was exceeded{where}"
    if state == "OUT_OF_MEMORY":
        return JobStatus.FAILED, f"OOM: the job ran out of memory{where}{slurm_reason}"
    if state in ("NODE_FAIL", "BOOT_FAIL"):
        what = "failed to boot" if state == "BOOT_FAIL" else "failed"
        return JobStatus.LOST, f"NODE_FAIL: the node{where or 's'} {what}{slurm_reason}"
    if state == "PREEMPTED":
        return JobStatus.LOST, f"PREEMPTED: Slurm preempted the job{where}{slurm_reason}"
    if state in ("CANCELLED", "REVOKED"):
        return JobStatus.LOST, f"Slurm says {state}, but not at suanli's request{slurm_reason}"
    return JobStatus.FAILED, f"{describe_exit(job.exit_code)}{where}{slurm_reason}"


def parse_gres(text: str) -> list[tuple[str, str | None, int]]:
    """(name, type or None, count) of a node's GRES such as ``gpu:h100:4(S:0-1),gpu:2``."""
    entries: list[tuple[str, str | None, int]] = []
    for entry in re.sub(r"\([^)]*\)", "", text).split(","):
        parts = [p for p in entry.strip().split(":") if p]
        if len(parts) < 2 or parts[0] == "(null)":
            continue
        count = re.match(r"\d+", parts[-1])
        if count is None:
            continue
        gres_type = parts[1] if len(parts) >= 3 else None
        entries.append((parts[0], gres_type, int(count.group())))
    return entries


def rows(text: str, width: int) -> Iterable[list[str]]:
    """Rows of '|'-separated output with `width` fields (a trailing '|' is allowed)."""
    for line in text.splitlines():
        if not line.strip():
            continue
        cells = [c.strip() for c in line.rstrip("\n").split("|")]
        if len(cells) == width + 1 and cells[-1] == "":
            cells.pop()
        if len(cells) != width:
            log.warning("slurm: skipping unparseable line %r", line[:200])
            continue
        yield cells


def _base_state(text: str) -> str:
    # sacct writes "CANCELLED by 0"; squeue may append "+" to some states.
    return text.strip().split(" ", 1)[0].rstrip("+").upper()


def _clean(text: str) -> str:
    text = text.strip()
    return "" if text in ("(null)", "N/A", "None assigned") else text


def _epoch(text: str) -> datetime | None:
    text = text.strip()
    if not text.isdigit() or int(text) <= 0:
        return None  # N/A, Unknown, None, 0
    return datetime.fromtimestamp(int(text), UTC)


def _from_wait_status(text: str) -> int | None:
    if not text.strip().isdigit():
        return None
    status = int(text)
    signal = status & 0x7F
    return 128 + signal if signal else (status >> 8) & 0xFF


def _from_code_signal(text: str) -> int | None:
    code, _, signal = text.strip().partition(":")
    if not code.isdigit():
        return None
    return 128 + int(signal) if signal.isdigit() and int(signal) else int(code)


def describe_exit(code: int | None) -> str:
    if code is None:
        return "ended"
    if code > 128:
        return f"killed by signal {code - 128} (exit code {code})"
    return f"exited with code {code}"
