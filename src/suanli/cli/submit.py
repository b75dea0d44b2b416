"""`suanli submit` (and `suanli sbatch`): a command, a Slurm batch script, or a
SkyPilot-style task YAML; arrays, dependencies, --dry-run, --wait.

    suanli submit -- python train.py             # a command
    suanli submit job.sbatch [script args]       # #SBATCH directives (docs/submit.md)
    suanli submit task.yaml                      # resources:, setup:, run:
    suanli sbatch --array 0-99%10 job.sbatch     # as sbatch, flags over directives

Flags given on the command line override what the file says, as with sbatch."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from suanli.cli import render
from suanli.cli.common import TokenOpt, UrlOpt, call, client, fail

DEFAULTS: dict[str, Any] = {
    "cpus": 1.0,
    "memory": "1G",
    "priority_class": "standard",
    "sector": "other",
    "gang_size": 1,
}
"""What a plain command asks for when a flag is not given."""


def submit(
    command: Annotated[
        list[str] | None,
        typer.Argument(help="program and arguments, or a job file (.sbatch/.yaml) and its args"),
    ] = None,
    cpus: Annotated[float | None, typer.Option(help="CPU cores [1]")] = None,
    memory: Annotated[str | None, typer.Option(help="memory, e.g. 4G [1G]")] = None,
    gpus: Annotated[str | None, typer.Option(help="MODEL:N, MODEL, or N")] = None,
    time_limit: Annotated[str | None, typer.Option("--time", help="e.g. 30m, 1h")] = None,
    name: Annotated[str | None, typer.Option(help="job name")] = None,
    region: Annotated[list[str] | None, typer.Option(help="allowed region (repeat)")] = None,
    env: Annotated[list[str] | None, typer.Option(help="KEY=VALUE (repeat)")] = None,
    workdir: Annotated[str | None, typer.Option(help="working dir (default: here)")] = None,
    priority: Annotated[
        str | None, typer.Option(help="guaranteed|standard|preemptible [standard]")
    ] = None,
    sector: Annotated[
        str | None, typer.Option(help="industry tag, e.g. research, finance, 科研")
    ] = None,
    workload_class: Annotated[
        str | None, typer.Option("--class", help="ai|general|hpc (default: ai with GPUs)")
    ] = None,
    gang: Annotated[
        int | None,
        typer.Option(help="gang of N members, each with the resources above, all or none"),
    ] = None,
    min_gang: Annotated[
        int | None,
        typer.Option(help="elastic: fewest members it can run with (may start smaller)"),
    ] = None,
    max_gang: Annotated[
        int | None,
        typer.Option(help="elastic: most members it can use (may grow onto idle GPUs)"),
    ] = None,
    deny_region: Annotated[
        list[str] | None, typer.Option(help="region never to use (repeat)")
    ] = None,
    provider: Annotated[list[str] | None, typer.Option(help="allowed provider (repeat)")] = None,
    deny_provider: Annotated[
        list[str] | None, typer.Option(help="provider never to use (repeat)")
    ] = None,
    gpu_model: Annotated[
        list[str] | None, typer.Option(help="allowed model for --gpus any:N (repeat)")
    ] = None,
    data_region: Annotated[
        str | None, typer.Option(help="where the data is (with --data-rtt)")
    ] = None,
    data_rtt: Annotated[
        float | None, typer.Option(help="largest round trip to the data, ms")
    ] = None,
    client_region: Annotated[
        str | None, typer.Option(help="where the users or clients are")
    ] = None,
    latency_slo: Annotated[
        float | None, typer.Option(help="largest round trip to --client-region, ms")
    ] = None,
    job_type: Annotated[
        str | None, typer.Option(help="workload type, e.g. resnet50 (throughput matrix)")
    ] = None,
    speed: Annotated[
        list[str] | None, typer.Option(help="MODEL=X relative speed hint (repeat)")
    ] = None,
    service: Annotated[
        str, typer.Option(help="name of the inference service the job is a replica of")
    ] = "",
    replicas: Annotated[
        int | None, typer.Option(help="with --service: queue N replicas (SERVICE-0..)")
    ] = None,
    array: Annotated[
        str | None,
        typer.Option("--array", "-a", help="a job array, Slurm's syntax: 0-99, 1,3,5, 0-99%10"),
    ] = None,
    dependency: Annotated[
        str | None,
        typer.Option(
            "--dependency", "-d", help="afterok|afterany|afternotok:ID[:ID...] (',' = all)"
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print what would be submitted; submit nothing")
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON on stdout")] = False,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait", help="wait until it ends; exit with its exit code (1 if it did not run)"
        ),
    ] = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Submit a job: a command, a Slurm batch script (#SBATCH directives) or a task YAML.
    Prints its id alone on stdout (like sbatch --parsable); an array prints its id
    (a-...), which --dependency may name. docs/submit.md lists what files may say."""
    argv = list(command or [])
    flags = _flags(
        cpus=cpus,
        memory=memory,
        gpus=gpus,
        time_limit=time_limit,
        name=name,
        regions=region,
        env=_env(env),
        working_dir=workdir,
        priority_class=priority,
        sector=sector,
        workload_class=workload_class,
        gang_size=gang,
        min_gang_size=min_gang,
        max_gang_size=max_gang,
        deny_regions=deny_region,
        providers=provider,
        deny_providers=deny_provider,
        gpu_models=gpu_model,
        data_region=data_region,
        max_data_rtt_ms=data_rtt,
        client_region=client_region,
        latency_slo_ms=latency_slo,
        job_type=job_type,
        throughput_hints=_speeds(speed),
        dependency=dependency,
    )
    body, file_array = _body(argv, flags)
    array = array or file_array
    if service:
        body["service"] = service
    if replicas is not None and (not service or name):
        fail("--replicas needs --service NAME and no --name: the replicas are named NAME-0, ...", 2)
    if replicas is not None and array:
        fail("--array and --replicas exclude each other: an array is batch work.", 2)
    if dry_run:
        _dry_run(body, array, replicas, json_out)
        return
    _submit(body, array, service, replicas, json_out, wait, url, token)


