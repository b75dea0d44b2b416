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

from suanli.domain.devices import ANY_GPU, canonical_gpu_model
from suanli.domain.errors import IllegalTransition, InvalidInput
from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.resources import Resources
from suanli.domain.standard import Sector, WorkloadClass

MAX_TIME_LIMIT_S = 366 * 86_400
MAX_ARGV_BYTES = 128 * 1024
MAX_REGIONS = 32
MAX_GANG = 4096


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
    gang_size: int = 1
    """Members of a gang, each asking for `resources`; admitted all-or-nothing inside one
    cluster (members may share a node). 1 = an ordinary job."""
    deny_regions: tuple[RegionId, ...] = ()
    providers: tuple[ProviderId, ...] = ()
    """Allowed providers; empty means any."""
    deny_providers: tuple[ProviderId, ...] = ()
    gpu_models: tuple[str, ...] = ()
    """Allowed GPU models when `resources` asks for model ``any``; empty means any."""
    data_region: RegionId | None = None
    """Where the job's data lives: with `max_data_rtt_ms`, only clusters that close to it."""
    max_data_rtt_ms: float | None = None
    client_region: RegionId | None = None
    """Where the user or the service's clients are; placement prefers low RTT from it."""
    latency_slo_ms: float | None = None
    """Round-trip bound from `client_region`: only clusters meeting it are eligible."""
    service: str = ""
    """Name of the inference service this job is a replica of; "" for batch jobs."""
    job_type: str = ""
    """Workload type (e.g. "resnet50") for the measured throughput matrix."""
    throughput_hints: Mapping[str, float] = field(default_factory=dict)
    """User hints: relative speed per GPU model (e.g. {"H100": 3.0, "A100": 1.0})."""
    min_gang_size: int | None = None
    max_gang_size: int | None = None
    """Elastic jobs: the job accepts any number of members from `min_gang_size` to
    `max_gang_size` (each member `resources`; `gang_size` is the size it prefers, which
    a policy that does not resize uses), and may be resized between runs. None: rigid."""

    @property
    def gang_range(self) -> tuple[int, int]:
        """The fewest and the most members the job accepts."""
        low = self.min_gang_size if self.min_gang_size is not None else self.gang_size
        high = self.max_gang_size if self.max_gang_size is not None else self.gang_size
        return low, high

    @property
    def elastic(self) -> bool:
        low, high = self.gang_range
        return low != high

    @property
    def metered_class(self) -> WorkloadClass:
        if self.workload_class is not None:
            return self.workload_class
        return WorkloadClass.AI if self.resources.gpus else WorkloadClass.GENERAL

    def __post_init__(self) -> None:
        object.__setattr__(self, "env", MappingProxyType(dict(self.env)))
        object.__setattr__(self, "throughput_hints", MappingProxyType(dict(self.throughput_hints)))

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
        gang_size: int = 1,
        deny_regions: list[str] | tuple[str, ...] = (),
        providers: list[str] | tuple[str, ...] = (),
        deny_providers: list[str] | tuple[str, ...] = (),
        gpu_models: list[str] | tuple[str, ...] = (),
        data_region: str | None = None,
        max_data_rtt_ms: float | None = None,
        client_region: str | None = None,
        latency_slo_ms: float | None = None,
        service: str = "",
        job_type: str = "",
        throughput_hints: Mapping[str, float] | None = None,
        min_gang_size: int | None = None,
        max_gang_size: int | None = None,
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
        deny = _names(deny_regions, "deny_regions")
        allowed_providers = _names(providers, "providers")
        denied_providers = _names(deny_providers, "deny_providers")
        models = tuple(
            dict.fromkeys(canonical_gpu_model(m, field="gpu_models") for m in gpu_models)
        )
        if models and resources.gpus and ANY_GPU not in resources.gpus:
            raise InvalidInput(
                "gpu_models narrows a request for GPUs of model 'any', but this job "
                f"asks for {', '.join(resources.gpus)}.",
                field="gpu_models",
                hint="ask for --gpus any:N together with --gpu-model, or drop --gpu-model.",
            )
        if not 1 <= gang_size <= MAX_GANG:
            raise InvalidInput(
                f"gang_size must be between 1 and {MAX_GANG}, got {gang_size}.",
                field="gang_size",
                hint="a gang is N members that start together in one cluster, e.g. --gang 4.",
            )
        low = min_gang_size if min_gang_size is not None else gang_size
        high = max_gang_size if max_gang_size is not None else gang_size
        if not 1 <= low <= gang_size <= high <= MAX_GANG:
            raise InvalidInput(
                f"An elastic job needs 1 <= min_gang_size <= gang_size <= max_gang_size <= "
                f"{MAX_GANG}; got {low} <= {gang_size} <= {high}.",
                field="max_gang_size" if high < gang_size or high > MAX_GANG else "min_gang_size",
                hint="e.g. --gang 4 --min-gang 1 --max-gang 8: prefers 4 members, runs "
                "with 1 to 8.",
            )
        for bound, label in (
            (max_data_rtt_ms, "max_data_rtt_ms"),
            (latency_slo_ms, "latency_slo_ms"),
        ):
            if bound is not None and not (0 < bound <= 10_000):
                raise InvalidInput(
                    f"{label} must be between 0 and 10000 ms, got {bound}.",
                    field=label,
                    hint="give a round-trip time in milliseconds, e.g. 20.",
                )
        if (max_data_rtt_ms is None) != (data_region is None):
            raise InvalidInput(
                "data_region and max_data_rtt_ms go together.",
                field="data_region",
                hint="name where the data is and how close the job must run, e.g. "
                "--data-region guiyang --data-rtt 5.",
            )
        if latency_slo_ms is not None and client_region is None:
            raise InvalidInput(
                "A latency SLO needs the region its clients are in.",
                field="client_region",
                hint="add --client-region, e.g. --client-region zhengzhou.",
            )
        if len(service) > 200 or len(job_type) > 200:
            raise InvalidInput("service and job_type are at most 200 characters.", field="service")
        hints: dict[str, float] = {}
        for model, speed in (throughput_hints or {}).items():
            if not (isinstance(speed, int | float) and 0 < speed < 1e9):
                raise InvalidInput(
                    f"throughput hint for {model!r} must be a positive number, got {speed!r}.",
                    field="throughput_hints",
                    hint="give relative speeds per GPU model, e.g. H100=3,A100=1.",
                )
            hints[canonical_gpu_model(model, field="throughput_hints")] = float(speed)
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
            gang_size=gang_size,
            deny_regions=tuple(RegionId(r) for r in deny),
            providers=tuple(ProviderId(p) for p in allowed_providers),
            deny_providers=tuple(ProviderId(p) for p in denied_providers),
            gpu_models=models,
            data_region=RegionId(data_region) if data_region else None,
            max_data_rtt_ms=max_data_rtt_ms,
            client_region=RegionId(client_region) if client_region else None,
            latency_slo_ms=latency_slo_ms,
            service=service,
            job_type=job_type,
            throughput_hints=hints,
            min_gang_size=min_gang_size,
            max_gang_size=max_gang_size,
        )


