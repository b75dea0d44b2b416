"""A job to simulate: what it asks for, when it arrives, how much work it has and how
fast each device model does that work. Trace adapters build these; the event loop
(`engine.py`) runs them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from suanli.domain.jobs import Job
from suanli.logic.scheduling.snapshot import rate_at


class WorkCurve(Protocol):
    """A job whose speed changes as it progresses (the goodput model: its statistical
    efficiency follows the gradient noise of its current epoch). The rate is constant
    between boundaries, so that the simulator can integrate it exactly."""

    def rate(self, model: str, gpus: int, done: float) -> float:
        """Work per second on `gpus` GPUs of `model`, `done` work into the job."""
        ...

    def boundary(self, done: float) -> float:
        """The least amount of work past `done` at which the rate may change (inf if it
        never does)."""
        ...


@runtime_checkable
class StepCurve(WorkCurve, Protocol):
    """A curve that also knows the job's optimiser steps per second (its throughput as
    Gavel counts it: without statistical efficiency)."""

    def step_rate(self, model: str, gpus: int, done: float) -> float:
        """Optimiser steps per second on `gpus` GPUs of `model`, `done` work in."""
        ...


@runtime_checkable
class EstimateCurve(WorkCurve, Protocol):
    """A curve whose scheduler sees an estimate of the rate that differs from the rate
    (the Sia artifact's scheduler caps a tuned job's batch at its submitted batch)."""

    def estimate(self, model: str, gpus: int, done: float) -> float:
        """The rate a scheduler estimates on `gpus` GPUs of `model`, `done` work in."""
        ...


def seconds_to(curve: WorkCurve, model: str, gpus: int, done: float, target: float) -> float:
    """Seconds to go from `done` to `target` work on `gpus` GPUs of `model` (inf if the
    rate is zero somewhere on the way)."""
    seconds = 0.0
    while done < target:
        rate = curve.rate(model, gpus, done)
        if rate <= 0:
            return float("inf")
        step_to = min(curve.boundary(done), target)
        if step_to <= done:  # a curve whose boundary does not move past `done`
            step_to = target
        seconds += (step_to - done) / rate
        done = step_to
    return seconds


def advance(
    curve: WorkCurve, model: str, gpus: int, done: float, seconds: float, work: float
) -> float:
    """Work done after `seconds` more on `gpus` GPUs of `model`, from `done` (at most
    `work`, the job's whole work)."""
    while seconds > 0 and done < work:
        rate = curve.rate(model, gpus, done)
        if rate <= 0:
            return done
        step_to = min(curve.boundary(done), work)
        if step_to <= done:
            step_to = work
        need = (step_to - done) / rate
        if need >= seconds:
            return min(done + seconds * rate, work)
        seconds -= need
        done = step_to
    return min(done, work)


@dataclass(frozen=True, slots=True)
class SimJob:
    job: Job
    """Its spec, tenant and submission sequence; status PENDING."""
    arrival_s: float
    work: float
    """Work to do, in the unit of the rates (run time at rate 1.0 by default)."""
    speed: Mapping[str, float] = field(default_factory=dict)
    """Rate on each GPU model at the job's requested size; a missing model runs at 1.0."""
    scaling: Mapping[str, Mapping[int, float]] = field(default_factory=dict)
    """Measured rate by GPU model and total GPU count (elastic jobs, or profiles that
    give scaling); where a model is here, it overrides `speed` for that model."""
    restart_s: float | None = None
    """This job's checkpoint-restore time; None: `SimSettings.restart_cost_s`."""
    curve: WorkCurve | None = None
    """A rate that changes with progress (the goodput model); where set, it overrides
    `speed` and `scaling` for running the job, which then describe its rate at the
    start (for policies that read them before it runs)."""

    @property
    def requested_gpus(self) -> int:
        return self.job.spec.resources.gpu_count * self.job.spec.gang_size

    def rate(self, model: str, gpus: int) -> float:
        """Work per second on `gpus` GPUs of `model`: from `scaling` (`rate_at`), else
        `speed`, scaled linearly from the requested size."""
        points = self.scaling.get(model)
        if points:
            return rate_at(points, gpus)
        base = self.speed.get(model, 1.0)
        requested = self.requested_gpus
        return base if requested in (0, gpus) else base * gpus / requested

    def best_rate(self) -> float:
        """The fastest this job can run: best model, best allowed size."""
        low, high = self.job.spec.gang_range
        per = self.job.spec.resources.gpu_count
        sizes = {self.requested_gpus, *(per * m for m in range(low, high + 1))}
        models = {*self.speed, *self.scaling} or {""}
        return max(self.rate(m, g) for m in models for g in sizes)
