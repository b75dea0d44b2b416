"""Discrete-event simulation of a pool under a scheduling policy.

Jobs arrive, the very `run_cycle` of the live scheduler places them on a simulated pool
(the snapshot is built from the simulated state instead of the store), and each runs
until its work is done at the speed of the devices it got. Preempted jobs stop after the
grace period, pay a fixed restart cost (restoring their checkpoint) and are requeued with
their age. Time is simulated seconds from the start; nothing reads the wall clock, and
a run is deterministic for a given input.

Speeds: a job's `work` is its run time at speed 1.0 (its duration on the hardware of the
trace); `speed[model]` says how much faster it runs on that GPU model (missing: 1.0).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from suanli.domain.ids import ClusterId, JobId, NodeId
from suanli.domain.jobs import Job, JobStatus
from suanli.domain.resources import ZERO, Resources
from suanli.logic.scheduling.cycle import run_cycle
from suanli.logic.scheduling.policy import Policy
from suanli.logic.scheduling.snapshot import ClusterView, NodeView, Snapshot
from suanli.logic.simulation.events import EventQueue, Kind


@dataclass(frozen=True, slots=True)
class SimJob:
    job: Job
    """Its spec, tenant and submission sequence; status PENDING."""
    arrival_s: float
    work: float
    """Run time in seconds at speed 1.0."""
    speed: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class SimSettings:
    min_gap_s: float = 60.0
    """At most one scheduling cycle per this much simulated time (the live loop's
    coalescing of wake-ups); a cycle runs after every change otherwise."""
    restart_cost_s: float = 30.0
    """Work lost by a preempted job (time to restore its checkpoint)."""
    grace_s: float = 30.0


@dataclass(frozen=True, slots=True)
class JobOutcome:
    job_id: JobId
    tenant: str
    arrival_s: float
    first_start_s: float
    finish_s: float
    preemptions: int
    gpu_seconds: float

    @property
    def jct_s(self) -> float:
        return self.finish_s - self.arrival_s

    @property
    def queueing_s(self) -> float:
        return self.first_start_s - self.arrival_s


@dataclass(frozen=True, slots=True)
class SimResult:
    outcomes: tuple[JobOutcome, ...]
    unfinished: tuple[JobId, ...]
    makespan_s: float
    events: int
    cycles: int
    busy_gpu_seconds: float
    total_gpus: int


@dataclass(slots=True)
class _Run:
    job: Job
    started_s: float
    speed: float
    remaining_at_start: float
    version: int


class Simulator:
    def __init__(
        self,
        clusters: Sequence[ClusterView],
        jobs: Sequence[SimJob],
        policy: Policy,
        *,
        start: datetime,
        settings: SimSettings | None = None,
    ) -> None:
        self._clusters = tuple(clusters)
        self._policy = policy
        self._start = start
        self._settings = settings or SimSettings()
        self._jobs = {j.job.id: j for j in jobs}
        self._free: dict[tuple[ClusterId, NodeId], Resources] = {
            (c.id, n.node_id): n.capacity for c in self._clusters for n in c.nodes
        }
        self._busy_gpus = 0
        self._total_gpus = sum(n.capacity.gpu_count for c in self._clusters for n in c.nodes)

    def _at(self, t: float) -> datetime:
        return self._start + timedelta(seconds=t)

    def _snapshot(self, now: float, pending: dict[JobId, Job], runs: dict[JobId, _Run]) -> Snapshot:
        clusters = tuple(
            replace(
                c,
                nodes=tuple(
                    NodeView(c.id, n.node_id, n.capacity, self._free[(c.id, n.node_id)])
                    for n in c.nodes
                ),
            )
            for c in self._clusters
        )
        queue = tuple(sorted(pending.values(), key=lambda j: j.seq))
        return Snapshot(self._at(now), clusters, queue, tuple(r.job for r in runs.values()))

    def run(self, progress: Callable[[int, int], None] | None = None) -> SimResult:
        """Simulate until every job has finished or nothing more can happen."""
        s = self._settings
        events = EventQueue()
        for sj in self._jobs.values():
            events.push(sj.arrival_s, Kind.ARRIVE, sj.job.id)
        pending: dict[JobId, Job] = {}
        runs: dict[JobId, _Run] = {}
        remaining = {i: sj.work for i, sj in self._jobs.items()}
        first_start: dict[JobId, float] = {}
        preemptions: dict[JobId, int] = {}
        gpu_seconds: dict[JobId, float] = {}
        outcomes: list[JobOutcome] = []
        cycle_at: float | None = None
        last_cycle = -s.min_gap_s
        busy = 0.0
        now = 0.0
        handled = cycles = 0

        def want_cycle(t: float) -> None:
            nonlocal cycle_at
            at = max(t, last_cycle + s.min_gap_s)
            if cycle_at is None or at < cycle_at:
                cycle_at = at
                events.push(at, Kind.CYCLE)

        def release(run: _Run, t: float) -> float:
            """Free the run's resources; returns the speed-1.0 work it did."""
            for p in run.job.placed():
                key = (run.job.cluster_id or ClusterId(""), p.node_id)
                self._free[key] = self._free[key] + p.allocation
            held = (run.job.allocation or ZERO).gpu_count
            self._busy_gpus -= held
            gpu_seconds[run.job.id] = gpu_seconds.get(run.job.id, 0.0) + held * (t - run.started_s)
            return (t - run.started_s) * run.speed

        while len(events):
            event = events.pop()
            busy += self._busy_gpus * (event.at - now)
            now = event.at
            handled += 1
            if event.kind is Kind.ARRIVE:
                sj = self._jobs[JobId(event.subject)]
                pending[sj.job.id] = replace(sj.job, submitted_at=self._at(now))
                want_cycle(now)
            elif event.kind is Kind.FINISH:
                run = runs.get(JobId(event.subject))
                if run is None or run.version != event.version:
                    continue  # preempted since
                del runs[run.job.id]
                release(run, now)
                sj = self._jobs[run.job.id]
                outcomes.append(
                    JobOutcome(
                        run.job.id,
                        run.job.tenant_id,
                        sj.arrival_s,
                        first_start[run.job.id],
                        now,
                        preemptions.get(run.job.id, 0),
                        gpu_seconds[run.job.id],
                    )
                )
                want_cycle(now)
            elif event.kind is Kind.STOP:
                run = runs.get(JobId(event.subject))
                if run is None or run.version != event.version:
                    continue
                del runs[run.job.id]
                done = release(run, now)
                remaining[run.job.id] = max(remaining[run.job.id] - done, 0.0) + s.restart_cost_s
                preemptions[run.job.id] = preemptions.get(run.job.id, 0) + 1
                pending[run.job.id] = replace(
                    run.job,
                    status=JobStatus.PENDING,
                    cluster_id=None,
                    node_id=None,
                    allocation=None,
                    placements=(),
                    started_at=None,
                    preempt_requested=False,
                )
                want_cycle(now)
            else:  # CYCLE
                if cycle_at != now:
                    continue  # superseded by an earlier one
                cycle_at = None
                last_cycle = now
                cycles += 1
                self._cycle(now, pending, runs, remaining, first_start, events, handled)
                if progress is not None:
                    progress(len(outcomes), len(self._jobs))
        unfinished = tuple(sorted({*pending, *runs}))
        return SimResult(tuple(outcomes), unfinished, now, handled, cycles, busy, self._total_gpus)

    def _cycle(
        self,
        now: float,
        pending: dict[JobId, Job],
        runs: dict[JobId, _Run],
        remaining: dict[JobId, float],
        first_start: dict[JobId, float],
        events: EventQueue,
        version: int,
    ) -> None:
        if not pending:
            return
        result = run_cycle(self._snapshot(now, pending, runs), self._policy)
        for admit in result.admitted:
            job = pending.pop(admit.job_id)
            for p in admit.placements:
                key = (admit.cluster_id, p.node_id)
                self._free[key] = self._free[key] - p.allocation
            self._busy_gpus += admit.allocation.gpu_count
            model = next(iter(admit.allocation.gpus), "")
            speed = self._jobs[job.id].speed.get(model, 1.0) if model else 1.0
            running = replace(
                job,
                status=JobStatus.RUNNING,
                cluster_id=admit.cluster_id,
                node_id=admit.node_id,
                allocation=admit.allocation,
                placements=admit.placements,
                started_at=self._at(now),
            )
            run = _Run(running, now, speed, remaining[job.id], version)
            runs[job.id] = run
            first_start.setdefault(job.id, now)
            events.push(now + remaining[job.id] / speed, Kind.FINISH, job.id, version)
        for preemption in result.preemptions:
            for victim in preemption.victims:
                stopping = runs.get(victim)
                if stopping is None or stopping.job.preempt_requested:
                    continue
                stopping.job = replace(stopping.job, preempt_requested=True)
                events.push(now + self._settings.grace_s, Kind.STOP, victim, stopping.version)
