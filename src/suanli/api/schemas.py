"""Wire schemas, one family per resource (Create / Public), kept apart from the domain.
Field names are snake_case; times are ISO 8601 UTC."""

from __future__ import annotations

from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from suanli.domain.calibration import NodeCalibration
from suanli.domain.catalog import default_catalog
from suanli.domain.devices import canonical_gpu_model
from suanli.domain.job_links import format_dependencies, parse_dependencies
from suanli.domain.jobs import (
    Attempt,
    Job,
    JobEvent,
    JobSpec,
    Placement,
    PlacementConstraints,
    PriorityClass,
)
from suanli.domain.pool import Capability, Region
from suanli.domain.quantities import parse_duration_s, parse_gpu_request, parse_memory_mb
from suanli.domain.quota import Quota
from suanli.domain.resources import Resources
from suanli.domain.standard import WorkloadClass, parse_sector, parse_workload_class
from suanli.domain.usage import CPU, GPU_PREFIX, MEMORY, UsageRecord
from suanli.domain.validation import check_text
from suanli.logic.metering.ratings import node_ratings
from suanli.services.pool import ClusterOccupancy
from suanli.services.tenancy import TenantSettings, from_stored, quota_units


class Strict(BaseModel):
    """Request bodies: unknown fields and non-finite numbers are refused (422)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _storable(value: str) -> str:
    # Text every store and wire can carry. PostgreSQL text cannot hold NUL and no UTF-8
    # encoder takes a lone surrogate (JSON can carry "\ud800"): unchecked, either is a
    # 500 when stored, and SQLite keeps a NUL that no id, name or report should hold.
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"character {exc.start} is a lone surrogate, not text") from None
    return value


Text = Annotated[str, AfterValidator(_storable)]
Name = Annotated[Text, Field(max_length=200)]
Slug = Annotated[Text, Field(min_length=1, max_length=64)]
StrictNumber = Annotated[float, Field(strict=True)]
"""A JSON number (an integer is fine); `true` is not 1."""


class PlacementIn(Strict):
    """A job's placement constraints, field for field `domain.jobs.PlacementConstraints`
    (tests/unit/test_placement_constraints.py keeps the two the same); checked by the
    domain, so API and CLI give the same messages."""

    regions: list[str] = Field(default_factory=list, description="allowed regions; empty=any")
    deny_regions: list[str] = Field(default_factory=list, description="regions never to use")
    providers: list[str] = Field(default_factory=list, description="allowed providers; empty=any")
    deny_providers: list[str] = Field(default_factory=list, description="providers never to use")
    gpu_models: list[str] = Field(
        default_factory=list, description="allowed GPU models for a request of model 'any'"
    )
    data_region: str | None = Field(None, description="where the job's data is")
    max_data_rtt_ms: float | None = Field(
        None, strict=True, description="with data_region: largest round trip (ms) from the data"
    )
    client_region: str | None = Field(None, description="where the users or clients are")
    latency_slo_ms: float | None = Field(
        None, strict=True, description="with client_region: largest round trip (ms) to the clients"
    )

    def placement_fields(self) -> dict[str, Any]:
        """The constraints as keyword arguments of `JobSpec.create`."""
        return {name: getattr(self, name) for name in PlacementIn.model_fields}


class PlacementOut(BaseModel):
    """A job's placement constraints as the API shows them (`PlacementIn`'s fields)."""

    regions: list[str] = Field(default_factory=list)
    deny_regions: list[str] = Field(default_factory=list)
    providers: list[str] = Field(default_factory=list)
    deny_providers: list[str] = Field(default_factory=list)
    gpu_models: list[str] = Field(default_factory=list)
    data_region: str | None = None
    max_data_rtt_ms: float | None = None
    client_region: str | None = None
    latency_slo_ms: float | None = None

    @staticmethod
    def fields_of(placement: PlacementConstraints) -> dict[str, Any]:
        """Keyword arguments of a model that has these fields, from the domain value."""
        out: dict[str, Any] = {}
        for f in dataclass_fields(placement):
            value = getattr(placement, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


class JobCreate(PlacementIn):
    """A job submission. Numbers are strict (JSON `true` is not a count, "2" is not a
    number); everything else, limits included, is checked by the domain (`to_spec`), so
    API and CLI give the same messages."""

    command: list[str] = Field(description="argv: program and arguments (no shell)")
    name: str = ""
    cpus: float = Field(1.0, strict=True)
    memory: str = Field("1G", description="e.g. '4G', '512M'")
    gpus: str | None = Field(None, description="MODEL:N, MODEL, or N (any model)")
    gpu_memory: str | None = Field(None, description="least memory per GPU, e.g. '40G'")
    time_limit: str | None = Field(None, description="e.g. '1h', '30m', '01:00:00'")
    priority_class: PriorityClass = PriorityClass.STANDARD

    env: dict[str, str] = Field(default_factory=dict)
    working_dir: str | None = None
    max_attempts: int = Field(3, strict=True)
    sector: str = Field("other", description="industry tag, e.g. research, 科研, finance")
    workload_class: str | None = Field(
        None, description="ai (FP16/BF16), general (FP32) or hpc (FP64); default by GPUs"
    )
    gang_size: int = Field(
        1,
        strict=True,
        description="members, each asking for the resources above, started together "
        "(all or nothing) in one cluster",
    )
    min_gang_size: int | None = Field(
        None,
        strict=True,
        description="elastic jobs: the fewest members the job can run with (the scheduler "
        "may start it smaller than gang_size instead of waiting); null = gang_size",
    )
    max_gang_size: int | None = Field(
        None,
        strict=True,
        description="elastic jobs: the most members the job can use (the scheduler may "
        "grow it onto idle GPUs and shrink it back to gang_size); null = gang_size",
    )
    service: str = Field(
        "", max_length=200, description="name of the inference service this is a replica of"
    )
    job_type: str = Field(
        "", max_length=200, description="workload type for throughput-aware placement"
    )
    throughput_hints: dict[str, StrictNumber] = Field(
        default_factory=dict, description="relative speed per GPU model, e.g. {'H100': 3}"
    )
    dependency: str | None = Field(
        None,
        max_length=20_000,
        description="jobs (or job arrays) that must end first, in Slurm's syntax: "
        "'afterok:ID[:ID...]' (all succeeded), 'afterany:...' (all ended), "
        "'afternotok:...' (all ended, none succeeded), several joined by ','",
    )

    def to_spec(self) -> JobSpec:
        """Validate through the domain so that API and CLI give the same messages; raises
        InvalidInput (a 422 naming the field) and nothing else."""
        check_text(self.sector, "sector", name=True, max_chars=64)
        if self.workload_class is not None:
            check_text(self.workload_class, "workload_class", name=True, max_chars=64)
        gpus: dict[str, int] = {}
        if self.gpus:
            model, count = parse_gpu_request(self.gpus)
            gpus[model] = count
        resources = Resources.request(
            cpus=self.cpus,
            memory_mb=parse_memory_mb(self.memory),
            gpus=gpus,
            gpu_memory_mb=parse_memory_mb(self.gpu_memory, field="gpu_memory")
            if self.gpu_memory
            else 0,
        )
        return JobSpec.create(
            command=self.command,
            resources=resources,
            name=self.name,
            time_limit_s=parse_duration_s(self.time_limit) if self.time_limit else None,
            priority_class=self.priority_class,
            env=self.env,
            working_dir=self.working_dir,
            max_attempts=self.max_attempts,
            sector=parse_sector(self.sector),
            workload_class=parse_workload_class(self.workload_class)
            if self.workload_class
            else None,
            gang_size=self.gang_size,
            min_gang_size=self.min_gang_size,
            max_gang_size=self.max_gang_size,
            **self.placement_fields(),
            service=self.service,
            job_type=self.job_type,
            throughput_hints=self.throughput_hints,
            dependencies=parse_dependencies(self.dependency) if self.dependency else (),
        )


class JobArrayCreate(JobCreate):
    """A job array: one job of this spec per index, queued together (all or none)."""

    array: str = Field(
        max_length=2_000,
        description="indices in Slurm's syntax: '0-99', '1,3,5-9', '0-15:4' (step), "
        "with '%N' for at most N tasks running at once, e.g. '0-99%10'",
    )


class ServiceCreate(JobCreate):
    """An inference service: `replicas` jobs of one spec, named SERVICE-0..SERVICE-{R-1},
    each with `service` set, queued together (all or none)."""

    service: str = Field(description="the service's name; replicas are named SERVICE-i")
    replicas: int = Field(1, strict=True, description="how many replica jobs to queue")


class ResourcesPublic(BaseModel):
    cpus: float
    memory_mb: int
    gpus: dict[str, int]
    gpu_memory_mb: int = 0

    @classmethod
    def of(cls, r: Resources) -> ResourcesPublic:
        return cls(
            cpus=r.cpus, memory_mb=r.memory_mb, gpus=dict(r.gpus), gpu_memory_mb=r.gpu_memory_mb
        )


class UsagePublic(BaseModel):
    """Totals over all attempts. `wall_seconds` is the metered run time (metered to the
    millisecond, so fractional); the `*_seconds` are quantity x seconds per dimension;
    `standard_units` is in standard compute-hours (SCH: PFLOPS-hours) of the job's
    workload class, with the per-unit `ratings` (PFLOPS per core or device) it was
    computed from (docs/metering.md)."""

    wall_seconds: float = 0
    cpu_core_seconds: float = 0.0
    memory_mb_seconds: float = 0.0
    gpu_seconds: dict[str, float] = Field(default_factory=dict)
    attempts_metered: int = 0
    workload_class: str | None = None
    standard_units: float = 0.0
    standard_units_by_dimension: dict[str, float] = Field(default_factory=dict)
    ratings: dict[str, float | None] = Field(default_factory=dict)

    @classmethod
    def of(cls, records: list[UsageRecord]) -> UsagePublic:
        out = cls()
        attempts: set[int] = set()
        wall_ms = 0  # summed as integers, divided once: no float drift over many records
        for r in records:
            out.workload_class = r.workload_class.value
            if r.standard_units is not None:
                out.standard_units += r.standard_units
                by_dim = out.standard_units_by_dimension
                by_dim[r.dimension] = by_dim.get(r.dimension, 0.0) + r.standard_units
            if r.dimension != MEMORY:
                out.ratings[r.dimension] = r.rating_pflops
            if r.dimension == CPU:
                out.cpu_core_seconds += r.amount
                wall_ms += r.milliseconds
                attempts.add(r.attempt)
            elif r.dimension == MEMORY:
                out.memory_mb_seconds += r.amount
            elif r.dimension.startswith(GPU_PREFIX):
                model = r.dimension[len(GPU_PREFIX) :]
                out.gpu_seconds[model] = out.gpu_seconds.get(model, 0.0) + r.amount
        out.wall_seconds = wall_ms / 1000
        out.attempts_metered = len(attempts)
        return out


class PlacementPublic(BaseModel):
    """One node's share of a placement (a gang has several)."""

    node_id: str
    allocation: ResourcesPublic
    members: int = Field(
        1, description="gang members on this node, holding the allocation together"
    )

    @classmethod
    def all_of(cls, placements: tuple[Placement, ...]) -> list[PlacementPublic]:
        return [
            cls(node_id=p.node_id, allocation=ResourcesPublic.of(p.allocation), members=p.members)
            for p in placements
        ]