def _names(values: list[str] | tuple[str, ...], label: str) -> list[str]:
    unique = list(dict.fromkeys(values))
    if len(unique) > MAX_REGIONS or any(not v or len(v) > 64 for v in unique):
        raise InvalidInput(
            f"{label}: list at most {MAX_REGIONS} names of 1-64 characters.",
            field=label,
            hint="list fewer names, or none.",
        )
    return unique


@dataclass(frozen=True, slots=True)
class Placement:
    """Part of an admission on one node: `members` gang members, holding `allocation`
    together (members that share a node share one placement)."""

    node_id: NodeId
    allocation: Resources
    members: int = 1


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
    placements: tuple[Placement, ...] = ()
    """Per-node allocations of the current attempt; empty for a one-node placement, which
    `node_id` and `allocation` describe (see `placed()`)."""
    preempt_requested: bool = False
    """The scheduler asked the agent to stop this attempt (SIGTERM, grace, kill); when it
    ends the job is requeued with its age."""

    def placed(self) -> tuple[Placement, ...]:
        """Every (node, allocation) the current attempt holds."""
        if self.placements:
            return self.placements
        if self.node_id is not None and self.allocation is not None:
            return (Placement(self.node_id, self.allocation),)
        return ()

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
    placements: tuple[Placement, ...] = ()
    """Per-node allocations of a gang; empty when `node_id`/`allocation` say it all."""


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One status change, kept as the job's history (the answer to 'what happened?')."""

    job_id: JobId
    at: datetime
    from_status: JobStatus | None
    to_status: JobStatus
    reason: str
    attempt: int = 0
