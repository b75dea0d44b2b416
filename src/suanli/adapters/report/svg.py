"""Small SVG charts for self-contained HTML reports: lines (or steps) on linear or log
axes, and horizontal grouped bars; each with ticks, axis titles and a legend.

No JavaScript and no external resources: the SVG is inline text. Every label is escaped.
Colours are the Okabe-Ito palette (readable with the common colour-vision deficiencies),
one per series in order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

PALETTE = (
    "#0072B2",
    "#D55E00",
    "#009E73",
    "#CC79A7",
    "#E69F00",
    "#56B4E9",
    "#000000",
    "#F0E442",
)
_CHAR_W = 6.5
"""Approximate width of one character of the 12px sans-serif labels."""


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


@dataclass(frozen=True, slots=True)
class Axis:
    """A value axis from `lo` to `hi` (both > 0 when `log`), its ticks (value, label)
    and its title (what and in which unit)."""

    title: str
    lo: float
    hi: float
    ticks: tuple[tuple[float, str], ...]
    log: bool = False

    def frac(self, value: float) -> float:
        """Where `value` sits, 0 at `lo` and 1 at `hi` (clamped)."""
        if self.log:
            lo, hi = math.log10(self.lo), math.log10(self.hi)
            v = math.log10(max(value, self.lo))
        else:
            lo, hi, v = self.lo, self.hi, value
        if hi <= lo:
            return 0.0
        return min(1.0, max(0.0, (v - lo) / (hi - lo)))


def nice_step(span: float, count: int) -> float:
    """A step of 1, 2 or 5 x 10^k giving about `count` intervals over `span`."""
    if span <= 0:
        return 1.0
    raw = span / max(count, 1)
    base: float = 10.0 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= m * base:
            return m * base
    return 10 * base


def linear_axis(
    title: str, lo: float, hi: float, fmt: Callable[[float], str], count: int = 5
) -> Axis:
    """A linear axis from `lo` up to `hi` rounded up to a whole step, ticks every step."""
    if hi <= lo:
        hi = lo + 1.0
    step = nice_step(hi - lo, count)
    top = lo + math.ceil((hi - lo) / step - 1e-9) * step
    n = round((top - lo) / step)
    ticks = tuple((lo + i * step, fmt(lo + i * step)) for i in range(n + 1))
    return Axis(title, lo, top, ticks)


def log_axis(title: str, lo: float, hi: float, marks: Sequence[tuple[float, str]]) -> Axis:
    """A log axis over [lo, hi] (clamped to > 0) with the `marks` that fall inside."""
    lo = max(lo, 1e-9)
    hi = max(hi, lo * 10)
    inside = tuple((v, label) for v, label in marks if lo <= v <= hi)
    return Axis(title, lo, hi, inside, log=True)


@dataclass(frozen=True, slots=True)
class Line:
    label: str
    points: tuple[tuple[float, float], ...]
    step: bool = False
    """Hold each value until the next point (a step series) instead of joining them."""


@dataclass(frozen=True, slots=True)
class _Frame:
    width: float
    height: float
    left: float
    top: float
    right: float
    bottom: float

    @property
    def inner_w(self) -> float:
        return self.width - self.left - self.right

    @property
    def inner_h(self) -> float:
        return self.height - self.top - self.bottom


def _legend(labels: Sequence[str], width: float) -> tuple[list[str], float]:
    """Swatches and labels in rows across the top; returns the parts and their height."""
    parts: list[str] = []
    x, y = 10.0, 16.0
    for i, label in enumerate(labels):
        w = 22 + len(label) * _CHAR_W + 18
        if x + w > width and x > 10:
            x, y = 10.0, y + 18
        parts.append(
            f'<rect x="{x:.1f}" y="{y - 9:.1f}" width="14" height="10" fill="{colour(i)}"/>'
            f'<text x="{x + 19:.1f}" y="{y:.1f}">{escape(label)}</text>'
        )
        x += w
    return parts, y + 10


def _open(frame: _Frame, label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {frame.width:.0f} '
        f'{frame.height:.0f}" width="{frame.width:.0f}" height="{frame.height:.0f}" '
        f'role="img" aria-label="{escape(label)}" font-family="sans-serif" font-size="12">'
    )


def _x_axis(frame: _Frame, axis: Axis) -> list[str]:
    base = frame.top + frame.inner_h
    parts = [
        f'<line x1="{frame.left:.1f}" y1="{base:.1f}" x2="{frame.left + frame.inner_w:.1f}" '
        f'y2="{base:.1f}" stroke="#333"/>'
    ]
    for value, label in axis.ticks:
        x = frame.left + axis.frac(value) * frame.inner_w
        parts.append(
            f'<line x1="{x:.1f}" y1="{frame.top:.1f}" x2="{x:.1f}" y2="{base:.1f}" '
            f'stroke="#e3e3e3"/>'
            f'<line x1="{x:.1f}" y1="{base:.1f}" x2="{x:.1f}" y2="{base + 5:.1f}" stroke="#333"/>'
            f'<text x="{x:.1f}" y="{base + 18:.1f}" text-anchor="middle">{escape(label)}</text>'
        )
    parts.append(
        f'<text x="{frame.left + frame.inner_w / 2:.1f}" y="{frame.height - 8:.1f}" '
        f'text-anchor="middle" font-weight="bold">{escape(axis.title)}</text>'
    )
    return parts


def _y_axis(frame: _Frame, axis: Axis) -> list[str]:
    parts = [
        f'<line x1="{frame.left:.1f}" y1="{frame.top:.1f}" x2="{frame.left:.1f}" '
        f'y2="{frame.top + frame.inner_h:.1f}" stroke="#333"/>'
    ]
    for value, label in axis.ticks:
        y = frame.top + (1 - axis.frac(value)) * frame.inner_h
        parts.append(
            f'<line x1="{frame.left:.1f}" y1="{y:.1f}" x2="{frame.left + frame.inner_w:.1f}" '
            f'y2="{y:.1f}" stroke="#e3e3e3"/>'
            f'<text x="{frame.left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(label)}</text>"
        )
    mid = frame.top + frame.inner_h / 2
    parts.append(
        f'<text x="14" y="{mid:.1f}" text-anchor="middle" font-weight="bold" '
        f'transform="rotate(-90 14 {mid:.1f})">{escape(axis.title)}</text>'
    )
    return parts


def line_chart(
    lines: Sequence[Line], x: Axis, y: Axis, *, label: str, width: int = 760, height: int = 340
) -> str:
    """One chart, one coloured line per series (legend on top), `label` for screen
    readers."""
    legend, legend_h = _legend([line.label for line in lines], width)
    frame = _Frame(width, height + legend_h, 72, legend_h + 8, 24, 48)
    parts = [_open(frame, label), *legend, *_x_axis(frame, x), *_y_axis(frame, y)]
    for i, line in enumerate(lines):
        coords = []
        previous_y: float | None = None
        for vx, vy in line.points:
            px = frame.left + x.frac(vx) * frame.inner_w
            py = frame.top + (1 - y.frac(vy)) * frame.inner_h
            if line.step and previous_y is not None:
                coords.append(f"{px:.1f},{previous_y:.1f}")
            coords.append(f"{px:.1f},{py:.1f}")
            previous_y = py
        if coords:
            parts.append(
                f'<polyline fill="none" stroke="{colour(i)}" stroke-width="1.8" '
                f'points="{" ".join(coords)}"><title>{escape(line.label)}</title></polyline>'
            )
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    axis: Axis,
    *,
    label: str,
    fmt: Callable[[float], str],
    width: int = 760,
) -> str:
    """Horizontal grouped bars: one group per category (top to bottom), one bar per
    series in it, its value written at its end (missing values are left out)."""
    legend, legend_h = _legend([name for name, _ in series], width)
    bar_h, gap = 11.0, 10.0
    group_h = bar_h * len(series) + gap
    label_w = min(220.0, 12 + max((len(c) for c in categories), default=4) * _CHAR_W)
    height = legend_h + 8 + group_h * len(categories) + 48
    frame = _Frame(width, height, label_w, legend_h + 8, 70, 48)
    parts = [_open(frame, label), *legend, *_x_axis(frame, axis)]
    for g, category in enumerate(categories):
        y0 = frame.top + g * group_h + gap / 2
        parts.append(
            f'<text x="{frame.left - 6:.1f}" y="{y0 + group_h / 2:.1f}" text-anchor="end">'
            f"{escape(category)}</text>"
        )
        for s, (name, values) in enumerate(series):
            value = values[g]
            if value is None:
                continue
            y = y0 + s * bar_h
            w = axis.frac(value) * frame.inner_w
            parts.append(
                f'<rect x="{frame.left:.1f}" y="{y:.1f}" width="{max(w, 0.5):.1f}" '
                f'height="{bar_h - 1:.1f}" fill="{colour(s)}"><title>'
                f"{escape(f'{category}, {name}: {fmt(value)}')}</title></rect>"
                f'<text x="{frame.left + w + 4:.1f}" y="{y + bar_h - 2:.1f}" font-size="10">'
                f"{escape(fmt(value))}</text>"
            )
    parts.append(
        f'<line x1="{frame.left:.1f}" y1="{frame.top:.1f}" x2="{frame.left:.1f}" '
        f'y2="{frame.top + frame.inner_h:.1f}" stroke="#333"/>'
    )
    parts.append("</svg>")
    return "".join(parts)
