"""The HTML report of a set of simulation runs: one self-contained page (inline CSS and
SVG, no JavaScript, nothing fetched) that a newcomer can read without help.

Sections: what was simulated (trace, jobs, pool, policies, seed, settings); how to read
the page; the headline metrics in words; a metrics table per policy with the best value
per column highlighted; the JCT CDF (log time axis); GPU utilisation and queue length
over time; average JCT per tenant (the 15 tenants with most jobs); definitions; and the
JSON of every metric, embedded as
`<script type="application/json" id="suanli-metrics">`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from html import escape

from suanli.adapters.report.svg import (
    Line,
    bar_chart,
    colour,
    line_chart,
    linear_axis,
    log_axis,
)
from suanli.logic.simulation.metrics import Report
from suanli.logic.simulation.scenario import Scenario

TOP_TENANTS = 15
_JCT_MARKS = (
    (1.0, "1 s"),
    (10.0, "10 s"),
    (60.0, "1 min"),
    (600.0, "10 min"),
    (3600.0, "1 h"),
    (36_000.0, "10 h"),
    (86_400.0, "1 d"),
    (864_000.0, "10 d"),
    (8_640_000.0, "100 d"),
)


def duration(seconds: float) -> str:
    """A duration for people: seconds, minutes, hours or days."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} d"


def _time_unit(end_s: float) -> tuple[float, str]:
    if end_s <= 7200:
        return 60.0, "minutes"
    if end_s <= 3 * 86_400:
        return 3600.0, "hours"
    return 86_400.0, "days"


def _ratio(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}x"
    return f"{value:.1f}x" if value >= 10 else f"{value:.2f}x"


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:.2f}"


@dataclass(frozen=True, slots=True)
class _Column:
    title: str
    value: Callable[[Report], float | None]
    shown: Callable[[float], str]
    better: str | None
    """"low", "high", or None (not a score: never highlighted)."""


def _columns(with_slo: bool) -> list[_Column]:
    def pct(v: float) -> str:
        return f"{100 * v:.1f}%"

    columns = [
        _Column("finished jobs", lambda r: r.overall.jobs, _number, None),
        _Column("unfinished", lambda r: r.unfinished, _number, "low"),
        _Column("avg JCT", lambda r: r.overall.avg_jct_s, duration, "low"),
        _Column("p50 JCT", lambda r: r.overall.p50_jct_s, duration, "low"),
        _Column("p99 JCT", lambda r: r.overall.p99_jct_s, duration, "low"),
        _Column("avg queueing", lambda r: r.overall.avg_queueing_s, duration, "low"),
        _Column("avg slowdown", lambda r: r.overall.avg_slowdown, _ratio, "low"),
        _Column("p99 slowdown", lambda r: r.overall.p99_slowdown, _ratio, "low"),
        _Column("GPU utilisation", lambda r: r.gpu_utilization, pct, None),
        _Column("makespan", lambda r: r.makespan_s, duration, "low"),
        _Column("max ρ (FTF)", lambda r: r.fairness.max_rho, lambda v: f"{v:.2f}", "low"),
        _Column("avg ρ (FTF)", lambda r: r.fairness.avg_rho, lambda v: f"{v:.2f}", "low"),
        _Column("jobs with ρ ≤ 1", lambda r: r.fairness.share_fair, pct, "high"),
        _Column("preemptions", lambda r: r.preemptions, _number, "low"),
        _Column("units (SCH)", lambda r: r.overall.units, lambda v: f"{v:,.1f}", None),
    ]
    if with_slo:
        columns.append(
            _Column(
                "SLO met",
                lambda r: None if r.slo is None else r.slo.overall.attainment,
                pct,
                "high",
            )
        )
    return columns


def _best(values: Sequence[float | None], better: str | None) -> set[int]:
    """Indices holding the best value; none when there is nothing to compare."""
    known = [v for v in values if v is not None]
    if (
        better is None
        or len(known) < 2
        or max(known) - min(known) <= 1e-9 * max(1.0, abs(max(known)))
    ):
        return set()
    target = min(known) if better == "low" else max(known)
    return {i for i, v in enumerate(values) if v is not None and abs(v - target) <= 1e-9}


_GLANCE = ("avg JCT", "p99 JCT", "avg queueing", "jobs with ρ ≤ 1", "SLO met", "unfinished")