class AttemptPublic(BaseModel):
    number: int
    cluster_id: str
    node_id: str
    region_id: str
    status: str
    allocation: ResourcesPublic
    scheduled_at: datetime
    dispatched_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    exit_code: int | None
    reason: str
    placements: list[PlacementPublic] = Field(
        default_factory=list, description="per-node allocations (a gang's members)"
    )
    cpu_s: float | None = Field(
        None,
        description="CPU seconds used, as the engine's accounting measured them (Slurm's "
        "TotalCPU); null where the engine does not measure them",
    )

    @classmethod
    def of(cls, a: Attempt) -> AttemptPublic:
        return cls(
            number=a.number,
            cluster_id=a.cluster_id,
            node_id=a.node_id,
            region_id=a.region_id,
            status=a.status.value,
            allocation=ResourcesPublic.of(a.allocation),
            scheduled_at=a.scheduled_at,
            dispatched_at=a.dispatched_at,
            started_at=a.started_at,
            ended_at=a.ended_at,
            exit_code=a.exit_code,
            reason=a.reason,
            cpu_s=a.cpu_s,
            placements=PlacementPublic.all_of(
                a.placements or (Placement(a.node_id, a.allocation),)
            ),
        )


class EventPublic(BaseModel):
    at: datetime
    from_status: str | None
    to_status: str
    reason: str
    attempt: int

    @classmethod
    def of(cls, e: JobEvent) -> EventPublic:
        return cls(
            at=e.at,
            from_status=e.from_status.value if e.from_status else None,
            to_status=e.to_status.value,
            reason=e.reason,
            attempt=e.attempt,
        )


