"""Assemble and run trace-driven simulations (`suanli sim`): one trace, one pool, one or
more policies, one `Report` per policy.

- The trace: any job format `load_trace` knows (guessed, or `trace_format`), its first
  `jobs` rows. Gavel traces give steps, not run times: with a throughputs table a
  job's run time on the reference GPU is its steps over that GPU's measured steps/s.
  Sia workloads take their work and rates from the Sia artifact's profiles folder
  (`lab/sia.py`).
- The pool: a cluster spec YAML (regions, providers, clusters, node groups; docs/
  traces.md), or the default pool sized to the trace (`lab/pool.py`).
- Speeds: each model's metering rating relative to the reference GPU the trace ran on
  (`reference`: given, else the model most of the trace's rows name, else P100 for
  Philly and V100 for the rest); where a throughputs table (Gavel JSON or a Sia profile
  folder) measured a job type, its measured rates by model and GPU count instead.
- Units: each GPU-hour is metered at the model's AI rating (PFLOPS = SCH per hour).
- `seed` goes to the policies through `SchedulerSettings.seed` where the settings have
  one; the built-in policies are deterministic, and the scenario notes say so.

The policy lab is a shell, like the CLI and the API: it composes the trace adapters
(pure readers of local files) with the simulator, as bench/sim.py does; no service
depends on it.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from suanli.adapters.traces import (
    Throughputs,
    TraceError,
    TraceJob,
    guess_format,
    load_gavel_throughputs,
    load_sia_throughputs,
    load_trace,
)
from suanli.adapters.traces.cluster_spec import ClusterSpec, load_cluster_spec
from suanli.adapters.traces.registry import JOB_FORMATS
from suanli.adapters.traces.simulation_input import sim_jobs
from suanli.domain.devices import canonical_gpu_model
from suanli.domain.errors import InvalidInput
from suanli.domain.ids import JobId
from suanli.lab.native_output import native_stdout_to_stderr
from suanli.lab.pool import (
    DEFAULT_MIX,
    GPUS_PER_NODE,
    MAX_DEFAULT_GPUS,
    cluster_info,
    default_pool,
    default_pool_gpus,
    pool_from_spec,
    pool_models,
)
from suanli.lab.sia import (
    ADAPTIVE_POLICIES,
    SIA_ARTIFACT_SOURCE,
    SIA_POOL_SOURCE,
    artifact_layout,
    goodput_sia_jobs,
    profiled_types,
    sia_jobs,
    sia_pool,
)
from suanli.logic.metering.ratings import reference_rating_pflops
from suanli.logic.scheduling.policies import get_policy, policy_names
from suanli.logic.scheduling.snapshot import ClusterView
from suanli.logic.scheduling.state import SchedulerSettings
from suanli.logic.simulation.engine import SimSettings, Simulator
from suanli.logic.simulation.jobs import SimJob
from suanli.logic.simulation.metrics import Report, report
from suanli.logic.simulation.scenario import PolicyInfo, Scenario

START = datetime(2017, 10, 1, tzinfo=UTC)
"""Simulated time 0 (only ages and timestamps inside the policies see it)."""
DEFAULT_POLICY = "suanli"
"""What `default` stands for."""
DEFAULT_POLICIES = ("fifo", "default")

Progress = Callable[[str, int, int], None]
"""progress(policy label, jobs finished, jobs in all), after every scheduling cycle."""


@dataclass(frozen=True, slots=True)
class SimRequest:
    trace: Path
    policies: tuple[str, ...] = DEFAULT_POLICIES
    trace_format: str | None = None
    cluster: Path | None = None
    jobs: int | None = None
    """The first this many rows of the trace (None: all)."""
    seed: int | None = None
    throughputs: Path | None = None
    reference: str | None = None
    settings: SimSettings = field(default_factory=SimSettings)
    job_model: str = "goodput"
    """Sia workloads: "goodput" (the artifact's job model and cluster) or "fixed" (the
    fixed-batch model of issue 5)."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """Everything loaded and checked; running it cannot fail on bad input."""

    scenario: Scenario
    clusters: tuple[ClusterView, ...]
    jobs: tuple[SimJob, ...]
    deadlines: Mapping[JobId, float]
    scheduler: SchedulerSettings
    adaptive_jobs: tuple[SimJob, ...] | None = None
    """Goodput model: the jobs the adaptive policies run (`lab/sia.py`)."""

    def jobs_for(self, policy: str) -> tuple[SimJob, ...]:
        if self.adaptive_jobs is not None and policy in ADAPTIVE_POLICIES:
            return self.adaptive_jobs
        return self.jobs


@dataclass(frozen=True, slots=True)
class PolicyRun:
    policy: PolicyInfo
    report: Report
    events: int
    cycles: int
    wall_s: float

    def to_json(self) -> dict[str, object]:
        return {
            "policy": self.policy.name,
            **self.report.to_json(),
            "events": self.events,
            "cycles": self.cycles,
            "wall_s": round(self.wall_s, 2),
        }


@dataclass(frozen=True, slots=True)
class SimOutcome:
    scenario: Scenario
    runs: tuple[PolicyRun, ...]

    def to_json(self) -> dict[str, object]:
        """`scenario`, and each run's metrics under the policy name as asked."""
        return {
            "scenario": self.scenario.to_json(),
            "policies": {run.policy.asked_as: run.to_json() for run in self.runs},
        }


