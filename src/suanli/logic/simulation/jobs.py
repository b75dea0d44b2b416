"""A job to simulate: what it asks for, when it arrives, how much work it has and how
fast each device model does that work. Trace adapters build these; the event loop
(`engine.py`) runs them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from suanli.domain.jobs import Job
from suanli.logic.scheduling.snapshot import rate_at


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
