"""Discrete-event simulation of a pool under a scheduling policy.

Jobs arrive, the very `run_cycle` of the live scheduler places them on a simulated pool
(the snapshot is built from the simulated state instead of the store), and each runs
until its work is done at the rate of the devices it got. Preempted jobs stop after the
grace period, pay a fixed restart cost (restoring their checkpoint) and are requeued with
their age. Time is simulated seconds from the start; nothing reads the wall clock, and
a run is deterministic for a given input.

Two modes:
- event-driven (default): a cycle after every change, at most one per `min_gap_s`, as
  the live loop runs; running jobs keep their resources until they end or are preempted.
- rounds (`round_s` set; Gavel-style time sharing): a cycle at every round boundary over
  every unfinished job, running ones included, with all capacity free. A job admitted to
  the placements it holds keeps running at no cost; a running job not admitted again is
  suspended at once (its lease ended) and one moved elsewhere restarts there; either
  pays `restart_cost_s` of work when it runs again.

Rates: a job's `work` is in its own unit (seconds on the trace's hardware, or steps, or
samples); `SimJob.rate(model, gpus)` says how much of it one second on `gpus` GPUs of
`model` does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from suanli.domain.errors import InvalidInput
from suanli.domain.ids import ClusterId, JobId, NodeId
from suanli.domain.jobs import Job, JobStatus
from suanli.domain.resources import Resources
from suanli.logic.metering.ratings import standard_units
from suanli.logic.scheduling.apply import carry_out, needs_cycle
from suanli.logic.scheduling.cycle import run_cycle
from suanli.logic.scheduling.decisions import Admit, Preempt
from suanli.logic.scheduling.policy import Policy, Rebalancing
from suanli.logic.scheduling.snapshot import (
    ClusterView,
    JobProgress,
    NodeView,
    PoolInputs,
    Snapshot,
    build_snapshot,
)
from suanli.logic.simulation.events import EventQueue, Kind
from suanli.logic.simulation.jobs import (
    EstimateCurve,
    SimJob,
    StepCurve,
    WorkCurve,
    advance,
    seconds_to,
)


@dataclass(frozen=True, slots=True)
class SimSettings:
    min_gap_s: float = 60.0
    """At most one scheduling cycle per this much simulated time (the live loop's
    coalescing of wake-ups); a cycle runs after every change otherwise."""
    restart_cost_s: float = 30.0
    """Seconds a preempted, suspended or moved job spends restoring its checkpoint before
    it makes progress again."""
    grace_s: float = 30.0
    round_s: float | None = None
    """Rounds mode (see the module doc): a cycle every this many seconds; None: the
    policy's own `round_s` (None for event-driven policies)."""
    rebalance_period_s: float = 300.0
    """Event-driven mode, a `Rebalancing` policy with elastic jobs running: a cycle at least
    this often, so that resizes held back (a cooldown) are looked at again, as the live
    loop's periodic cycle does."""
    restore_at_first_start: bool = False
    """Charge a job its restart cost when it first starts too (the Sia artifact's jobs
    load their model and data then as after every restart)."""
    max_idle_rounds: int = 32
    """Rounds mode: with jobs queued but nothing running, keep deciding this many rounds
    (a policy may hold jobs back for a while, e.g. until its next reallocation), then
    wait for an arrival."""


@dataclass(frozen=True, slots=True)
class JobOutcome:
    job_id: JobId
    tenant: str
    arrival_s: float
    first_start_s: float
    finish_s: float
    preemptions: int
    gpu_seconds: float
    units: float = 0.0
    """Standard compute units consumed (GPU-hours x the model's metering rating)."""

    @property
    def jct_s(self) -> float:
        return self.finish_s - self.arrival_s

    @property
    def queueing_s(self) -> float:
        return self.first_start_s - self.arrival_s


@dataclass(frozen=True, slots=True)
class Sample:
    """The pool after one cycle: GPUs busy, jobs waiting, jobs running."""

    at_s: float
    busy_gpus: int
    queued: int
    running: int


@dataclass(frozen=True, slots=True)
class SimResult:
    outcomes: tuple[JobOutcome, ...]
    unfinished: tuple[JobId, ...]
    makespan_s: float
    events: int
    cycles: int
    busy_gpu_seconds: float
    total_gpus: int
    timeline: tuple[Sample, ...] = ()