def _at_a_glance(runs: Sequence[tuple[str, Report]]) -> str:
    """The headline columns in words, policies best first."""
    items = []
    for c in _columns(any(r.slo is not None for _, r in runs)):
        if c.title not in _GLANCE or c.better is None:
            continue
        values = [(c.value(r), name) for name, r in runs]
        known = [(v, name) for v, name in values if v is not None]
        if c.title == "unfinished" and not any(v for v, _ in known):
            continue
        known.sort(key=lambda item: item[0] if c.better == "low" else -item[0])
        ranked = ", ".join(f"{escape(name)} {escape(c.shown(v))}" for v, name in known)
        direction = "lower" if c.better == "low" else "higher"
        items.append(
            f"<li><strong>{escape(c.title)}</strong> ({direction} is better): {ranked}</li>"
        )
    return f"<ul>{''.join(items)}</ul>"


def _metrics_table(runs: Sequence[tuple[str, Report]]) -> str:
    columns = _columns(any(r.slo is not None for _, r in runs))
    head = "".join(
        f"<th>{escape(c.title)}"
        + (
            ""
            if c.better is None
            else f'<br><span class="dir">{"lower" if c.better == "low" else "higher"} '
            "is better</span>"
        )
        + "</th>"
        for c in columns
    )
    cells_by_column = []
    for c in columns:
        values = [c.value(r) for _, r in runs]
        best = _best(values, c.better)
        cells_by_column.append(
            [
                f'<td class="{"best" if i in best else ""}">'
                f"{'-' if v is None else escape(c.shown(v))}</td>"
                for i, v in enumerate(values)
            ]
        )
    rows = []
    for i, (name, _) in enumerate(runs):
        swatch = f'<span class="sw" style="background:{colour(i)}"></span>'
        cells = "".join(col[i] for col in cells_by_column)
        rows.append(f"<tr><th>{swatch}{escape(name)}</th>{cells}</tr>")
    return (
        f'<div class="wide"><table class="metrics"><tr><th>policy</th>{head}</tr>'
        f"{''.join(rows)}</table></div>"
    )


def _jct_chart(runs: Sequence[tuple[str, Report]]) -> str:
    values = [j for _, r in runs for j, _ in r.jct_cdf]
    if not values:
        return "<p>No job finished: there is no JCT to show.</p>"
    x = log_axis("job completion time (log scale)", max(min(values), 1.0), max(values), _JCT_MARKS)
    y = linear_axis("jobs finished within that time", 0.0, 1.0, lambda v: f"{100 * v:.0f}%")
    lines = []
    for name, r in runs:
        points = tuple(r.jct_cdf)
        if points:
            points = ((points[0][0], 0.0), *points)
        lines.append(Line(name, points, step=True))
    return line_chart(lines, x, y, label="JCT CDF per policy")


def _time_charts(runs: Sequence[tuple[str, Report]]) -> tuple[str, str]:
    end = max((r.makespan_s for _, r in runs), default=0.0)
    unit, unit_name = _time_unit(end)
    x = linear_axis(f"simulated time ({unit_name})", 0.0, end / unit, _number)

    def scaled(
        points: Sequence[tuple[float, float]], factor: float = 1.0
    ) -> tuple[tuple[float, float], ...]:
        return tuple((t / unit, v * factor) for t, v in points)

    util = [Line(n, scaled(r.utilization_over_time, 100.0), step=True) for n, r in runs]
    y_util = linear_axis("GPUs busy (% of the pool)", 0.0, 100.0, lambda v: f"{v:.0f}%")
    top = max((v for _, r in runs for _, v in r.queue_over_time), default=0.0)
    queue = [Line(n, scaled(r.queue_over_time), step=True) for n, r in runs]
    y_queue = linear_axis("jobs waiting", 0.0, max(top, 1.0), _number)
    return (
        line_chart(util, x, y_util, label="GPU utilisation over time per policy"),
        line_chart(queue, x, y_queue, label="queue length over time per policy"),
    )


def _tenant_chart(runs: Sequence[tuple[str, Report]]) -> tuple[str, int]:
    jobs: dict[str, int] = {}
    for _, r in runs:
        for tenant, s in r.by_tenant.items():
            jobs[tenant] = max(jobs.get(tenant, 0), s.jobs)
    tenants = sorted(jobs, key=lambda t: (-jobs[t], t))[:TOP_TENANTS]
    if not tenants:
        return "<p>No job finished: there is no tenant to show.</p>", 0
    series: list[tuple[str, Sequence[float | None]]] = []
    for name, r in runs:
        series.append(
            (name, [r.by_tenant[t].avg_jct_s if t in r.by_tenant else None for t in tenants])
        )
    top = max((v for _, vs in series for v in vs if v is not None), default=0.0)
    unit, unit_name = _time_unit(top)
    scaled = [(n, [None if v is None else v / unit for v in vs]) for n, vs in series]
    axis = linear_axis(f"average JCT ({unit_name})", 0.0, max(top / unit, 1e-9), _number)
    labels = [f"{t or '(none)'} ({jobs[t]:,} jobs)" for t in tenants]
    chart = bar_chart(labels, scaled, axis, label="average JCT per tenant per policy", fmt=_number)
    return chart, len(jobs)


