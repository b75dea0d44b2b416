"""Time series of the pool and the queue: what the dashboard's utilisation page draws.

The platform samples, once a minute, every READY cluster's capacity and use per region
and resource (`gpu:<model>` in devices, `cpu` in cores) and the number of pending and
running jobs. Each sample is kept raw for `RAW_RETENTION_DAYS` and added into a
`ROLLUP_S` (10-minute) window kept `HISTORY_RETENTION_DAYS`, as RRDtool and Prometheus
recording rules keep coarse series for long spans: a read never averages more than a few
thousand rows per series. Reads come back averaged into at most `MAX_POINTS` buckets per
series, whatever the span asked for.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

HISTORY_SAMPLE_PERIOD_S = 60.0
HISTORY_RETENTION_DAYS = 30.0
MAX_HISTORY_HOURS = 24 * HISTORY_RETENTION_DAYS
MAX_POINTS = 500
"""Points per series in one read: enough for a chart as wide as a laptop screen."""
RAW = 0
"""Resolution of raw samples (one row per sample)."""
ROLLUP_S = 600
"""Width of a rollup window: its row holds the sums of the samples in it, and their count."""
RAW_RETENTION_DAYS = 4.0
"""Longer than any span read from raw samples (a step under `ROLLUP_S`: under 83.3 h)."""


@dataclass(frozen=True, slots=True)
class PoolSample:
    """One region's capacity and use of one resource at one instant."""

    at_s: int
    """Unix seconds."""
    region_id: str
    resource: str
    """`gpu:<model>` (devices) or `cpu` (cores)."""
    total: float
    used: float


@dataclass(frozen=True, slots=True)
class QueueSample:
    at_s: int
    pending: int
    running: int
    """Jobs admitted and holding resources (SCHEDULED or RUNNING)."""


@dataclass(frozen=True, slots=True)
class PoolSeries:
    region_id: str
    resource: str
    points: tuple[tuple[int, float, float], ...]
    """(bucket start in Unix seconds, mean total, mean used), oldest first."""


@dataclass(frozen=True, slots=True)
class History:
    since: datetime
    until: datetime
    step_s: int
    pool: tuple[PoolSeries, ...]
    queue: tuple[tuple[int, float, float], ...]
    """(bucket start in Unix seconds, mean pending, mean running), oldest first."""


def history_step(span_s: float, *, period_s: float = HISTORY_SAMPLE_PERIOD_S) -> tuple[int, int]:
    """(resolution to read, bucket width in whole seconds) for a read of the last
    `span_s`: one sample period, or wider so that the span fits in `MAX_POINTS` buckets;
    from `ROLLUP_S` on, whole rollup windows read from the rollups (the read then starts
    at the window its start falls in, up to one window earlier)."""
    step = max(math.ceil(period_s), math.ceil((span_s + 1) / MAX_POINTS))
    if step < ROLLUP_S:
        return RAW, step
    wide = math.ceil((span_s + ROLLUP_S + 1) / MAX_POINTS)
    return ROLLUP_S, math.ceil(wide / ROLLUP_S) * ROLLUP_S
