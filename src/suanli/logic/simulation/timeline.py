"""Step series: a value that holds from one sample to the next, as the simulator's
timeline records it (one sample after every scheduling cycle).

`StepSeries` answers time integrals and averages over any window in O(log n) (prefix sums
and bisection), which is what finish-time fairness needs for every job; `downsample`
turns a long series into at most `points` buckets of equal width, each the time-weighted
mean of the series over it, so that the area under the curve (e.g. busy GPU-seconds) is
kept while a chart gets a bounded number of points.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence

Point = tuple[float, float]
"""(time in simulated seconds, value)."""


class StepSeries:
    """`values[k]` holds on [`times[k]`, `times[k + 1]`) and the last one until `end`;
    before `times[0]` the value is 0. Times must be non-decreasing and <= `end`."""

    def __init__(self, times: Sequence[float], values: Sequence[float], end: float) -> None:
        if len(times) != len(values):
            raise ValueError("times and values differ in length")
        self.times = list(times)
        self.values = list(values)
        self.end = max(end, self.times[-1]) if self.times else end
        # cumulative[k] = integral from times[0] to times[k]
        self._cumulative = [0.0]
        for k in range(1, len(self.times)):
            width = self.times[k] - self.times[k - 1]
            self._cumulative.append(self._cumulative[-1] + self.values[k - 1] * width)

    def _integral_to(self, t: float) -> float:
        """Integral of the series from its first sample to `t` (0 before it)."""
        if not self.times or t <= self.times[0]:
            return 0.0
        t = min(t, self.end)
        k = bisect_right(self.times, t) - 1
        return self._cumulative[k] + self.values[k] * (t - self.times[k])

    def integral(self, start: float, stop: float) -> float:
        """Area under the series over [start, stop] (0 when stop <= start)."""
        if stop <= start:
            return 0.0
        return self._integral_to(stop) - self._integral_to(start)

    def average(self, start: float, stop: float) -> float:
        """Time-weighted mean over [start, stop]; the value at `start` when the window is
        empty."""
        if stop <= start:
            return self.at(start)
        return self.integral(start, stop) / (stop - start)

    def at(self, t: float) -> float:
        """The value holding at `t`."""
        k = bisect_right(self.times, t) - 1
        return self.values[k] if k >= 0 else 0.0


def downsample(series: StepSeries, points: int = 500) -> tuple[Point, ...]:
    """At most `points` (bucket start, time-weighted mean over the bucket) pairs covering
    [0, series.end] with equal-width buckets; the series itself when it is shorter. One
    more point at `end` repeats the last value so that a step chart reaches the end."""
    if points < 1:
        raise ValueError("points must be >= 1")
    if not series.times:
        return ()
    if series.end <= 0:
        return ((0.0, series.at(0.0)),)
    if len(series.times) <= points:
        out = list(zip(series.times, series.values, strict=True))
    else:
        width = series.end / points
        out = [(i * width, series.average(i * width, (i + 1) * width)) for i in range(points)]
    if out[-1][0] < series.end:
        out.append((series.end, out[-1][1]))
    return tuple(out)