# --- policies --------------------------------------------------------------------------------


def resolve_policies(names: Sequence[str]) -> tuple[PolicyInfo, ...]:
    """Check every name (`default` = the default policy); a policy asked twice (also as
    `default` and by name) runs once. InvalidInput lists the valid names."""
    if not names:
        raise InvalidInput("No policy to simulate.", field="policy", hint=_policy_hint())
    out: list[PolicyInfo] = []
    seen: set[str] = set()
    for asked in names:
        name = DEFAULT_POLICY if asked == "default" else asked
        if name not in policy_names():
            raise InvalidInput(
                f"Unknown scheduling policy {asked!r}.", field="policy", hint=_policy_hint()
            )
        if name in seen:
            continue
        seen.add(name)
        out.append(PolicyInfo(name, asked, get_policy(name).round_s))
    return tuple(out)


def _policy_hint() -> str:
    return f"pass --policy NAME, one of: default, {', '.join(policy_names())}."


def _scheduler_settings(seed: int | None) -> tuple[SchedulerSettings, tuple[str, ...]]:
    settings = SchedulerSettings()
    if seed is None:
        return settings, ()
    if "seed" in {f.name for f in fields(SchedulerSettings)}:
        return replace(settings, seed=seed), ()  # type: ignore[call-arg,unused-ignore]
    note = f"Seed {seed} recorded; the policies here take none (their runs are deterministic)."
    return settings, (note,)


# --- the trace -------------------------------------------------------------------------------


def _load_rows(request: SimRequest) -> tuple[str, list[TraceJob]]:
    path = request.trace
    if not path.is_file():
        raise InvalidInput(
            f"Trace file {str(path)!r} not found.",
            field="trace",
            hint="give the path of a trace file (docs/traces.md lists the formats), e.g. "
            "../shared/traces/philly/philly_full.csv.",
        )
    if request.jobs is not None and request.jobs < 1:
        raise InvalidInput(
            f"--jobs must be at least 1, got {request.jobs}.",
            field="jobs",
            hint="pass --jobs N for the first N jobs, or leave it out for all.",
        )
    if request.trace_format is not None and request.trace_format not in JOB_FORMATS:
        raise InvalidInput(
            f"{request.trace_format!r} is not a job-trace format.",
            field="format",
            hint=f"pass --format with one of {', '.join(sorted(JOB_FORMATS))} "
            "(docs/traces.md), or leave it out to guess it.",
        )
    fmt = request.trace_format or guess_format(path)
    try:
        return fmt, load_trace(path, fmt, limit=request.jobs)
    except TraceError as exc:
        if exc.hint is None:
            exc.hint = (
                f"fix that row, or if it is not a {fmt} trace pass --format with its "
                "format (docs/traces.md)."
            )
        raise