def _flags(**given: Any) -> dict[str, Any]:
    """The options given on the command line (None and empty ones were not)."""
    return {k: v for k, v in given.items() if v is not None and v != [] and v != {}}


def _env(items: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            fail(f"--env {item!r} is not KEY=VALUE.", 2)
        out[key] = value
    return out


def _speeds(items: list[str] | None) -> dict[str, float]:
    hints: dict[str, float] = {}
    for item in items or []:
        model, sep, value = item.partition("=")
        try:
            hints[model] = float(value)
        except ValueError:
            hints[model] = math.nan
        if not sep or not math.isfinite(hints[model]):
            fail(f"--speed {item!r} is not MODEL=NUMBER, e.g. --speed H100=3.", 2)
    return hints


def is_job_file(argv: list[str]) -> bool:
    """Whether the first argument names a job file rather than a program
    (`adapters/jobfiles/submission.is_job_file`)."""
    from suanli.adapters.jobfiles.submission import is_job_file as names_job_file

    if not argv or not Path(argv[0]).is_file():
        return False
    try:
        with Path(argv[0]).open("rb") as f:
            head = f.read(64 * 1024)
    except OSError:
        return False
    return names_job_file(Path(argv[0]), head)


def _body(argv: list[str], flags: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """The submission's body (JobCreate's fields) and its array, from a job file or a
    command, with the flags over either."""
    if is_job_file(argv):
        from suanli.adapters.jobfiles import JobFileError, read_job_file

        try:
            sub = read_job_file(Path(argv[0]), args=argv[1:], environ=dict(os.environ))
        except JobFileError as exc:
            fail(str(exc), 2)
        for warning in sub.warnings:
            render.err.print(f"[yellow]warning:[/] {warning}", highlight=False)
        body = {**DEFAULTS, "working_dir": str(Path.cwd()), **sub.body}
        env = {**body.get("env", {}), **flags.pop("env", {})}
        body.update(flags)
        body["env"] = env
        return body, sub.array
    if not argv:
        fail("Nothing to run: give a command (suanli submit -- python train.py) or a job file.", 2)
    return {**DEFAULTS, "working_dir": str(Path.cwd()), "env": {}, **flags, "command": argv}, None


def _dry_run(body: dict[str, Any], array: str | None, replicas: int | None, json_out: bool) -> None:
    """Check the body as the API would (its messages) and print it; nothing is sent."""
    from suanli.api.schemas import JobCreate
    from suanli.domain.errors import InvalidInput
    from suanli.domain.job_links import parse_array

    try:
        JobCreate(**body).to_spec()
        tasks = len(parse_array(array).indices) if array else None
    except InvalidInput as exc:
        fail(str(exc), 2)
    except ValueError as exc:  # pydantic's, on a wrongly typed field
        fail(f"The job would be refused: {exc}", 2)
    render.print_json({"job": body, "array": array, "tasks": tasks, "replicas": replicas})
    if json_out:
        return
    what = f"an array of {tasks} jobs" if tasks else "1 job"
    render.err.print(f"dry run: {what} would be submitted; nothing was sent.")


def _submit(
    body: dict[str, Any],
    array: str | None,
    service: str,
    replicas: int | None,
    json_out: bool,
    wait: bool,
    url: str | None,
    token: str | None,
) -> None:
    with client(url, token) as c:
        if replicas is not None:
            created = call(c.submit_service, body, service=service, replicas=replicas)
            jobs = created["jobs"]
            ids = [j["id"] for j in jobs]
            for job in jobs:
                render.err.print(f"submitted {job['id']} {job['name']} ({job['status']})")
            printed: Any = created
        elif array:
            created = call(c.submit_array, body, array)
            jobs = created["jobs"]
            ids = [j["id"] for j in jobs]
            render.err.print(f"submitted array {created['array_id']}: {len(jobs)} jobs")
            printed = created
        else:
            job = call(c.submit, body)
            ids = [job["id"]]
            render.err.print(f"submitted {job['id']} ({job['status']})")
            printed = job
        if json_out:
            render.print_json(printed)
        elif replicas is not None:
            print("\n".join(ids))
        else:
            print(printed.get("array_id") or printed["id"])
        if wait:
            raise typer.Exit(_wait_all(c, ids))


def _wait_all(c: Any, ids: list[str]) -> int:
    """Wait for every job; the exit code: 0 when all succeeded, else the first failed
    job's exit code (1 when it has none: cancelled, or never ran)."""
    code = 0
    for job_id in ids:
        job = call(c.wait, job_id, poll_s=1.0)
        render.err.print(
            f"{job_id}: {job['status']}" + (f" - {job['reason']}" if job["reason"] else "")
        )
        if job["status"] != "SUCCEEDED" and code == 0:
            code = job["exit_code"] if job["exit_code"] not in (None, 0) else 1
    return int(code) if 0 <= int(code) <= 255 else 1