@dataclass(slots=True)
class _Run:
    job: Job
    started_s: float
    rate: float
    model: str
    gpus: int
    remaining_at_start: float
    version: int
    resume_s: float = 0.0
    """Seconds at the start of this run spent restoring a checkpoint (no progress)."""
    curve: WorkCurve | None = None
    work: float = 0.0
    """The job's whole work (with `curve`: where the run starts on it)."""

    def done(self, t: float) -> float:
        """Work done in this run by time `t`."""
        seconds = max(0.0, t - self.started_s - self.resume_s)
        if self.curve is None:
            return seconds * self.rate
        start = self.work - self.remaining_at_start
        return advance(self.curve, self.model, self.gpus, start, seconds, self.work) - start

    def seconds_left(self) -> float:
        """Seconds from the start of this run (restore included) to the job's end."""
        if self.curve is None:
            return self.resume_s + self.remaining_at_start / self.rate
        start = self.work - self.remaining_at_start
        return self.resume_s + seconds_to(self.curve, self.model, self.gpus, start, self.work)


@dataclass(slots=True)
class _Loop:
    """The event loop's own state during one `Simulator.run`."""

    events: EventQueue
    last_cycle: float
    cycle_at: float | None = None
    """When the next cycle is due (None: none asked for)."""
    now: float = 0.0
    changed_at: float = 0.0
    busy: float = 0.0
    """GPU-seconds held so far."""
    handled: int = 0
    cycles: int = 0
    idle_rounds: int = 0
    outcomes: list[JobOutcome] = field(default_factory=list)
    timeline: list[Sample] = field(default_factory=list)


class _LazyRow(Mapping[int, float]):
    """One GPU model's row of a `_LazyTable`."""

    def __init__(self, model: str, points: Mapping[int, float], at: Callable[[str, int], float]):
        self._model = model
        self._points = points
        self._at = at
        self._cache: dict[int, float] = {}

    def __getitem__(self, gpus: int) -> float:
        got = self._cache.get(gpus)
        if got is None:
            if gpus not in self._points:
                raise KeyError(gpus)
            got = self._cache[gpus] = self._at(self._model, gpus)
        return got

    def __iter__(self) -> Iterator[int]:
        return iter(self._points)

    def __len__(self) -> int:
        return len(self._points)


class _LazyTable(Mapping[str, Mapping[int, float]]):
    """A job's rates by GPU model and count at its progress now, each computed when a
    policy reads it: a goodput job has 64 sizes on each model and a round reads a few."""

    def __init__(
        self, points: Mapping[str, Mapping[int, float]], at: Callable[[str, int], float]
    ) -> None:
        self._rows = {m: _LazyRow(m, pts, at) for m, pts in points.items()}

    def __getitem__(self, model: str) -> Mapping[int, float]:
        return self._rows[model]

    def __iter__(self) -> Iterator[str]:
        return iter(self._rows)

    def __len__(self) -> int:
        return len(self._rows)


class _LazyProgress(Mapping[JobId, JobProgress]):
    """Progress of the snapshot's jobs, computed when a policy asks (most do not)."""

    def __init__(self, sim: Simulator, now: float, ids: set[JobId]) -> None:
        self._sim = sim
        self._now = now
        self._ids = ids
        self._cache: dict[JobId, JobProgress] = {}

    def __getitem__(self, job_id: JobId) -> JobProgress:
        if job_id not in self._ids:
            raise KeyError(job_id)
        got = self._cache.get(job_id)
        if got is None:
            got = self._cache[job_id] = self._sim._progress(self._now, job_id)
        return got

    def __iter__(self) -> Iterator[JobId]:
        return iter(self._ids)

    def __len__(self) -> int:
        return len(self._ids)