class JobPublic(PlacementOut):
    id: str
    name: str
    tenant_id: str
    user_id: str
    status: str
    reason: str
    exit_code: int | None
    submitted_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    attempt: int
    cluster_id: str | None
    node_id: str | None
    command: list[str]
    resources: ResourcesPublic
    time_limit_s: int | None
    priority_class: str
    sector: str
    workload_class: str
    cancel_requested: bool
    usage: UsagePublic
    gang_size: int = 1
    min_gang_size: int | None = None
    max_gang_size: int | None = None
    service: str = ""
    job_type: str = ""
    throughput_hints: dict[str, float] = Field(default_factory=dict)
    placements: list[PlacementPublic] = Field(
        default_factory=list,
        description="where the current attempt runs: per node, its allocation (a gang has "
        "several; empty while pending)",
    )
    preempt_requested: bool = Field(
        False, description="the scheduler asked for it to be stopped and requeued"
    )
    array_id: str | None = Field(None, description="the job array it is a task of")
    array_index: int | None = None
    array_limit: int | None = Field(None, description="most tasks of its array run at once")
    dependency: str = Field("", description="what it waits for, in Slurm's syntax")
    attempts: list[AttemptPublic] | None = None
    events: list[EventPublic] | None = None

    @classmethod
    def of(
        cls,
        job: Job,
        usage: list[UsageRecord],
        *,
        attempts: list[Attempt] | None = None,
        events: list[JobEvent] | None = None,
    ) -> JobPublic:
        spec = job.spec
        return cls(
            id=job.id,
            name=job.spec.name,
            tenant_id=job.tenant_id,
            user_id=job.user_id,
            status=job.status.value,
            reason=job.reason,
            exit_code=job.exit_code,
            submitted_at=job.submitted_at,
            started_at=job.started_at,
            ended_at=job.ended_at,
            attempt=job.attempt,
            cluster_id=job.cluster_id,
            node_id=job.node_id,
            command=list(job.spec.command),
            resources=ResourcesPublic.of(job.spec.resources),
            time_limit_s=job.spec.time_limit_s,
            priority_class=job.spec.priority_class.value,
            sector=job.spec.sector.value,
            workload_class=job.spec.metered_class.value,
            cancel_requested=job.cancel_requested,
            usage=UsagePublic.of(usage),
            gang_size=spec.gang_size,
            min_gang_size=spec.min_gang_size,
            max_gang_size=spec.max_gang_size,
            **PlacementOut.fields_of(spec.placement),
            service=spec.service,
            job_type=spec.job_type,
            throughput_hints=dict(spec.throughput_hints),
            placements=PlacementPublic.all_of(job.placed()),
            preempt_requested=job.preempt_requested,
            array_id=spec.array.array_id if spec.array else None,
            array_index=spec.array.index if spec.array else None,
            array_limit=spec.array.limit if spec.array else None,
            dependency=format_dependencies(spec.dependencies),
            attempts=[AttemptPublic.of(a) for a in attempts] if attempts is not None else None,
            events=[EventPublic.of(e) for e in events] if events is not None else None,
        )