def _setup(scenario: Scenario) -> str:
    gpus = ", ".join(f"{count:,} {model}" for model, count in scenario.gpus_by_model().items())
    policies = ", ".join(
        (p.asked_as if p.asked_as == p.name else f"{p.asked_as} (= {p.name})")
        + (f": rounds of {p.round_s:g} s" if p.round_s is not None else ": event-driven")
        for p in scenario.policies
    )
    s = scenario.settings
    settings = (
        f"a scheduling cycle at most every {s.min_gap_s:g} s of simulated time; preempted "
        f"jobs stop after a {s.grace_s:g} s grace period and pay {s.restart_cost_s:g} s to "
        "restore their checkpoint when they run again"
        + (f"; rounds of {s.round_s:g} s for every policy" if s.round_s is not None else "")
    )
    rows = [
        ("trace", f"{scenario.trace} ({scenario.trace_format})"),
        (
            "jobs",
            f"{scenario.jobs:,} simulated"
            + (
                f" ({scenario.skipped:,} trace rows skipped: no run time or no GPUs)"
                if scenario.skipped
                else ""
            ),
        ),
        ("run times measured on", scenario.reference),
        ("pool", f"{scenario.total_gpus():,} GPUs: {gpus}"),
        ("pool from", scenario.pool),
        ("policies", policies),
        ("seed", "none" if scenario.seed is None else str(scenario.seed)),
        ("settings", settings),
    ]
    if scenario.throughputs:
        rows.append(("measured throughputs", scenario.throughputs))
    rows.extend(("note", note) for note in scenario.notes)
    items = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows)
    clusters = "".join(
        f"<tr><td>{escape(c.id)}</td><td>{escape(c.region)}</td><td>{escape(c.provider)}</td>"
        f"<td>{c.nodes:,}</td><td>"
        f"{escape(', '.join(f'{n:,} {m}' for m, n in c.gpus.items()) or 'none')}</td></tr>"
        for c in scenario.clusters
    )
    return (
        f"<dl>{items}</dl><details><summary>Clusters ({len(scenario.clusters)})</summary>"
        "<table><tr><th>cluster</th><th>region</th><th>provider</th><th>nodes</th>"
        f"<th>GPUs</th></tr>{clusters}</table></details>"
    )


_HOW_TO_READ = """
<p>Every policy below scheduled the <em>same</em> jobs, arriving at the same times, on the
<em>same</em> simulated pool, with the very scheduling cycle the live platform runs; only the
policy differs. Each job needs some amount of work, measured as its run time on the GPU
the trace ran on; faster GPUs finish it sooner (by their metering ratings, or by measured
throughputs). A job's <strong>completion time (JCT)</strong> is from its arrival to its
end: waiting in the queue plus running. Lower is better, and the table marks the best
policy per column in <span class="best">green</span>. The <strong>slowdown</strong> is
the JCT divided by the job's run time alone on the best GPU (1.0 = no wait on the best
GPU). <strong>Finish-time fairness ρ</strong> compares a job's JCT with what it would
get on its fair 1/N share of the pool (N = jobs present during its life): ρ ≤ 1 is fair.
<strong>GPU utilisation</strong> is not a score on its own: a policy that places work
on slow GPUs keeps them busy longer for the same work. <strong>Units</strong> are the
standard compute-hours (SCH) the jobs consumed; they differ between policies only through
restarts and measured (not rated) speeds.</p>
<p>In the charts each policy has one colour. The <strong>JCT CDF</strong> shows, for
every time on the (log) horizontal axis, the share of jobs that finished within it: the
higher and further left a line, the better; its right end is the slowest job. The
<strong>utilisation</strong> and <strong>queue</strong> charts follow the simulated time
(averages over short intervals): long queues while GPUs sit idle mean jobs wait for
GPUs that are busy elsewhere or too small. The <strong>per-tenant</strong> bars show
whether a policy helps some tenants at the expense of others.</p>
"""