class Simulator:
    def __init__(
        self,
        clusters: Sequence[ClusterView],
        jobs: Sequence[SimJob],
        policy: Policy,
        *,
        start: datetime,
        settings: SimSettings | None = None,
        units_per_gpu_hour: Callable[[str], float] | None = None,
        inputs: PoolInputs | None = None,
    ) -> None:
        """`inputs`: the tenants' shares, quotas and usage, regions and latency, prices
        and throughput the cycles see, as the live scheduler reads them from its store
        (default: none; the jobs' tenants then weigh alike and no quota applies)."""
        self._clusters = tuple(clusters)
        self._inputs = inputs or PoolInputs()
        self._policy = policy
        self._start = start
        self._settings = settings or SimSettings()
        if self._settings.round_s is None and policy.round_s is not None:
            self._settings = replace(self._settings, round_s=policy.round_s)
        self._jobs = {j.job.id: j for j in jobs}
        if len(self._jobs) != len(jobs):
            counts: dict[JobId, int] = {}
            for j in jobs:
                counts[j.job.id] = counts.get(j.job.id, 0) + 1
            dup = next(i for i, n in counts.items() if n > 1)
            raise InvalidInput(
                f"Job id {dup!r} appears more than once in the simulation's input.",
                field="jobs",
                hint="give every job (trace row) a distinct id or name.",
            )
        self._ran = False
        self._units = units_per_gpu_hour or (lambda model: 0.0)
        self._capacity: dict[tuple[ClusterId, NodeId], Resources] = {
            (c.id, n.node_id): n.capacity for c in self._clusters for n in c.nodes
        }
        self._free = dict(self._capacity)
        self._busy_gpus = 0
        self._total_gpus = sum(n.capacity.gpu_count for c in self._clusters for n in c.nodes)
        # Simulation state (reset by run()).
        self._pending: dict[JobId, Job] = {}
        self._runs: dict[JobId, _Run] = {}
        self._remaining: dict[JobId, float] = {}
        self._resume: dict[JobId, float] = {}
        self._first_start: dict[JobId, float] = {}
        self._preemptions: dict[JobId, int] = {}
        self._gpu_seconds: dict[JobId, float] = {}
        self._units_used: dict[JobId, float] = {}
        self._run_s: dict[JobId, dict[str, float]] = {}
        self._versions = 0

    def _at(self, t: float) -> datetime:
        return self._start + timedelta(seconds=t)

    def _progress(self, now: float, job_id: JobId) -> JobProgress:
        sj = self._jobs[job_id]
        attained = self._gpu_seconds.get(job_id, 0.0)
        by_model = dict(self._run_s.get(job_id, {}))
        remaining = self._remaining[job_id]
        run = self._runs.get(job_id)
        if run is not None:
            attained += run.gpus * (now - run.started_s)
            by_model[run.model] = by_model.get(run.model, 0.0) + now - run.started_s
            remaining = max(run.remaining_at_start - run.done(now), 0.0)
        models = {*sj.speed, *sj.scaling}
        requested = sj.requested_gpus
        scaling: Mapping[str, Mapping[int, float]] = sj.scaling
        rates = {m: sj.rate(m, requested) for m in models}
        steps: Mapping[str, Mapping[int, float]] = {}
        estimates: Mapping[str, Mapping[int, float]] = {}
        curve = sj.curve
        if curve is not None:  # the rates at the job's progress now, evaluated when read
            done = sj.work - remaining
            points = sj.scaling
            scaling = _LazyTable(points, lambda m, g: curve.rate(m, g, done))
            rates = {m: curve.rate(m, requested, done) for m in models}
            if isinstance(curve, EstimateCurve):
                guess = curve
                estimates = _LazyTable(points, lambda m, g: guess.estimate(m, g, done))
            if isinstance(curve, StepCurve):
                stepper = curve
                steps = _LazyTable(points, lambda m, g: stepper.step_rate(m, g, done))
        return JobProgress(
            attained_gpu_s=attained,
            run_s_by_model=by_model,
            remaining_work=remaining,
            rates=rates,
            scaling=scaling,
            first_arrival_s=sj.arrival_s,
            step_rates=steps,
            estimates=estimates,
        )

    def _snapshot(self, now: float) -> Snapshot:
        rounds = self._settings.round_s is not None
        free = self._capacity if rounds else self._free
        clusters = tuple(
            replace(
                c,
                nodes=tuple(
                    NodeView(c.id, n.node_id, n.capacity, free[(c.id, n.node_id)]) for n in c.nodes
                ),
            )
            for c in self._clusters
        )
        waiting = list(self._pending.values())
        if rounds:
            waiting += [r.job for r in self._runs.values()]
            running: tuple[Job, ...] = ()
        else:
            running = tuple(r.job for r in self._runs.values())
        queue = tuple(sorted(waiting, key=lambda j: j.seq))
        progress = _LazyProgress(self, now, {j.id for j in (*queue, *running)})
        return build_snapshot(
            self._at(now),
            clusters,
            queue,
            running,
            self._inputs,
            progress=progress,
            round_s=self._settings.round_s,
        )

    def run(self, progress: Callable[[int, int], None] | None = None) -> SimResult:
        """Simulate until every job has finished or nothing more can happen.
        `progress(finished, total)` is called after every cycle. A simulator runs once
        (its policy keeps state across cycles): build a new one to run again."""
        if self._ran:
            raise RuntimeError("a Simulator runs once; build a new one to run again")
        self._ran = True
        loop = _Loop(EventQueue(), last_cycle=-(self._settings.round_s or self._settings.min_gap_s))
        for sj in self._jobs.values():
            loop.events.push(sj.arrival_s, Kind.ARRIVE, sj.job.id)
        self._pending = {}
        self._runs = {}
        self._remaining = {i: sj.work for i, sj in self._jobs.items()}
        self._resume = {}
        self._free = dict(self._capacity)
        self._busy_gpus = 0
        while len(loop.events):
            event = loop.events.pop()
            loop.busy += self._busy_gpus * (event.at - loop.now)
            loop.now = event.at
            loop.handled += 1
            if event.kind is Kind.ARRIVE:
                self._arrive(loop, JobId(event.subject))
            elif event.kind is Kind.FINISH:
                self._finish(loop, JobId(event.subject), event.version)
            elif event.kind is Kind.STOP:
                self._stopped(loop, JobId(event.subject), event.version)
            elif loop.cycle_at == loop.now:  # a CYCLE not superseded by an earlier one
                self._cycle_event(loop)
                if progress is not None:
                    progress(len(loop.outcomes), len(self._jobs))
        unfinished = tuple(sorted({*self._pending, *self._runs}))
        # Stale events (runs stopped since) may come later than anything that happened.
        end = (
            loop.changed_at if unfinished else max((o.finish_s for o in loop.outcomes), default=0.0)
        )
        return SimResult(
            tuple(loop.outcomes),
            unfinished,
            end,
            loop.handled,
            loop.cycles,
            loop.busy,
            self._total_gpus,
            tuple(loop.timeline),
        )

    def _want_cycle(self, loop: _Loop, t: float) -> None:
        """Ask for a cycle at `t` or as soon after as the mode allows."""
        s = self._settings
        if s.round_s is not None:
            # Rounds: the next boundary, unless the pool is idle (then start now).
            if loop.cycle_at is not None:
                return
            idle = not self._runs and loop.last_cycle + s.round_s <= t
            at = t if idle else max(t, loop.last_cycle + s.round_s)
        else:
            at = max(t, loop.last_cycle + s.min_gap_s)
            if loop.cycle_at is not None and at >= loop.cycle_at:
                return
        loop.cycle_at = at
        loop.events.push(at, Kind.CYCLE)

    def _arrive(self, loop: _Loop, job_id: JobId) -> None:
        sj = self._jobs[job_id]
        self._pending[job_id] = replace(sj.job, submitted_at=self._at(loop.now))
        loop.changed_at, loop.idle_rounds = loop.now, 0
        self._want_cycle(loop, loop.now)

    def _finish(self, loop: _Loop, job_id: JobId, version: int) -> None:
        run = self._runs.get(job_id)
        if run is None or run.version != version:
            return  # preempted or moved since
        now = loop.now
        self._stop(run, now)
        loop.changed_at = now
        self._remaining[job_id] = 0.0
        sj = self._jobs[job_id]
        loop.outcomes.append(
            JobOutcome(
                job_id,
                run.job.tenant_id,
                sj.arrival_s,
                self._first_start[job_id],
                now,
                self._preemptions.get(job_id, 0),
                self._gpu_seconds[job_id],
                self._units_used.get(job_id, 0.0),
            )
        )
        self._want_cycle(loop, now)

    def _stopped(self, loop: _Loop, job_id: JobId, version: int) -> None:
        run = self._runs.get(job_id)
        if run is None or run.version != version:
            return
        self._suspend(run, loop.now)
        loop.changed_at = loop.now
        self._want_cycle(loop, loop.now)

    def _cycle_event(self, loop: _Loop) -> None:
        """A cycle now; then the next one the mode calls for."""
        s = self._settings
        now = loop.now
        loop.cycle_at = None
        loop.last_cycle = now
        loop.cycles += 1
        if self._cycle(now, loop.events):
            loop.changed_at = now
            loop.idle_rounds = 0
        elif not self._runs:
            loop.idle_rounds += 1
        loop.timeline.append(Sample(now, self._busy_gpus, len(self._pending), len(self._runs)))
        if s.round_s is not None:
            # Next round while anything runs; with only queued jobs, a few more (the
            # policy may be holding them back), then only an arrival.
            if self._runs or (self._pending and loop.idle_rounds < s.max_idle_rounds):
                self._want_cycle(loop, now)
        elif isinstance(self._policy, Rebalancing) and any(
            r.job.spec.elastic for r in self._runs.values()
        ):
            self._want_cycle(loop, now + s.rebalance_period_s)

    def _stop(self, run: _Run, t: float) -> None:
        """End `run` at `t`: free its resources, account its service and work."""
        del self._runs[run.job.id]
        for p in run.job.placed():
            key = (run.job.cluster_id or ClusterId(""), p.node_id)
            self._free[key] = self._free[key] + p.allocation
        self._busy_gpus -= run.gpus
        jid = run.job.id
        wall = t - run.started_s
        self._gpu_seconds[jid] = self._gpu_seconds.get(jid, 0.0) + run.gpus * wall
        self._units_used[jid] = self._units_used.get(jid, 0.0) + (
            standard_units(run.gpus, wall * 1000, self._units(run.model)) or 0.0
        )
        by_model = self._run_s.setdefault(jid, {})
        by_model[run.model] = by_model.get(run.model, 0.0) + wall
        self._remaining[jid] = max(run.remaining_at_start - run.done(t), 0.0)
        # A run stopped before its checkpoint was restored still owes the rest of it.
        self._resume[jid] = max(run.resume_s - wall, 0.0)

    def _suspend(self, run: _Run, t: float) -> None:
        """Stop `run` (preempted or lease not renewed) and queue the job again."""
        self._stop(run, t)
        jid = run.job.id
        own = self._jobs[jid].restart_s
        self._resume[jid] = own if own is not None else self._settings.restart_cost_s
        self._preemptions[jid] = self._preemptions.get(jid, 0) + 1
        self._pending[jid] = replace(
            run.job,
            status=JobStatus.PENDING,
            cluster_id=None,
            node_id=None,
            allocation=None,
            placements=(),
            started_at=None,
            preempt_requested=False,
        )

    def _cycle(self, now: float, events: EventQueue) -> bool:
        """Run one cycle at `now` and carry out its decisions (`logic/scheduling/
        apply.py`, as the live loop does); True if anything started, stopped or was
        asked to stop."""
        rounds = self._settings.round_s is not None
        running = (r.job for r in self._runs.values())  # walked only if the queue is empty
        if not needs_cycle(self._pending, running, self._policy, rounds=rounds):
            return False
        snapshot = self._snapshot(now)
        result = run_cycle(snapshot, self._policy)
        return carry_out(result, snapshot, _SimPort(self, now, events)).changed

    def _begin(self, admit: Admit, now: float, events: EventQueue) -> None:
        """Start an admitted job: take its capacity, and schedule its end at its rate
        (after restoring its checkpoint, if it ran before)."""
        job = self._pending.pop(admit.job_id)
        for p in admit.placements:
            key = (admit.cluster_id, p.node_id)
            self._free[key] = self._free[key] - p.allocation
        gpus = admit.allocation.gpu_count
        self._busy_gpus += gpus
        model = next(iter(admit.allocation.gpus), "")
        rate = self._jobs[job.id].rate(model, gpus) if model else 1.0
        running = replace(
            job,
            status=JobStatus.RUNNING,
            cluster_id=admit.cluster_id,
            node_id=admit.node_id,
            allocation=admit.allocation,
            placements=admit.placements,
            started_at=self._at(now),
        )
        self._versions += 1
        resume = self._resume.pop(job.id, 0.0)
        if job.id not in self._first_start and self._settings.restore_at_first_start:
            own = self._jobs[job.id].restart_s
            resume = own if own is not None else self._settings.restart_cost_s
        sj = self._jobs[job.id]
        run = _Run(running, now, rate, model, gpus, self._remaining[job.id], self._versions)
        run.resume_s = resume
        if sj.curve is not None and model:
            run.curve, run.work = sj.curve, sj.work
        self._runs[job.id] = run
        self._first_start.setdefault(job.id, now)
        if rate > 0 or run.curve is not None:
            left = run.seconds_left()
            if left != float("inf"):
                events.push(now + left, Kind.FINISH, job.id, run.version)

    def _ask_to_stop(self, victim: JobId, now: float, events: EventQueue) -> bool:
        """A preempted (or resized) job stops after the grace period."""
        stopping = self._runs.get(victim)
        if stopping is None or stopping.job.preempt_requested:
            return False
        stopping.job = replace(stopping.job, preempt_requested=True)
        events.push(now + self._settings.grace_s, Kind.STOP, victim, stopping.version)
        return True


class _SimPort:
    """The simulated pool as the place where a cycle's decisions take effect."""

    def __init__(self, sim: Simulator, now: float, events: EventQueue) -> None:
        self._sim = sim
        self._now = now
        self._events = events

    def start(self, decision: Admit) -> bool | str:
        self._sim._begin(decision, self._now, self._events)
        return True

    def stop(self, preemption: Preempt, victim: JobId) -> bool:
        return self._sim._ask_to_stop(victim, self._now, self._events)

    def suspend(self, job: Job) -> None:
        self._sim._suspend(self._sim._runs[job.id], self._now)
