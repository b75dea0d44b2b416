"""Jobs: the spec a user submits, the status machine, attempts.

A job runs in attempts. An attempt that ends LOST or PREEMPTED sends the job back to
PENDING (requeue) or, when its attempts are used up, to FAILED; the job keeps its place
(submission sequence) in the queue. Illegal transitions raise IllegalTransition.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from suanli.domain.errors import IllegalTransition, InvalidInput
from suanli.domain.ids import ClusterId, JobId, NodeId, RegionId, TenantId, UserId
from suanli.domain.resources import Resources
from suanli.domain.standard import Sector, WorkloadClass

MAX_TIME_LIMIT_S = 366 * 86_400
MAX_ARGV_BYTES = 128 * 1024
MAX_REGIONS = 32


class JobStatus(StrEnum):
    PENDING = "PENDING"
    SCHEDULED = "SCHEDULED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"
    PREEMPTED = "PREEMPTED"
    LOST = "LOST"

    def is_terminal(self) -> bool:
        """No further transitions: the job is over for good."""
        return self in _TERMINAL

    def holds_resources(self) -> bool:
        """Counts against a node's capacity (placed and not yet released)."""
        return self in (JobStatus.SCHEDULED, JobStatus.RUNNING)


_TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})

_ALLOWED: Mapping[JobStatus, frozenset[JobStatus]] = {
    JobStatus.PENDING: frozenset({JobStatus.SCHEDULED, JobStatus.CANCELLED, JobStatus.FAILED}),
    JobStatus.SCHEDULED: frozenset(
        {
            JobStatus.RUNNING,
            JobStatus.PENDING,  # the assignment was returned before it started
            JobStatus.CANCELLED,
            JobStatus.FAILED,  # the engine refused it
            JobStatus.LOST,
        }
    ),
    JobStatus.RUNNING: frozenset(
        {
            JobStatus.SUCCEEDED,
            JobStatus.FAILED,
            JobStatus.CANCELLED,
            JobStatus.PREEMPTED,
            JobStatus.LOST,
        }
    ),
    JobStatus.PREEMPTED: frozenset({JobStatus.PENDING, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.LOST: frozenset({JobStatus.PENDING, JobStatus.FAILED, JobStatus.CANCELLED}),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
}


def check_transition(current: JobStatus, new: JobStatus) -> None:
    """Raise IllegalTransition unless `current -> new` is allowed."""
    if new not in _ALLOWED[current]:
        raise IllegalTransition(
            f"A job cannot go from {current.value} to {new.value}.",
            hint=f"from {current.value} it may go to "
            f"{', '.join(sorted(s.value for s in _ALLOWED[current])) or 'nothing (final)'}.",
        )


class PriorityClass(StrEnum):
    GUARANTEED = "guaranteed"
    STANDARD = "standard"
    PREEMPTIBLE = "preemptible"


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What the user asked for. Validated on construction through `JobSpec.create`."""

    command: tuple[str, ...]
    resources: Resources
    name: str = ""
    time_limit_s: int | None = None
    priority_class: PriorityClass = PriorityClass.STANDARD
    regions: tuple[RegionId, ...] = ()
    """Allowed regions; empty means any."""
    env: Mapping[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    max_attempts: int = 3
    sector: Sector = Sector.OTHER
    workload_class: WorkloadClass | None = None
    """How the job is metered; None: AI when it asks for GPUs, else general."""

    @property
    def metered_class(self) -> WorkloadClass:
        if self.workload_class is not None:
            return self.workload_class
        return WorkloadClass.AI if self.resources.gpus else WorkloadClass.GENERAL

    def __post_init__(self) -> None:
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))

    @classmethod
    def create(
        cls,
        *,
        command: list[str] | tuple[str, ...],
        resources: Resources,
        name: str = "",
        time_limit_s: int | None = None,
        priority_class: PriorityClass = PriorityClass.STANDARD,
        regions: list[str] | tuple[str, ...] = (),
        env: Mapping[str, str] | None = None,
        working_dir: str | None = None,
        max_attempts: int = 3,
        sector: Sector = Sector.OTHER,
        workload_class: WorkloadClass | None = None,
    ) -> JobSpec:
        """Validate and build a spec; raises InvalidInput naming the field at fault."""
        argv = tuple(command)
        if not argv or not argv[0].strip():
            raise InvalidInput(
                "The command is empty.",
                field="command",
                hint="give the program and its arguments after '--', "
                "e.g. suanli submit -- python3 train.py.",
            )
        if any("\x00" in arg for arg in argv):
            raise InvalidInput("The command contains a NUL byte.", field="command")
        if sum(len(a.encode()) for a in argv) > MAX_ARGV_BYTES:
            raise InvalidInput(
                f"The command is longer than {MAX_ARGV_BYTES} bytes.",
                field="command",
                hint="put long inputs in a file and pass its path.",
            )
        if time_limit_s is not None and not (0 < time_limit_s <= MAX_TIME_LIMIT_S):
            raise InvalidInput(
                f"time_limit must be between 1 s and {MAX_TIME_LIMIT_S} s.",
                field="time_limit",
                hint="e.g. --time 1h.",
            )
        if len(name) > 200 or "\x00" in name:
            raise InvalidInput(
                "name must be at most 200 characters, without NUL bytes.", field="name"
            )
        if working_dir is not None and (len(working_dir) > 4096 or "\x00" in working_dir):
            raise InvalidInput(
                "working_dir must be a path of at most 4096 characters.", field="working_dir"
            )
        unique_regions = list(dict.fromkeys(regions))
        if len(unique_regions) > MAX_REGIONS or any(len(r) > 64 for r in unique_regions):
            raise InvalidInput(
                f"At most {MAX_REGIONS} regions of at most 64 characters may be listed.",
                field="regions",
                hint="list fewer regions, or none to allow any.",
            )
        if not 1 <= max_attempts <= 100:
            raise InvalidInput("max_attempts must be between 1 and 100.", field="max_attempts")
        for key, value in (env or {}).items():
            if not key or "=" in key or "\x00" in key or "\x00" in value:
                raise InvalidInput(
                    f"env {key!r}: a name has no '=', and neither names nor values may "
                    "contain NUL bytes.",
                    field="env",
                )
        return cls(
            command=argv,
            resources=resources,
            name=name,
            time_limit_s=time_limit_s,
            priority_class=priority_class,
            regions=tuple(RegionId(r) for r in unique_regions),
            env=dict(env or {}),
            working_dir=working_dir,
            max_attempts=max_attempts,
            sector=sector,
            workload_class=workload_class,
        )


@dataclass(frozen=True, slots=True)
class Job:
    """A job and its current attempt's placement and outcome."""

    id: JobId
    tenant_id: TenantId
    user_id: UserId
    spec: JobSpec
    status: JobStatus
    submitted_at: datetime
    seq: int = 0
    """Submission order; kept across requeues so a requeued job keeps its age."""
    reason: str = ""
    attempt: int = 0
    cluster_id: ClusterId | None = None
    node_id: NodeId | None = None
    allocation: Resources | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    exit_code: int | None = None
    cancel_requested: bool = False
    updated_at: datetime | None = None

    def transition(self, new: JobStatus, *, reason: str, at: datetime) -> Job:
        """Return the job in status `new`; raises IllegalTransition if not allowed."""
        check_transition(self.status, new)
        return replace(self, status=new, reason=reason, updated_at=at)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try at running a job on one cluster."""

    job_id: JobId
    number: int
    cluster_id: ClusterId
    node_id: NodeId
    allocation: Resources
    region_id: RegionId
    status: JobStatus
    scheduled_at: datetime
    dispatched_at: datetime | None = None
    """When the cluster's agent claimed it; before that the attempt can be withdrawn."""
    engine_job_id: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    exit_code: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One status change, kept as the job's history (the answer to 'what happened?')."""

    job_id: JobId
    at: datetime
    from_status: JobStatus | None
    to_status: JobStatus
    reason: str
    attempt: int = 0
