"""What the live scheduler knows of a job's progress (`JobProgress`), from its attempts.

The simulator knows every job's work and rates; the live service knows what each job
has received (GPU-seconds, wall seconds per GPU model, over its ended attempts and the
current one) and, for an elastic job, enough to weigh a resize:

- its **work** is its time limit at the size it asked for, in GPU-seconds (a job asking
  2 x 4 GPUs for 10 h has 80 GPU-hours of work); what it has run counts against it, so
  `remaining_work` falls as it runs, whatever its size;
- its **scaling** is linear in GPUs on every model (one unit of work per GPU-second),
  since nothing was measured; a measured profile would replace it.

An elastic job without a time limit has no known remaining work and is never grown (it
still shrinks back when others wait). Tiresias reads the attained service; policies that
need remaining work or rates of a rigid job find them unknown (None, empty), as before.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from suanli.domain.ids import JobId
from suanli.domain.jobs import Attempt, Job
from suanli.logic.scheduling.snapshot import JobProgress


@dataclass(frozen=True, slots=True)
class Service:
    """What ended attempts gave a job: GPU-seconds, and wall seconds per GPU model."""

    gpu_s: float = 0.0
    run_s_by_model: Mapping[str, float] = field(default_factory=dict)


NONE = Service()


def service_of(attempts: Iterable[Attempt], *, before: int) -> Service:
    """The service of the attempts numbered below `before` that ran (started and ended)."""
    gpu_s = 0.0
    by_model: dict[str, float] = {}
    for a in attempts:
        if a.number >= before or a.started_at is None or a.ended_at is None:
            continue
        wall = max(0.0, (a.ended_at - a.started_at).total_seconds())
        gpu_s += a.allocation.gpu_count * wall
        model = next(iter(a.allocation.gpus), "")
        by_model[model] = by_model.get(model, 0.0) + wall
    return Service(gpu_s, by_model)


class LinearScaling(Mapping[str, Mapping[int, float]]):
    """One unit of work per GPU-second at the given GPU counts, on any model."""

    def __init__(self, counts: Iterable[int]) -> None:
        self._points: Mapping[int, float] = {g: float(g) for g in counts}

    def __getitem__(self, model: str) -> Mapping[int, float]:
        return self._points

    def __iter__(self) -> Iterator[str]:
        return iter(())  # every model, none in particular

    def __len__(self) -> int:
        return 0


def live_progress(job: Job, past: Service, now: datetime) -> JobProgress:
    """The job's progress at `now`: `past` plus its current run, if it holds resources."""
    gpu_s = past.gpu_s
    by_model = dict(past.run_s_by_model)
    if job.status.holds_resources() and job.started_at is not None and job.allocation:
        wall = max(0.0, (now - job.started_at).total_seconds())
        gpu_s += job.allocation.gpu_count * wall
        model = next(iter(job.allocation.gpus), "")
        by_model[model] = by_model.get(model, 0.0) + wall
    spec = job.spec
    per = spec.resources.gpu_count
    if not (spec.elastic and per and spec.time_limit_s is not None):
        return JobProgress(attained_gpu_s=gpu_s, run_s_by_model=by_model)
    low, high = spec.gang_range
    asked = spec.gang_size * per
    return JobProgress(
        attained_gpu_s=gpu_s,
        run_s_by_model=by_model,
        remaining_work=max(0.0, spec.time_limit_s * asked - gpu_s),
        scaling=LinearScaling(m * per for m in range(low, high + 1)),
    )


class LiveProgress(Mapping[JobId, JobProgress]):
    """The progress of the snapshot's jobs, each computed when a policy first asks."""

    def __init__(self, jobs: Sequence[Job], past: Mapping[JobId, Service], now: datetime) -> None:
        self._list = jobs
        self._index: dict[JobId, Job] | None = None
        self._past = past
        self._now = now
        self._cache: dict[JobId, JobProgress] = {}

    @property
    def _jobs(self) -> dict[JobId, Job]:
        # indexed on first use: in most cycles no policy asks (a queue of 100,000)
        if self._index is None:
            self._index = {j.id: j for j in self._list}
        return self._index

    def __getitem__(self, job_id: JobId) -> JobProgress:
        got = self._cache.get(job_id)
        if got is None:
            job = self._jobs[job_id]  # KeyError: not in the snapshot
            got = live_progress(job, self._past.get(job_id, NONE), self._now)
            self._cache[job_id] = got
        return got

    def __iter__(self) -> Iterator[JobId]:
        return iter(self._jobs)

    def __len__(self) -> int:
        return len(self._jobs)