class JobArrayPublic(BaseModel):
    array_id: str
    jobs: list[JobPublic]


class JobPage(BaseModel):
    items: list[JobPublic]
    next_cursor: int | None = Field(None, description="pass as ?cursor= for the next page")


class ServicePublic(BaseModel):
    service: str
    jobs: list[JobPublic] = Field(description="the replicas, in order SERVICE-0, SERVICE-1, ...")


class RegionCreate(Strict):
    id: Slug
    name: Name = ""
    latitude: float | None = None
    longitude: float | None = None


class RegionPublic(RegionCreate):
    model_config = ConfigDict(extra="ignore")
    energy_price: float | None = Field(None, description="electricity price, CNY per kWh")
    carbon_intensity: float | None = Field(None, description="grid carbon, gCO2 per kWh")

    @classmethod
    def of(cls, r: Region) -> RegionPublic:
        return cls(
            id=r.id,
            name=r.name,
            latitude=r.latitude,
            longitude=r.longitude,
            energy_price=r.energy_price,
            carbon_intensity=r.carbon_intensity,
        )


class RegionLinkPublic(BaseModel):
    a: str
    b: str
    rtt_ms: float = Field(description="round-trip time in milliseconds")
    source: str = Field(description="measured | estimated")


class RegionUpdate(Strict):
    """Fields left out stay as they are; null clears a setting."""

    energy_price: float | None = Field(None, description="CNY per kWh, >= 0")
    carbon_intensity: float | None = Field(None, description="gCO2 per kWh, >= 0")


