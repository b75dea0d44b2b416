"""Jobs: the spec a user submits, the status machine, attempts.

A job runs in attempts. An attempt that ends LOST or PREEMPTED sends the job back to
PENDING (requeue) or, when its attempts are used up, to FAILED; the job keeps its place
(submission sequence) in the queue. Illegal transitions raise IllegalTransition.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import TypedDict, Unpack

from suanli.domain.devices import ANY_GPU, canonical_gpu_model
from suanli.domain.errors import IllegalTransition, InvalidInput
from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.job_links import ArrayTask, Dependency
from suanli.domain.resources import Resources
from suanli.domain.standard import Sector, WorkloadClass
from suanli.domain.validation import check_text, is_int, is_number, shown

# Limits of a job spec. Each is refused with a 422 that names it (docs/security.md).
MAX_TIME_LIMIT_S = 366 * 86_400
"""Longest time limit: a year (366 days)."""
MAX_ARGV_BYTES = 128 * 1024
"""Most bytes (UTF-8) of all command arguments together (Linux allows 128 KiB for one)."""
MAX_ARGV_ITEMS = 4096
"""Most command arguments (program included)."""
MAX_REGIONS = 32
"""Most entries in each of regions, deny_regions, providers and deny_providers."""
MAX_ID_CHARS = 64
"""Longest region or provider id (as the pool's own ids)."""
MAX_GANG = 4096
"""Most members of a gang (gang_size, min_gang_size, max_gang_size)."""
MAX_ATTEMPTS = 100
"""Most attempts a job may ask for (max_attempts)."""
MAX_NAME_CHARS = 200
"""Longest name, service and job_type."""
MAX_PATH_CHARS = 4096
"""Longest working_dir (Linux's PATH_MAX)."""
MAX_ENV_KEYS = 256
"""Most environment variables a job may set."""
MAX_ENV_NAME_CHARS = 256
"""Longest environment variable name."""
MAX_ENV_VALUE_BYTES = 32 * 1024
"""Most bytes (UTF-8) of one environment variable's value."""
MAX_ENV_BYTES = 128 * 1024
"""Most bytes (UTF-8) of all names and values of the environment together."""
MAX_GPU_MODELS = 64
"""Most entries in gpu_models."""
MAX_THROUGHPUT_HINTS = 64
"""Most entries in throughput_hints."""
MAX_MODEL_CHARS = 128
"""Longest GPU model name in gpu_models and throughput_hints."""
MAX_RTT_MS = 10_000.0
"""Largest max_data_rtt_ms and latency_slo_ms (10 s)."""
MAX_LOG_BYTES = 16 * 1024 * 1024
"""Default cap of the stored log of one attempt's stream (stdout or stderr): 16 MiB.
Output beyond it is dropped after a one-line marker (`log_truncation_marker`); the
platform's `max_log_bytes` setting overrides it."""
LOG_RETENTION_DAYS = 30
"""Default number of days the logs of a job are kept after it ended; the platform's
`log_retention_days` setting overrides it."""
MAX_LOG_OFFSET = 2**62
"""Largest log offset a reader or an agent may name (the store counts in 64-bit ints)."""

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*", re.ASCII)


def log_truncation_marker(cap: int) -> bytes:
    """The line stored once where a stream's log reached `cap` bytes."""
    return f"\n[suanli: log truncated at {cap} bytes; later output dropped]\n".encode()


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
class PlacementConstraints:
    """Where a job may run, and what it prefers: the one value the placement filter's
    memo keys (`logic/scheduling/placement.py`) and the API's job fields
    (`api/schemas.py`, checked equal by tests/unit/test_placement_constraints.py) are
    made from. A new constraint is a field here, its check in `create`, and its CLI
    option. Hashable: equal constraints share the filter's work."""

    regions: tuple[RegionId, ...] = ()
    """Allowed regions; empty means any."""
    deny_regions: tuple[RegionId, ...] = ()
    providers: tuple[ProviderId, ...] = ()
    """Allowed providers; empty means any."""
    deny_providers: tuple[ProviderId, ...] = ()
    gpu_models: tuple[str, ...] = ()
    """Allowed GPU models when the request asks for model ``any``; empty means any."""
    data_region: RegionId | None = None
    """Where the job's data lives: with `max_data_rtt_ms`, only clusters that close to it."""
    max_data_rtt_ms: float | None = None
    client_region: RegionId | None = None
    """Where the user or the service's clients are; placement prefers low RTT from it."""
    latency_slo_ms: float | None = None
    """Round-trip bound from `client_region`: only clusters meeting it are eligible."""

    @classmethod
    def create(
        cls,
        *,
        resources: Resources,
        regions: list[str] | tuple[str, ...] = (),
        deny_regions: list[str] | tuple[str, ...] = (),
        providers: list[str] | tuple[str, ...] = (),
        deny_providers: list[str] | tuple[str, ...] = (),
        gpu_models: list[str] | tuple[str, ...] = (),
        data_region: str | None = None,
        max_data_rtt_ms: float | None = None,
        client_region: str | None = None,
        latency_slo_ms: float | None = None,
    ) -> PlacementConstraints:
        """Validate and build; raises InvalidInput naming the field at fault. `resources`:
        the request the constraints go with (GPU models narrow only model ``any``)."""
        unique_regions = _names(regions, "regions")
        deny = _names(deny_regions, "deny_regions")
        allowed_providers = _names(providers, "providers")
        denied_providers = _names(deny_providers, "deny_providers")
        for label, place in (("data_region", data_region), ("client_region", client_region)):
            if place is not None:
                check_text(place, label, name=True, max_chars=MAX_ID_CHARS)
        models = _gpu_models(gpu_models, resources)
        _check_latency_bounds(data_region, max_data_rtt_ms, client_region, latency_slo_ms)
        return cls(
            regions=tuple(RegionId(r) for r in unique_regions),
            deny_regions=tuple(RegionId(r) for r in deny),
            providers=tuple(ProviderId(p) for p in allowed_providers),
            deny_providers=tuple(ProviderId(p) for p in denied_providers),
            gpu_models=models,
            data_region=RegionId(data_region) if data_region else None,
            max_data_rtt_ms=max_data_rtt_ms,
            client_region=RegionId(client_region) if client_region else None,
            latency_slo_ms=latency_slo_ms,
        )


class PlacementArgs(TypedDict, total=False):
    """`PlacementConstraints.create`'s arguments but `resources`: what `JobSpec.create`
    passes through (one list of fields for both)."""

    regions: list[str] | tuple[str, ...]
    deny_regions: list[str] | tuple[str, ...]
    providers: list[str] | tuple[str, ...]
    deny_providers: list[str] | tuple[str, ...]
    gpu_models: list[str] | tuple[str, ...]
    data_region: str | None
    max_data_rtt_ms: float | None
    client_region: str | None
    latency_slo_ms: float | None


def _gpu_models(gpu_models: list[str] | tuple[str, ...], resources: Resources) -> tuple[str, ...]:
    """The canonical models, duplicates dropped; only a request for model ``any`` may be
    narrowed."""
    _bounded(gpu_models, "gpu_models", MAX_GPU_MODELS, "--gpu-model")
    models = tuple(dict.fromkeys(_model(m, "gpu_models") for m in gpu_models))
    if models and resources.gpus and ANY_GPU not in resources.gpus:
        raise InvalidInput(
            "gpu_models narrows a request for GPUs of model 'any', but this job "
            f"asks for {', '.join(resources.gpus)}.",
            field="gpu_models",
            hint="ask for --gpus any:N together with --gpu-model, or drop --gpu-model.",
        )
    return models


def _check_latency_bounds(
    data_region: str | None,
    max_data_rtt_ms: float | None,
    client_region: str | None,
    latency_slo_ms: float | None,
) -> None:
    """Each bound in (0, MAX_RTT_MS]; a data RTT bound with its data region, an SLO with
    its clients' region."""
    for bound, label in (
        (max_data_rtt_ms, "max_data_rtt_ms"),
        (latency_slo_ms, "latency_slo_ms"),
    ):
        if bound is not None and not (is_number(bound) and 0 < bound <= MAX_RTT_MS):
            raise InvalidInput(
                f"{label} must be between 0 and {MAX_RTT_MS:g} ms, got {shown(bound)}.",
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


@dataclass(frozen=True, slots=True)
class JobSpec:
    """What the user asked for. Validated on construction through `JobSpec.create`."""

    command: tuple[str, ...]
    resources: Resources
    name: str = ""
    time_limit_s: int | None = None
    priority_class: PriorityClass = PriorityClass.STANDARD
    env: Mapping[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    max_attempts: int = 3
    sector: Sector = Sector.OTHER
    workload_class: WorkloadClass | None = None
    """How the job is metered; None: AI when it asks for GPUs, else general."""
    gang_size: int = 1
    """Members of a gang, each asking for `resources`; admitted all-or-nothing inside one
    cluster (members may share a node). 1 = an ordinary job."""
    placement: PlacementConstraints = field(default_factory=lambda: PlacementConstraints())
    """Where it may run (regions, providers, GPU models, latency bounds)."""
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
    array: ArrayTask | None = None
    """The job array this job is a task of (`domain/job_links.py`); None: not one."""
    dependencies: tuple[Dependency, ...] = ()
    """Jobs (or arrays) that must end first, and how (`domain/job_links.py`)."""

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
        env: Mapping[str, str] | None = None,
        working_dir: str | None = None,
        max_attempts: int = 3,
        sector: Sector = Sector.OTHER,
        workload_class: WorkloadClass | None = None,
        gang_size: int = 1,
        service: str = "",
        job_type: str = "",
        throughput_hints: Mapping[str, float] | None = None,
        min_gang_size: int | None = None,
        max_gang_size: int | None = None,
        dependencies: tuple[Dependency, ...] = (),
        **where: Unpack[PlacementArgs],
    ) -> JobSpec:
        """Validate and build a spec; raises InvalidInput naming the field at fault, with
        the limit broken and what to do. Every string must be valid UTF-8 text without
        NUL (names and ids also without control characters): a spec is stored, then sent
        to an agent, and must survive both (see `suanli.domain.validation`)."""
        argv = _command(command)
        _check_time_limit(time_limit_s)
        check_text(name, "name", name=True, max_chars=MAX_NAME_CHARS)
        if working_dir is not None:
            check_text(working_dir, "working_dir", name=True, max_chars=MAX_PATH_CHARS)
        placement = PlacementConstraints.create(resources=resources, **where)
        _check_gang(gang_size, min_gang_size, max_gang_size)
        check_text(service, "service", name=True, max_chars=MAX_NAME_CHARS)
        check_text(job_type, "job_type", name=True, max_chars=MAX_NAME_CHARS)
        hints = _hints(throughput_hints or {})
        _check_attempts(max_attempts)
        environment = _environment(env or {})
        return cls(
            command=argv,
            resources=resources,
            name=name,
            time_limit_s=time_limit_s,
            priority_class=priority_class,
            env=environment,
            working_dir=working_dir,
            max_attempts=max_attempts,
            sector=sector,
            workload_class=workload_class,
            gang_size=gang_size,
            placement=placement,
            service=service,
            job_type=job_type,
            throughput_hints=hints,
            min_gang_size=min_gang_size,
            max_gang_size=max_gang_size,
            dependencies=dependencies,
        )


def _check_time_limit(time_limit_s: int | None) -> None:
    if time_limit_s is not None and not (
        is_int(time_limit_s) and 0 < time_limit_s <= MAX_TIME_LIMIT_S
    ):
        raise InvalidInput(
            f"time_limit must be between 1 s and {MAX_TIME_LIMIT_S} s (366 days).",
            field="time_limit",
            hint="e.g. --time 1h.",
        )


def _check_gang(gang_size: int, min_gang_size: int | None, max_gang_size: int | None) -> None:
    """1 <= min <= gang_size <= max <= MAX_GANG, each a whole number (None: gang_size)."""
    if not (is_int(gang_size) and 1 <= gang_size <= MAX_GANG):
        raise InvalidInput(
            f"gang_size must be between 1 and {MAX_GANG}, got {shown(gang_size)}.",
            field="gang_size",
            hint="a gang is N members that start together in one cluster, e.g. --gang 4.",
        )
    for bound_label, bound_value in (
        ("min_gang_size", min_gang_size),
        ("max_gang_size", max_gang_size),
    ):
        if bound_value is not None and not (is_int(bound_value) and bound_value >= 1):
            raise InvalidInput(
                f"{bound_label} must be a whole number from 1 to {MAX_GANG}, "
                f"got {shown(bound_value)}.",
                field=bound_label,
                hint="e.g. --gang 4 --min-gang 1 --max-gang 8.",
            )
    low = min_gang_size if min_gang_size is not None else gang_size
    high = max_gang_size if max_gang_size is not None else gang_size
    if not 1 <= low <= gang_size <= high <= MAX_GANG:
        raise InvalidInput(
            f"An elastic job needs 1 <= min_gang_size <= gang_size <= max_gang_size <= "
            f"{MAX_GANG}; got {shown(low)} <= {gang_size} <= {shown(high)}.",
            field="max_gang_size" if high < gang_size or high > MAX_GANG else "min_gang_size",
            hint="e.g. --gang 4 --min-gang 1 --max-gang 8: prefers 4 members, runs with 1 to 8.",
        )


def _check_attempts(max_attempts: int) -> None:
    if not (is_int(max_attempts) and 1 <= max_attempts <= MAX_ATTEMPTS):
        raise InvalidInput(
            f"max_attempts must be between 1 and {MAX_ATTEMPTS}, got {shown(max_attempts)}.",
            field="max_attempts",
            hint="e.g. 3: a job is retried when it is lost, not when it fails.",
        )


def _bounded(values: object, label: str, limit: int, flag: str) -> None:
    """A list of at most `limit` entries (duplicates count: the limit bounds the work)."""
    if not isinstance(values, list | tuple):
        raise InvalidInput(f"{label} must be a list.", field=label, hint="send a JSON list.")
    if len(values) > limit:
        raise InvalidInput(
            f"{label} lists {len(values)} entries; the limit is {limit}.",
            field=label,
            hint=f"list at most {limit} (repeat {flag} fewer times), or none.",
        )


def _names(values: list[str] | tuple[str, ...], label: str) -> list[str]:
    """Region or provider ids: at most `MAX_REGIONS`, each 1-`MAX_ID_CHARS` printable
    characters; duplicates dropped, order kept (it is a preference)."""
    _bounded(values, label, MAX_REGIONS, f"--{label.replace('_', '-')}")
    for i, value in enumerate(values):
        check_text(value, label, what=f"{label}[{i}]", name=True, max_chars=MAX_ID_CHARS)
        if not value:
            raise InvalidInput(
                f"{label}[{i}] is empty.",
                field=label,
                hint=f"list names of 1-{MAX_ID_CHARS} characters, or none.",
            )
    return list(dict.fromkeys(values))


def _model(value: str, label: str) -> str:
    """A GPU model name, canonical (raises InvalidInput naming `label`)."""
    check_text(value, label, name=True, max_chars=MAX_MODEL_CHARS)
    return canonical_gpu_model(value, field=label)


def _command(command: object) -> tuple[str, ...]:
    """argv: 1-`MAX_ARGV_ITEMS` strings of UTF-8 text without NUL, at most
    `MAX_ARGV_BYTES` together, the program not blank."""
    if not isinstance(command, list | tuple):
        raise InvalidInput("command must be a list of strings.", field="command")
    argv = tuple(command)
    if len(argv) > MAX_ARGV_ITEMS:
        raise InvalidInput(
            f"The command has {len(argv)} arguments; the limit is {MAX_ARGV_ITEMS}.",
            field="command",
            hint="put long argument lists in a file and pass its path.",
        )
    total = 0
    for i, arg in enumerate(argv):
        # control characters are legitimate in arguments (a newline in `python3 -c`)
        total += check_text(arg, "command", what=f"command[{i}]") + 1
    if not argv or not argv[0].strip():
        raise InvalidInput(
            "The command is empty.",
            field="command",
            hint="give the program and its arguments after '--', "
            "e.g. suanli submit -- python3 train.py.",
        )
    if total > MAX_ARGV_BYTES:
        raise InvalidInput(
            f"The command is longer than {MAX_ARGV_BYTES} bytes.",
            field="command",
            hint="put long inputs in a file and pass its path.",
        )
    return argv


def _environment(env: Mapping[str, str]) -> dict[str, str]:
    """At most `MAX_ENV_KEYS` variables named [A-Za-z_][A-Za-z0-9_]* (at most
    `MAX_ENV_NAME_CHARS`), each value UTF-8 text without NUL of at most
    `MAX_ENV_VALUE_BYTES`, all together at most `MAX_ENV_BYTES`."""
    if not isinstance(env, Mapping):
        raise InvalidInput("env must be an object of names to values.", field="env")
    if len(env) > MAX_ENV_KEYS:
        raise InvalidInput(
            f"env sets {len(env)} variables; the limit is {MAX_ENV_KEYS}.",
            field="env",
            hint="pass settings in a file (and its path in one variable).",
        )
    total = 0
    for key, value in env.items():
        check_text(key, "env", what=f"env name {shown(key)}", max_chars=MAX_ENV_NAME_CHARS)
        if not _ENV_NAME.fullmatch(key):
            raise InvalidInput(
                f"env name {shown(key)} is not a valid variable name.",
                field="env",
                hint="name variables with ASCII letters, digits and '_', not starting with "
                "a digit (e.g. MY_SETTING).",
            )
        size = check_text(value, "env", what=f"env {key}")
        if size > MAX_ENV_VALUE_BYTES:
            raise InvalidInput(
                f"env {key} is {size} bytes; the limit is {MAX_ENV_VALUE_BYTES} per value.",
                field="env",
                hint="pass large values through a file and its path.",
            )
        total += len(key) + size
    if total > MAX_ENV_BYTES:
        raise InvalidInput(
            f"env holds {total} bytes of names and values; the limit is {MAX_ENV_BYTES}.",
            field="env",
            hint="pass large settings through a file and its path.",
        )
    return dict(env)


def _hints(throughput_hints: Mapping[str, float]) -> dict[str, float]:
    """At most `MAX_THROUGHPUT_HINTS` known GPU models, each a speed in (0, 1e9)."""
    if not isinstance(throughput_hints, Mapping):
        raise InvalidInput(
            "throughput_hints must be an object of GPU models to speeds.",
            field="throughput_hints",
        )
    if len(throughput_hints) > MAX_THROUGHPUT_HINTS:
        raise InvalidInput(
            f"throughput_hints has {len(throughput_hints)} entries; the limit is "
            f"{MAX_THROUGHPUT_HINTS}.",
            field="throughput_hints",
            hint="give speeds for the GPU models you would run on, e.g. H100=3,A100=1.",
        )
    hints: dict[str, float] = {}
    for model, speed in throughput_hints.items():
        canonical = _model(model, "throughput_hints")
        if not (is_number(speed) and 0 < speed < 1e9):
            raise InvalidInput(
                f"throughput hint for {shown(model)} must be a positive number below 1e9, "
                f"got {shown(speed)}.",
                field="throughput_hints",
                hint="give relative speeds per GPU model, e.g. H100=3,A100=1.",
            )
        hints[canonical] = float(speed)
    return hints


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
    cpu_s: float | None = None
    """CPU seconds the task used, as its engine's accounting measured them (Slurm's
    TotalCPU); None where the engine does not measure them."""


@dataclass(frozen=True, slots=True)
class JobEvent:
    """One status change, kept as the job's history (the answer to 'what happened?')."""

    job_id: JobId
    at: datetime
    from_status: JobStatus | None
    to_status: JobStatus
    reason: str
    attempt: int = 0
