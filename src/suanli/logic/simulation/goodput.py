"""The goodput job model of Pollux (Qiao et al., OSDI'21) and Sia (Jayaram Subramanya et
al., SOSP'23): a deep-learning job's progress per second is its throughput times its
statistical efficiency, and the efficiency depends on the global batch size through the
gradient noise of the current stage of training.

Progress is counted in iterations at the application's smallest ("initial") batch size
B0. At global batch B a step is worth `gain(B)` of them:

    scale = B / B0,    gain = (var + sqr) / (var / scale + sqr)        (1 <= gain <= scale)

where `sqr` and `var` are the gradient's squared norm and variance measured at that
stage (`GradStats`); statistical efficiency is gain / scale. A step of B samples on R
GPUs runs `accum` micro-steps of `atomic` samples per GPU before synchronising:

    B = R x atomic x (accum + 1),   iteration time = step + accum x (step - sync)

with `step` and `sync` the profiled seconds of one synchronised micro-step. How the
batch is split (`split_batch`) follows the artifact's rules. The data (profiles,
gradient statistics) and the batch-size choice live with the trace adapter
(`adapters/traces/sia_goodput.py`); this module holds only the arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GradStats:
    """The gradient's squared norm and variance at one stage of training."""

    sqr: float
    var: float


def gain(batch: float, init_batch: float, grad: GradStats) -> float:
    """Progress (iterations at `init_batch`) one step at `batch` is worth."""
    scale = batch / init_batch
    denom = grad.var / scale + grad.sqr
    return (grad.var + grad.sqr) / denom if denom > 0 else 1.0


def efficiency(batch: float, init_batch: float, grad: GradStats) -> float:
    """Statistical efficiency at `batch`: gain per sample, relative to `init_batch`."""
    return gain(batch, init_batch, grad) / (batch / init_batch)


@dataclass(frozen=True, slots=True)
class Split:
    """A global batch as run on R GPUs: `atomic` samples per micro-step per GPU,
    `accum` extra micro-steps before each synchronisation."""

    atomic: int
    accum: int

    def batch(self, replicas: int) -> int:
        return replicas * self.atomic * (self.accum + 1)


def split_batch(
    batch: float, replicas: int, max_local: int, init_batch: int, *, whole_local: bool
) -> Split:
    """How the artifact splits `batch` over `replicas` GPUs whose memory holds at most
    `max_local` samples each: as few micro-steps as fit, at least two on one GPU when
    the batch exceeds `init_batch` (the profiles measured one GPU at B0 only).
    `whole_local`: the local batch is rounded up to a whole number first (fixed batch
    sizes); otherwise it is the exact quotient (the batch-size search)."""
    local = math.ceil(batch / replicas - 1e-8) if whole_local else batch / replicas
    accum = math.ceil(local / max_local - 1e-8) - 1
    over = batch > init_batch if whole_local else local > init_batch + 1e-8
    if replicas == 1 and over:
        accum = max(1, accum)
    accum = max(accum, 0)
    return Split(math.ceil(local / (accum + 1) - 1e-8), accum)


def iteration_s(step_s: float, sync_s: float, accum: int) -> float:
    """Seconds of one optimiser step with `accum` extra micro-steps."""
    return step_s + accum * (step_s - sync_s)


def geomspace(low: float, high: float, count: int) -> list[float]:
    """`count` points from `low` to `high`, evenly spaced on a log scale (numpy's
    geomspace: the ends exact)."""
    if count == 1 or high <= low:
        return [float(high)]
    ratio = math.log(high / low) / (count - 1)
    inner = [low * math.exp(ratio * i) for i in range(1, count - 1)]
    return [float(low), *inner, float(high)]