class ProviderCreate(Strict):
    id: Slug
    name: Name = ""


class ProviderPublic(ProviderCreate):
    model_config = ConfigDict(extra="ignore")
    reliability: float | None = Field(
        None,
        description="its clusters' reliability, weighted by their GPUs (cores without); "
        "null when it has no cluster",
    )


class ClusterCreate(Strict):
    # Its agent is the user "agent:<id>", and user ids are stored in 64 characters.
    id: Annotated[Text, Field(min_length=1, max_length=58)]
    provider_id: Slug
    region_id: Slug
    engine: Text = "local"


class NodePublic(BaseModel):
    id: str
    hostname: str
    capacity: ResourcesPublic
    used: ResourcesPublic
    free: ResourcesPublic
    calibration: dict[str, Any] | None = None
    ratings_pflops: dict[str, dict[str, float | None]] = Field(
        default_factory=dict, description="per class: rating of one core / device"
    )


class ClusterPublic(BaseModel):
    id: str
    provider_id: str
    region_id: str
    engine: str
    state: str
    registered_at: datetime
    last_heartbeat_at: datetime | None
    agent_version: str
    capabilities: list[str] | None = Field(
        None, description="what its engine can do, as its agent reported; null: not reported"
    )
    running_jobs: int
    capacity: ResourcesPublic
    used: ResourcesPublic
    free: ResourcesPublic
    nodes: list[NodePublic]
    gpu_hour_price: float | None = Field(
        None, description="posted price, CNY per GPU-hour (per core-hour without GPUs)"
    )
    uptime: float = Field(
        1.0, description="share of the last 7 days the cluster was reachable (heartbeats)"
    )
    reliability: float = Field(
        1.0,
        description="uptime x the smoothed share of its recent attempts it did not fail "
        "(0..1; a new cluster starts at 0.9); the scheduler prefers reliable clusters",
    )
    attempts_seen: int = Field(
        0,
        description="attempts that ended on it in the last 7 days; 0: no history yet, and "
        "`reliability` is the prior a new cluster starts with",
    )

    @classmethod
    def of(cls, u: ClusterOccupancy) -> ClusterPublic:
        c = u.cluster
        return cls(
            id=c.id,
            provider_id=c.provider_id,
            region_id=c.region_id,
            engine=c.engine,
            state=c.state.value,
            registered_at=c.registered_at,
            last_heartbeat_at=c.last_heartbeat_at,
            agent_version=c.agent_version,
            capabilities=None
            if c.capabilities is None
            else sorted(x.value for x in c.capabilities),
            gpu_hour_price=None if c.gpu_hour_price is None else float(c.gpu_hour_price),
            uptime=round(u.uptime, 4),
            reliability=round(u.reliability, 4),
            attempts_seen=u.attempts_seen,
            running_jobs=u.running_jobs,
            capacity=ResourcesPublic.of(u.capacity),
            used=ResourcesPublic.of(u.used),
            free=ResourcesPublic.of(u.capacity - u.used),
            nodes=[
                NodePublic(
                    id=n.node.id,
                    hostname=n.node.hostname,
                    capacity=ResourcesPublic.of(n.node.capacity),
                    used=ResourcesPublic.of(n.used),
                    free=ResourcesPublic.of(n.free),
                    calibration=n.node.calibration.to_json() if n.node.calibration else None,
                    ratings_pflops={
                        w.value: node_ratings(
                            default_catalog(), n.node.calibration, n.node.capacity.gpus, w
                        )
                        for w in WorkloadClass
                    },
                )
                for n in u.nodes
            ],
        )


