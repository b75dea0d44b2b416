"""Counters and a latency histogram the background loops keep in memory, for `/metrics`.

Written by one loop thread, read by request threads: plain integer and float updates,
which a reader may see one step stale but never torn. They restart at zero with the
process (Prometheus counters are expected to)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

CYCLE_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


@dataclass(slots=True)
class Histogram:
    """Cumulative-bucket histogram in the Prometheus sense."""

    bounds: tuple[float, ...] = CYCLE_BUCKETS_S
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.bounds)

    def observe(self, value: float) -> None:
        i = bisect.bisect_left(self.bounds, value)
        if i < len(self.counts):
            self.counts[i] += 1
        self.total += value
        self.count += 1

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations at or below it), +Inf last."""
        out, running = [], 0
        for bound, n in zip(self.bounds, self.counts, strict=True):
            running += n
            out.append((bound, running))
        out.append((float("inf"), self.count))
        return out


@dataclass(slots=True)
class SchedulerStats:
    cycles: Histogram = field(default_factory=Histogram)
    placements: int = 0
    preemptions: int = 0


@dataclass(slots=True)
class DispatcherStats:
    lost: int = 0
    """Attempts marked LOST because their cluster missed its heartbeat deadline."""
    returned: int = 0
    """Attempts taken back before their agent claimed them."""
    unreachable: int = 0