_DEFINITIONS = """
<ul>
<li><strong>JCT</strong>: finish − arrival of a finished job; p50/p99 are nearest-rank
percentiles. <strong>Queueing</strong>: first start − arrival.</li>
<li><strong>Slowdown</strong>: JCT ÷ the job's ideal run time (its work at its best rate,
on its best GPU model and size).</li>
<li><strong>GPU utilisation</strong>: busy GPU-seconds ÷ (pool GPUs × makespan); over
time, GPUs busy after each scheduling cycle ÷ pool GPUs.
<strong>Makespan</strong>: when the last job finished.</li>
<li><strong>Finish-time fairness</strong> (Themis, NSDI'20): ρ = JCT ÷ (ideal run time ×
N<sub>avg</sub>), N<sub>avg</sub> the time-weighted average number of jobs queued or
running during the job's life.</li>
<li><strong>Units</strong>: GPU-hours × each model's metering rating (PFLOPS for AI work),
in standard compute-hours (SCH).</li>
<li><strong>SLO met</strong> (when some jobs have one): a job with a deadline factor f
(Gavel's SLO column) finished within f × its ideal run time; an inference-service replica
started within 60 s and was never preempted.</li>
<li><strong>Preemptions</strong>: times a finished job was stopped to make room (or, in
rounds, not given its lease again).</li>
</ul>
"""

_CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;
color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
dl{display:grid;grid-template-columns:max-content auto;gap:4px 16px}dt{font-weight:bold}
dd{margin:0}table{border-collapse:collapse;font-size:.9em}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}
th{background:#f6f6f6}tr th:first-child{text-align:left}
.wide{overflow-x:auto}.best{background:#d7f5d9;font-weight:bold}
.dir{font-weight:normal;font-size:.8em;color:#666}
.sw{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:-1px}
.note{color:#555;font-size:.92em}svg{max-width:100%;height:auto}
"""


def render_html(
    scenario: Scenario, runs: Sequence[tuple[str, Report]], document: Mapping[str, object]
) -> str:
    """The report page for `runs` (policy label, report) of `scenario`; `document` is
    the JSON of every metric, embedded as it is."""
    util_chart, queue_chart = _time_charts(runs)
    tenant_chart, tenants = _tenant_chart(runs)
    names = ", ".join(name for name, _ in runs)
    trace_name = scenario.trace.replace("\\", "/").rsplit("/", 1)[-1]
    # "</" would end the script element early; JSON allows "<\/".
    embedded = json.dumps(document, ensure_ascii=False).replace("</", "<\\/")
    tenant_note = (
        f"The {min(TOP_TENANTS, tenants)} tenants with most finished jobs"
        + (f" (of {tenants})" if tenants > TOP_TENANTS else "")
        + "; a bar is that tenant's average JCT under one policy."
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>suanli sim: {escape(trace_name)} ({escape(names)})</title>
<style>{_CSS}</style></head><body>
<h1>Simulation report: {escape(trace_name)}</h1>
<p>{scenario.jobs:,} jobs of <code>{escape(scenario.trace)}</code> replayed on a simulated
pool of {scenario.total_gpus():,} GPUs under {len(runs)} scheduling
polic{"y" if len(runs) == 1 else "ies"}: {escape(names)}. Made by <code>suanli sim</code>;
all times are simulated time.</p>
<h2>What was simulated</h2>
{_setup(scenario)}
<h2>How to read this report</h2>
{_HOW_TO_READ}
<h2>At a glance</h2>
{_at_a_glance(runs)}
<h2>Metrics per policy</h2>
{_metrics_table(runs)}
<h2>Job completion times (CDF)</h2>
<p class="note">Share of finished jobs (vertical) that completed within a given time
(horizontal, log scale). Higher and further left is better.</p>
{_jct_chart(runs)}
<h2>GPU utilisation over time</h2>
<p class="note">Share of the pool's GPUs running jobs, averaged over short intervals of
simulated time.</p>
{util_chart}
<h2>Queue length over time</h2>
<p class="note">Jobs waiting for GPUs, averaged over short intervals of simulated
time. Lower is better.</p>
{queue_chart}
<h2>Average JCT per tenant</h2>
<p class="note">{escape(tenant_note)} Shorter is better.</p>
{tenant_chart}
<h2>Definitions</h2>
{_DEFINITIONS}
<h2>All metrics (JSON)</h2>
<p class="note">Every number above, and per-tenant detail, is embedded in this page as
JSON (the output of <code>suanli sim --json</code>): view the page source, element
<code>suanli-metrics</code>.</p>
<script type="application/json" id="suanli-metrics">{embedded}</script>
</body></html>
"""