class ClusterPrice(Strict):
    gpu_hour_price: float | str | None = Field(
        description="CNY per GPU-hour (per core-hour without GPUs), >= 0, at most four "
        'decimals, as a number or a decimal string ("12.50"); kept exactly; null withdraws it'
    )


class ClusterRegistered(BaseModel):
    cluster: ClusterPublic
    agent_token: str = Field(description="shown once; give it to the cluster's agent")


class TenantShareIn(Strict):
    weight: float = Field(description="fair-share weight, > 0 (relative to other tenants)")
    cohort: str | None = Field(
        None, max_length=64, description="the cohort it lends to and borrows from; null: none"
    )


class QuotaIn(Strict):
    """Amounts in cores for the `cpu` flavor, in whole devices for `gpu:<model>`."""

    nominal: float
    borrowing_limit: float | None = Field(None, description="null: may borrow without limit")
    lending_limit: float | None = Field(None, description="null: lends all unused nominal")


class QuotaPublic(BaseModel):
    tenant_id: str
    flavor: str
    unit: str = Field(description="'cores' (cpu) or 'devices' (gpu:<model>)")
    nominal: float
    borrowing_limit: float | None
    lending_limit: float | None

    @classmethod
    def of(cls, q: Quota) -> QuotaPublic:
        return cls(
            tenant_id=q.tenant_id,
            flavor=q.flavor,
            unit=quota_units(q.flavor),
            nominal=from_stored(q.flavor, q.nominal) or 0.0,
            borrowing_limit=from_stored(q.flavor, q.borrowing_limit),
            lending_limit=from_stored(q.flavor, q.lending_limit),
        )


class TenantPublic(BaseModel):
    id: str
    name: str
    weight: float
    cohort: str | None
    quotas: list[QuotaPublic]
    sector: str = "other"
    contact: str = ""
    created_at: datetime | None = None

    @classmethod
    def of(cls, t: TenantSettings) -> TenantPublic:
        return cls(
            id=t.tenant.id,
            name=t.tenant.name,
            weight=t.share.weight,
            cohort=t.share.cohort,
            quotas=[QuotaPublic.of(q) for q in t.quotas],
            sector=t.tenant.sector,
            contact=t.tenant.contact,
            created_at=t.tenant.created_at,
        )


class UsageTotalPublic(BaseModel):
    key: str
    workload_class: str
    dimension: str
    amount: float
    seconds: float
    """Metered time summed over records, from their milliseconds."""
    jobs: int
    standard_units: float
    unrated_amount: float


# --- agent protocol ---------------------------------------------------------------


class AttemptRef(Strict):
    job_id: str = Field(max_length=64)
    attempt: int = Field(ge=0, le=2**31 - 1)