def _load_spec(path: Path) -> ClusterSpec:
    if not path.is_file():
        raise InvalidInput(
            f"Cluster spec {str(path)!r} not found.",
            field="cluster",
            hint="give a cluster spec YAML (format in docs/traces.md), or leave --cluster "
            "out for the default pool.",
        )
    try:
        return load_cluster_spec(path)
    except TraceError as exc:
        if exc.hint is None:
            exc.hint = "fix the spec; its format is in docs/traces.md (Cluster specs)."
        raise


def _load_throughputs(path: Path | None) -> Throughputs | None:
    if path is None:
        return None
    if path.is_dir():
        return load_sia_throughputs(path)
    if not path.is_file():
        raise InvalidInput(
            f"Throughputs {str(path)!r} not found.",
            field="throughputs",
            hint="give Gavel's simulation_throughputs.json or a Sia throughput_profiles folder.",
        )
    try:
        return load_gavel_throughputs(path)
    except TraceError as exc:
        if exc.hint is None:
            exc.hint = (
                "give Gavel's simulation_throughputs.json, or a Sia throughput_profiles "
                "folder (docs/traces.md)."
            )
        raise


def _reference(request: SimRequest, fmt: str, rows: Sequence[TraceJob]) -> str:
    if request.reference:
        return canonical_gpu_model(request.reference, field="reference")
    named = Counter(r.gpu_model for r in rows if r.gpu_model)
    if named:
        return named.most_common(1)[0][0]
    return "P100" if fmt.startswith("philly") else "V100"


def _with_steps(rows: list[TraceJob], table: Throughputs | None, reference: str) -> list[TraceJob]:
    """Rows that give steps (Gavel) get their run time on `reference` from `table`."""
    out = []
    for row in rows:
        steps = row.extra.get("total_steps")
        if row.duration_s is None and steps is not None and table is not None:
            rate = table.get(row.job_type, reference, row.gpus)
            if rate:
                row = replace(row, duration_s=float(steps) / rate)
        out.append(row)
    return out


def _measured(sj: SimJob, table: Throughputs, reference: str, models: Sequence[str]) -> SimJob:
    """Rates from the table, relative to the reference at the job's requested size."""
    ref = table.get(sj.job.spec.job_type, reference, sj.requested_gpus)
    if not ref:
        return sj
    scaling = {
        model: {g: rate / ref for g, rate in by_count.items()}
        for model in models
        if (by_count := table.table.get((sj.job.spec.job_type, model)))
    }
    return replace(sj, scaling=scaling) if scaling else sj


def _no_jobs(path: Path, fmt: str, rows: int, table: Throughputs | None) -> InvalidInput:
    if fmt == "gavel":
        hint = (
            "Gavel traces give steps: pass --throughputs simulation_throughputs.json "
            "(its job types must match the trace's)."
            if table is None
            else "the throughputs file measures none of the trace's job types on the "
            "reference GPU: pass --reference with a model it measures."
        )
    else:
        hint = "check that the rows have a duration and ask for at least one GPU."
    return InvalidInput(
        f"No job of {path.name} can be simulated: none of its {rows} rows has a run time and GPUs.",
        field="trace",
        hint=hint,
    )


# --- assembling and running ------------------------------------------------------------------


@cache
def units_per_gpu_hour(model: str) -> float:
    """SCH per GPU-hour of `model`: its AI rating at the catalog's reference efficiency
    (PFLOPS); 0 for a model the catalog cannot rate (metered as unrated)."""
    return reference_rating_pflops(model) or 0.0


