"""`suanli sim`: replay a trace on a simulated pool under one or more scheduling policies
and compare them (docs/simulator.md). Progress on stderr, a summary table (or --json) on
stdout, optionally an HTML report. Bad input is one line on stderr and exit code 2."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from suanli.cli import render
from suanli.logic.scheduling.policy_names import POLICY_NAMES

if TYPE_CHECKING:
    from suanli.lab.simulation import SimOutcome


def _fail(message: str) -> NoReturn:
    render.err.print(f"[red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(2)


def _duration(seconds: float) -> str:
    from suanli.adapters.report.page import duration

    return duration(seconds)


def _summary_table(outcome: SimOutcome) -> None:
    table = Table(
        "POLICY",
        "JOBS",
        "UNFINISHED",
        "AVG JCT",
        "P50 JCT",
        "P99 JCT",
        "AVG QUEUEING",
        "AVG SLOWDOWN",
        "GPU UTIL",
        "MAKESPAN",
        box=None,
        pad_edge=False,
    )
    for run in outcome.runs:
        r = run.report
        name = run.policy.asked_as
        if name != run.policy.name:
            name += f" ({run.policy.name})"
        table.add_row(
            name,
            f"{r.overall.jobs:,}",
            f"{r.unfinished:,}",
            _duration(r.overall.avg_jct_s),
            _duration(r.overall.p50_jct_s),
            _duration(r.overall.p99_jct_s),
            _duration(r.overall.avg_queueing_s),
            f"{r.overall.avg_slowdown:.2f}x",
            f"{100 * r.gpu_utilization:.1f}%",
            _duration(r.makespan_s),
        )
    render.out.print(table)


def sim(
    trace: Annotated[
        Path, typer.Argument(help="trace file: any format of docs/traces.md (guessed)")
    ],
    cluster: Annotated[
        Path | None,
        typer.Option(
            "--cluster",
            help="cluster spec YAML (docs/traces.md). Default: 8-GPU nodes, 40% V100, 30% "
            "P100, 20% T4, 10% K80, sized to run twice the trace's average load (smaller "
            "for a few jobs, at most 2,000 GPUs as in bench/sim.py)",
        ),
    ] = None,
    policy: Annotated[
        list[str] | None,
        typer.Option(
            "--policy",
            help="scheduling policy to run (repeat to compare): "
            + ", ".join(POLICY_NAMES)
            + "; 'default' is suanli; default: fifo and default",
        ),
    ] = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", help="simulate only the first N jobs of the trace")
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="seed for policies that take one")
    ] = None,
    throughputs: Annotated[
        Path | None,
        typer.Option(
            "--throughputs",
            help="measured throughputs: Gavel's simulation_throughputs.json or a Sia "
            "throughput_profiles folder (needed for Gavel traces)",
        ),
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="also write an HTML report to this file")
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="print every metric as JSON instead of the table")
    ] = False,
    trace_format: Annotated[
        str | None,
        typer.Option("--format", help="the trace's format when it cannot be guessed"),
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            help="GPU model the trace's run times were measured on (default: from the "
            "trace, else P100 for Philly, V100 otherwise)",
        ),
    ] = None,
    job_model: Annotated[
        str,
        typer.Option(
            "--job-model",
            help="Sia workloads: 'goodput' (the Sia artifact's job model and cluster; "
            "sia and suanli run adaptive jobs) or 'fixed' (fixed batch sizes)",
        ),
    ] = "goodput",
    processes: Annotated[
        int,
        typer.Option(
            "--processes",
            min=1,
            help="simulate the policies in this many processes at once (default 1: one "
            "after another, with a progress bar per job)",
        ),
    ] = 1,
) -> None:
    """Replay a trace on a simulated pool under each policy and compare them."""
    from suanli.domain.errors import DomainError
    from suanli.lab.native_output import native_stdout_to_stderr
    from suanli.lab.simulation import (
        DEFAULT_POLICIES,
        SimOutcome,
        SimRequest,
        prepare,
        run_policies,
    )

    if report is not None and not report.parent.resolve().is_dir():
        _fail(f"cannot write the report: folder {str(report.parent)!r} does not exist.")
    request = SimRequest(
        trace=trace,
        policies=tuple(policy) if policy else DEFAULT_POLICIES,
        trace_format=trace_format,
        cluster=cluster,
        jobs=jobs,
        seed=seed,
        throughputs=throughputs,
        reference=reference,
        job_model=job_model,
    )
    try:
        prepared = prepare(request)
    except DomainError as exc:
        _fail(str(exc))
    scenario = prepared.scenario
    render.err.print(
        f"{scenario.jobs:,} jobs on {scenario.total_gpus():,} GPUs "
        f"({', '.join(f'{n} {m}' for m, n in scenario.gpus_by_model().items())})",
        highlight=False,
    )
    progress = Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("jobs"),
        TimeElapsedColumn(),
        console=render.err,
    )
    tasks: dict[str, TaskID] = {}

    def tick(label: str, finished: int, total: int) -> None:
        if label not in tasks:
            tasks[label] = progress.add_task(label, total=total)
        progress.update(tasks[label], completed=finished)

    with progress, native_stdout_to_stderr():  # stdout: the table or JSON only
        runs = run_policies(request, prepared, processes, tick)
    outcome = SimOutcome(scenario, runs)
    document = outcome.to_json()
    if report is not None:
        from suanli.adapters.report import render_html

        page = render_html(scenario, [(r.policy.asked_as, r.report) for r in runs], document)
        try:
            report.write_text(page, encoding="utf-8")
        except OSError as exc:
            _fail(f"cannot write the report {str(report)!r}: {exc.strerror or exc}.")
        render.err.print(f"report: {report}", highlight=False)
    if json_out:
        render.print_json(document)
    else:
        _summary_table(outcome)