class CalibrationIn(Strict):
    """A node's measurement (`suanli bench`): whole-node CPU GFLOPS over `cores`, triad
    GB/s, and per GPU model the best TFLOPS per precision (fp16_bf16, fp32, fp64)."""

    measured_at: AwareDatetime
    cores: int = Field(gt=0)
    cpu_fp32_gflops: float = Field(gt=0)
    cpu_fp64_gflops: float = Field(gt=0)
    triad_gbs: float = Field(ge=0)
    gpus: dict[str, dict[str, float]] = Field(default_factory=dict)

    def to_domain(self) -> NodeCalibration:
        gpus: dict[str, dict[str, float]] = {}
        for raw, rates in self.gpus.items():
            gpus[canonical_gpu_model(raw, field="calibration.gpus")] = rates
        return NodeCalibration(
            self.measured_at,
            self.cores,
            self.cpu_fp32_gflops,
            self.cpu_fp64_gflops,
            self.triad_gbs,
            gpus,
        )


class NodeIn(Strict):
    hostname: Text = Field(min_length=1, max_length=255)
    cpus: float = Field(gt=0, le=100_000)
    memory_mb: int = Field(gt=0, le=2**40)
    gpus: dict[str, Annotated[int, Field(ge=0, le=100_000)]] = Field(default_factory=dict)
    gpu_memory_mb: int = Field(0, ge=0, le=2**31)
    calibration: CalibrationIn | None = None


class NodeCalibrationIn(Strict):
    hostname: Text
    calibration: CalibrationIn


class AgentCalibration(Strict):
    nodes: list[NodeCalibrationIn]


class AgentRegister(Strict):
    nodes: list[NodeIn] = Field(max_length=10_000)
    agent_version: Text = Field("", max_length=64)
    known: list[AttemptRef] = Field(default_factory=list)
    capabilities: list[Capability] | None = Field(
        None,
        max_length=16,
        description="what the engine can do (gang, gpus_by_model, preempt_signal, "
        "log_streaming, adopt); left out by older agents",
    )


class AgentHeartbeat(Strict):
    known: list[AttemptRef] = Field(default_factory=list)


class Instructions(BaseModel):
    cancel: list[AttemptRef]
    abandon: list[AttemptRef]
    calibrate: bool = False
    preempt: list[AttemptRef] = Field(
        default_factory=list,
        description="attempts to stop with the preemption grace (their jobs are requeued)",
    )


class AssignmentPublic(BaseModel):
    job_id: str
    attempt: int
    argv: list[str]
    env: dict[str, str]
    working_dir: str | None
    time_limit_s: int | None
    allocation: ResourcesPublic
    node_id: str
    placements: list[PlacementPublic] = Field(default_factory=list)
    nodes: list[str] = Field(
        default_factory=list,
        description="one node id per gang member; the command runs once, on the first",
    )
    gang_size: int = 1
    tenant_id: str = Field(
        "", description="the job's tenant (the local engine runs it as that tenant's user)"
    )


class Claim(BaseModel):
    assignments: list[AssignmentPublic]
    cancel: list[AttemptRef]
    preempt: list[AttemptRef] = Field(
        default_factory=list,
        description="attempts to stop with the preemption grace (their jobs are requeued)",
    )


class StateIn(Strict):
    status: Text
    engine_job_id: Text | None = Field(None, max_length=255)
    started_at: AwareDatetime | None = None
    ended_at: AwareDatetime | None = None
    exit_code: int | None = None
    reason: Text = ""
    cpu_s: float | None = Field(
        None, ge=0, le=1e12, description="CPU seconds the task used (final states), if measured"
    )


class ReportAck(BaseModel):
    forget: bool


class PoolSeriesPublic(BaseModel):
    region: str
    resource: str = Field(description="gpu:<model> (devices) or cpu (cores)")
    points: list[tuple[str, float, float]] = Field(
        description="[bucket start (ISO 8601), mean total, mean used], oldest first"
    )


class PoolHistoryPublic(BaseModel):
    since: datetime
    until: datetime
    step_s: int = Field(description="bucket width in seconds")
    pool: list[PoolSeriesPublic]
    queue: list[tuple[str, float, float]] = Field(
        description="[bucket start (ISO 8601), mean pending jobs, mean running jobs]"
    )