@dataclass(frozen=True, slots=True)
class _Input:
    jobs: list[SimJob]
    clusters: tuple[ClusterView, ...]
    pool: str
    reference: str
    skipped: int
    adaptive_jobs: list[SimJob] | None = None


def _trace_input(
    request: SimRequest, spec: ClusterSpec | None, fmt: str, rows: list[TraceJob]
) -> _Input:
    """Jobs with run times (and Gavel's steps through throughputs) on the spec's pool or
    the default pool sized to them."""
    table = _load_throughputs(request.throughputs)
    reference = _reference(request, fmt, rows)
    rows = _with_steps(rows, table, reference)
    # The default pool's models are known before it is sized (sizing needs the jobs).
    clusters = pool_from_spec(spec) if spec is not None else ()
    models = pool_models(clusters) if spec is not None else list(DEFAULT_MIX)
    converted = sim_jobs(rows, start=START, models=models, reference=reference, table=table)
    if not converted.jobs:
        raise _no_jobs(request.trace, fmt, len(rows), table)
    jobs = converted.jobs
    if table is not None:
        jobs = [_measured(sj, table, reference, models) for sj in jobs]
    if spec is not None:
        return _Input(
            jobs, clusters, f"cluster spec {request.cluster}", reference, converted.skipped
        )
    gpus = default_pool_gpus(jobs, reference)
    nodes = sum(DEFAULT_MIX.values())
    mix = ", ".join(f"{100 * n // nodes}% {m}" for m, n in DEFAULT_MIX.items())
    pool = (
        f"default pool of {gpus} GPUs ({GPUS_PER_NODE}-GPU nodes: {mix}), sized to run "
        f"twice the trace's average load at the ratings' speeds relative to "
        f"{reference} (at most {MAX_DEFAULT_GPUS} GPUs)"
    )
    return _Input(jobs, default_pool(gpus), pool, reference, converted.skipped)


def _sia_input(request: SimRequest, spec: ClusterSpec | None, rows: list[TraceJob]) -> _Input:
    """Sia jobs from the artifact's model (`lab/sia.py`)."""
    if request.throughputs is None:
        raise InvalidInput(
            "Sia workloads give no run times: their work and rates come from the Sia "
            "artifact's throughput profiles.",
            field="throughputs",
            hint="pass --throughputs sia-workloads/throughput_profiles.",
        )
    types = profiled_types(request.throughputs)
    if request.job_model == "goodput":
        layout = artifact_layout(types)
        clusters = pool_from_spec(spec) if spec is not None else sia_pool(layout, layout)
        rigid, adaptive = goodput_sia_jobs(rows, request.throughputs, types, clusters, start=START)
        pool = f"cluster spec {request.cluster}" if spec is not None else SIA_ARTIFACT_SOURCE
        reference = "none: the Sia artifact's goodput model (docs/fidelity.md#sia)"
        return _Input(rigid, clusters, pool, reference, 0, adaptive)
    clusters = pool_from_spec(spec) if spec is not None else sia_pool(types)
    jobs = sia_jobs(rows, request.throughputs, types, clusters, start=START)
    pool = f"cluster spec {request.cluster}" if spec is not None else SIA_POOL_SOURCE
    return _Input(jobs, clusters, pool, "none: profiled step times (Sia artifact)", 0)


def prepare(request: SimRequest) -> Prepared:
    """Load and check every input; InvalidInput (TraceError included) says what is wrong
    and what to do. Nothing is simulated yet."""
    if request.job_model not in ("goodput", "fixed"):
        raise InvalidInput(
            f"Unknown job model {request.job_model!r}.",
            field="job_model",
            hint="use --job-model goodput (the Sia artifact's) or --job-model fixed.",
        )
    policies = resolve_policies(request.policies)
    scheduler, notes = _scheduler_settings(request.seed)
    spec = _load_spec(request.cluster) if request.cluster is not None else None
    if spec is not None and not pool_models(pool_from_spec(spec)):
        raise InvalidInput(
            f"The cluster spec {request.cluster} has no GPUs.",
            field="cluster",
            hint="give node groups with gpu_model and gpus_per_node > 0.",
        )
    fmt, rows = _load_rows(request)
    got = (
        _sia_input(request, spec, rows) if fmt == "sia" else _trace_input(request, spec, fmt, rows)
    )
    ids = {sj.job.id for sj in got.jobs}
    deadlines = {
        jid: float(row.extra["slo"])
        for row in rows
        if "slo" in row.extra and (jid := JobId(f"t-{row.id}")) in ids
    }
    scenario = Scenario(
        trace=str(request.trace),
        trace_format=fmt,
        jobs=len(got.jobs),
        skipped=got.skipped,
        reference=got.reference,
        pool=got.pool,
        clusters=cluster_info(got.clusters),
        policies=policies,
        settings=(
            replace(request.settings, restore_at_first_start=True)
            if got.adaptive_jobs is not None
            else request.settings
        ),
        seed=request.seed,
        throughputs=None if request.throughputs is None else str(request.throughputs),
        notes=notes,
    )
    adaptive = tuple(got.adaptive_jobs) if got.adaptive_jobs is not None else None
    return Prepared(scenario, got.clusters, tuple(got.jobs), deadlines, scheduler, adaptive)


def run_policy(
    prepared: Prepared, policy: PolicyInfo, progress: Progress | None = None
) -> PolicyRun:
    """Simulate `prepared` under one policy and measure it."""
    jobs = prepared.jobs_for(policy.name)
    total = len(jobs)
    if progress is not None:
        progress(policy.asked_as, 0, total)
    last = [-1]

    def tick(finished: int, _total: int) -> None:
        if progress is not None and finished != last[0]:
            last[0] = finished
            progress(policy.asked_as, finished, total)

    simulator = Simulator(
        prepared.clusters,
        jobs,
        get_policy(policy.name, prepared.scheduler),
        start=START,
        settings=prepared.scenario.settings,
        units_per_gpu_hour=units_per_gpu_hour,
    )
    t0 = time.perf_counter()
    result = simulator.run(tick)
    wall = time.perf_counter() - t0
    measured = report(result, jobs, deadlines=prepared.deadlines)
    return PolicyRun(policy, measured, result.events, result.cycles, wall)


def run_policies(
    request: SimRequest,
    prepared: Prepared,
    processes: int = 1,
    progress: Progress | None = None,
) -> tuple[PolicyRun, ...]:
    """Every policy of `prepared` (made from `request`), the runs in the order asked: in
    this process one after another (`progress` per job), or with `processes` > 1 in that
    many worker processes at once (`progress` when each starts and ends). A worker
    prepares the request again: loading is cheap next to simulating, and a request
    crosses processes where prepared jobs (curves, interpolators) need not."""
    policies = prepared.scenario.policies
    if processes <= 1 or len(policies) <= 1:
        return tuple(run_policy(prepared, p, progress) for p in policies)
    with ProcessPoolExecutor(max_workers=min(processes, len(policies))) as pool:
        futures = [pool.submit(_run_prepared_again, request, p) for p in policies]
        runs = []
        for policy, future in zip(policies, futures, strict=True):
            total = len(prepared.jobs_for(policy.name))
            if progress is not None:
                progress(policy.asked_as, 0, total)
            runs.append(future.result())
            if progress is not None:
                progress(policy.asked_as, total, total)
    return tuple(runs)


def _run_prepared_again(request: SimRequest, policy: PolicyInfo) -> PolicyRun:
    with native_stdout_to_stderr():  # the solver's native output stays off stdout
        return run_policy(prepare(request), policy)


def simulate(
    request: SimRequest, progress: Progress | None = None, processes: int = 1
) -> SimOutcome:
    """Prepare once, then run every policy in the order asked (`run_policies`)."""
    prepared = prepare(request)
    return SimOutcome(prepared.scenario, run_policies(request, prepared, processes, progress))
