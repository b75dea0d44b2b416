"""The `suanli` command. Lists and details take --json (snake_case, one document on
stdout); messages go to stderr so that stdout stays parseable (`ID=$(suanli submit ...)`).
Exit codes: 0 ok, 1 the API refused or failed, 2 bad usage."""

from __future__ import annotations

import getpass
import math
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from suanli.cli import accounts, agent, config, market, render, sim, submit

app = typer.Typer(
    name="suanli",
    no_args_is_help=True,
    add_completion=False,
    help="suanli (算力): pool compute, submit jobs, schedule, run, meter.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from suanli import __version__

        print(f"suanli {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="print the version and exit"
        ),
    ] = False,
) -> None:
    """suanli (算力): pool compute, submit jobs, schedule, run, meter."""


from suanli.cli.common import (  # noqa: E402 - shared by every subcommand module
    JsonOpt,
    TokenOpt,
    UrlOpt,
    call,
    client,
    fail,
    operator_client,
)

app.add_typer(accounts.tenant_app, name="tenant")
app.add_typer(accounts.user_app, name="user")
app.add_typer(accounts.token_app, name="token")
app.command("audit")(accounts.audit)
app.command("whoami")(accounts.whoami)
app.add_typer(market.market_app, name="market")
app.add_typer(market.ledger_app, name="ledger")
app.add_typer(market.voucher_app, name="voucher")
app.command("balance")(market.balance)
app.command("bill")(market.bill)
_FILE_ARGS = {"allow_interspersed_args": False}
app.command("submit", context_settings=_FILE_ARGS)(submit.submit)
app.command(
    "sbatch", context_settings=_FILE_ARGS, help="The same as `suanli submit` (for sbatch habits)."
)(submit.submit)


@app.command()
def up(
    port: Annotated[int, typer.Option(help="port to listen on")] = 8765,
    host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="where state lives")] = None,
    policy: Annotated[
        str,
        typer.Option(
            help="scheduling policy: suanli (default), fifo, or one from the literature "
            "(sjf, tiresias, themis, sia, gavel_*; docs/literature-policies.md)"
        ),
    ] = "suanli",
    no_agent: Annotated[bool, typer.Option("--no-agent", help="do not run a local agent")] = False,
    throughput: Annotated[
        Path | None,
        typer.Option(help="JSON of measured throughput per job type and GPU model"),
    ] = None,
    spread: Annotated[bool, typer.Option(help="spread one-node jobs instead of packing")] = False,
    backfill: Annotated[bool, typer.Option(help="EASY backfill around the head job")] = True,
    preemption: Annotated[bool, typer.Option(help="preempt by priority and to reclaim")] = True,
    resize_cooldown: Annotated[
        float,
        typer.Option(
            "--resize-cooldown",
            min=0.0,
            help="least seconds between two resizes of one elastic job (each resize is "
            "a checkpoint and a restart)",
        ),
    ] = 1800.0,
    heartbeat_deadline: Annotated[
        float,
        typer.Option(
            help="seconds without a heartbeat before a cluster is unreachable and its "
            "running jobs are requeued elsewhere"
        ),
    ] = 15.0,
    demo: Annotated[
        bool,
        typer.Option(
            help="also start a demo pool: three clusters in three regions (Beijing, "
            "Zhengzhou, Guiyang), each with its own agent process"
        ),
    ] = False,
    jobs_root: Annotated[
        Path | None,
        typer.Option(
            "--jobs-root",
            help="where local jobs' scratch dirs go, outside the data dir (default "
            "/var/lib/suanli-jobs as root, else ~/.cache/suanli/jobs)",
        ),
    ] = None,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="log every HTTP request to suanli.log")
    ] = False,
    history_period: Annotated[
        float,
        typer.Option(
            "--history-period",
            min=1.0,
            help="seconds between samples of the pool's and the queue's use (the "
            "dashboard's utilisation charts; kept 30 days)",
        ),
    ] = 60.0,
) -> None:
    """Run the platform on this machine: API, scheduler, dispatcher and a local agent."""
    from suanli.cli.demo import DEMO_HEARTBEAT_DEADLINE_S
    from suanli.cli.up import serve  # heavy imports only for this command
    from suanli.logic.scheduling.state import SchedulerSettings

    serve(
        host=host,
        port=port,
        data_dir=data_dir or config.default_data_dir(),
        user=getpass.getuser(),
        with_agent=not no_agent,
        policy=policy,
        settings=SchedulerSettings(
            backfill=backfill,
            preemption=preemption,
            spread=spread,
            resize_cooldown_s=resize_cooldown,
        ),
        throughput_path=str(throughput) if throughput else None,
        heartbeat_deadline_s=(
            min(heartbeat_deadline, DEMO_HEARTBEAT_DEADLINE_S) if demo else heartbeat_deadline
        ),
        demo=demo,
        jobs_root=jobs_root,
        access_log=access_log,
        history_period_s=history_period,
    )


@app.command()
def jobs(
    status: Annotated[list[str] | None, typer.Option(help="filter by status (repeat)")] = None,
    limit: Annotated[int, typer.Option(help="page size")] = 50,
    cursor: Annotated[int | None, typer.Option(help="next_cursor of the previous page")] = None,
    array: Annotated[str | None, typer.Option(help="only the tasks of this job array")] = None,
    json_out: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """List your jobs, newest first; the tasks of a job array as one row (--array ID
    lists them)."""
    with client(url, token) as c:
        page = call(c.jobs, status=status, limit=limit, cursor=cursor, array=array)
    if json_out:
        render.print_json(page["items"])
        return
    render.jobs_table(page["items"], group_arrays=array is None)
    if page.get("next_cursor"):
        render.err.print(f"more: suanli jobs --cursor {page['next_cursor']}")


@app.command()
def job(job_id: str, json_out: JsonOpt = False, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Show one job: status, reason, times, usage and history."""
    with client(url, token) as c:
        data = call(c.job, job_id)
    if json_out:
        render.print_json(data)
    else:
        render.job_detail(data)


@app.command()
def logs(
    job_id: str,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="wait for more output")] = False,
    stderr: Annotated[bool, typer.Option("--stderr", help="show stderr instead")] = False,
    attempt: Annotated[int | None, typer.Option(help="attempt (default: latest)")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Print a job's output (stdout by default)."""
    stream = "stderr" if stderr else "stdout"
    offset = 0
    reading: int | None = None
    with client(url, token) as c:
        while True:
            data, status, read = call(c.logs, job_id, stream=stream, offset=offset, attempt=attempt)
            if reading is not None and read != reading:
                # the job was retried: its new attempt's output starts at byte 0
                render.err.print(f"(attempt {read})", highlight=False)
                offset = 0
                reading = read
                continue
            reading = read
            if data:
                sys.stdout.buffer.write(data)
                sys.stdout.buffer.flush()
                offset += len(data)
                continue
            if not follow or status in ("SUCCEEDED", "FAILED", "CANCELLED"):
                if follow:  # a last read: the agent pushes logs before the final state
                    data, _, _ = call(c.logs, job_id, stream=stream, offset=offset, attempt=attempt)
                    sys.stdout.buffer.write(data)
                    offset += len(data)
                if offset == 0:
                    _no_output_hint(c, job_id, stream, status)
                return
            time.sleep(0.5)


def _no_output_hint(c: Any, job_id: str, stream: str, status: str) -> None:
    """Nothing was printed: say so on stderr, with where to look next."""
    if stream == "stdout":
        job = call(c.job, job_id)
        why = f" ({job['reason']})" if job["reason"] else ""
        render.err.print(
            f"(no output on stdout; the job is {job['status']}{why}. Its errors, if any: "
            f"suanli logs --stderr {job_id})",
            highlight=False,
        )
    else:
        render.err.print(f"(no output on stderr; the job is {status or 'not started'})")


@app.command()
def cancel(
    job_id: str,
    wait: Annotated[bool, typer.Option(help="wait until the job has stopped")] = False,
    json_out: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Cancel a job (SIGTERM, then SIGKILL after the grace period)."""
    with client(url, token) as c:
        data = call(c.cancel, job_id)
        while wait and data["status"] not in ("SUCCEEDED", "FAILED", "CANCELLED"):
            time.sleep(0.25)
            data = call(c.job, job_id)
    if json_out:
        render.print_json(data)
    else:
        note = (
            " (stop requested)"
            if data["cancel_requested"] and data["status"] not in ("CANCELLED",)
            else ""
        )
        render.err.print(f"{data['id']} {data['status']}{note}")


@app.command()
def pool(json_out: JsonOpt = False, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Show clusters with capacity, used and free resources."""
    with client(url, token) as c:
        clusters = call(c.clusters)
    if json_out:
        render.print_json(clusters)
    else:
        render.pool_table(clusters)


@app.command()
def usage(
    by: Annotated[
        str,
        typer.Option(
            help="comma-separated: tenant, provider, region, cluster, job, sector, "
            "device, class, day"
        ),
    ] = "tenant",
    tenant: Annotated[str | None, typer.Option(help="only this tenant")] = None,
    since: Annotated[str | None, typer.Option(help="from this ISO date/time (UTC)")] = None,
    until: Annotated[str | None, typer.Option(help="before this ISO date/time (UTC)")] = None,
    json_out: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Usage totals: standard compute-hours (SCH) per class and raw seconds."""
    with client(url, token) as c:
        rows = call(c.usage, by=by, tenant=tenant, since=since, until=until)
    if json_out:
        render.print_json(rows)
        return
    render.usage_table(by, rows)


@app.command()
def units(json_out: JsonOpt = False) -> None:
    """The metering standard: unit, classes, sectors, device catalog (no server needed)."""
    from suanli.domain.catalog import default_catalog
    from suanli.services.units import units_document

    document = units_document(default_catalog())
    if json_out:
        render.print_json(document)
    else:
        render.units_table(document)


@app.command()
def bench(
    json_out: JsonOpt = False,
    cpu_budget: Annotated[float, typer.Option(help="seconds for the CPU part")] = 8.0,
    gpu_budget: Annotated[float, typer.Option(help="seconds per GPU")] = 5.0,
) -> None:
    """Measure this machine (CPU/GPU matmul, memory triad) and print its ratings."""
    from datetime import UTC, datetime

    from suanli.adapters.calibration import calibrate, to_json
    from suanli.adapters.node_calibration import node_calibration
    from suanli.services.calibration_report import rating_report

    measured = render.with_progress(
        lambda: calibrate(cpu_budget_s=cpu_budget, gpu_budget_s=gpu_budget),
        f"measuring this machine (CPU {cpu_budget:g} s, then {gpu_budget:g} s per GPU)",
        expected_s=cpu_budget + gpu_budget,
    )
    node = node_calibration(measured, datetime.now(UTC))
    document = {"measurement": to_json(measured), "rating": rating_report(node)}
    if json_out:
        render.print_json(document)
    else:
        render.bench_report(document)


@app.command()
def calibrate(cluster: str, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """Ask a cluster's agent to measure its nodes again (operator token by default)."""
    saved = config.load()
    with client(url, token or (saved.operator_token if saved else None)) as c:
        result = call(c.request_calibration, cluster)
    render.err.print(f"{result['cluster_id']}: {result['status']}")


# --- scheduling settings (operator token by default) ----------------------------------


def optional_number(value: str | None, option: str) -> float | None:
    """Parse a number option where 'none' means 'clear the setting'."""
    if value is None or value.strip().lower() in ("none", "null", "-"):
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        fail(f"{option} {value!r} is not a number (or 'none' to clear it).", 2)
    return number


@app.command()
def tenants(json_out: JsonOpt = False, url: UrlOpt = None, token: TokenOpt = None) -> None:
    """List tenants with their fair-share weight, cohort and quotas."""
    with operator_client(url, token) as c:
        rows = call(c.tenants)
    if json_out:
        render.print_json(rows)
    else:
        render.tenants_table(rows)


@app.command()
def share(
    tenant: str,
    weight: Annotated[float, typer.Option(help="fair-share weight (relative, > 0)")],
    cohort: Annotated[
        str | None, typer.Option(help="cohort to lend and borrow in (default: keep)")
    ] = None,
    no_cohort: Annotated[bool, typer.Option("--no-cohort", help="leave its cohort")] = False,
    json_out: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Set a tenant's fair-share weight and cohort."""
    if cohort is not None and no_cohort:
        fail("give --cohort or --no-cohort, not both.", 2)
    with operator_client(url, token) as c:
        if cohort is None and not no_cohort:
            current = next((t for t in call(c.tenants) if t["id"] == tenant), None)
            cohort = current["cohort"] if current else None
        data = call(c.set_share, tenant, weight=weight, cohort=cohort)
    if json_out:
        render.print_json(data)
    else:
        render.err.print(f"{data['id']}: weight {data['weight']:g}, cohort {data['cohort'] or '-'}")


quota_app = typer.Typer(no_args_is_help=True, help="Tenants' quotas per flavor (cpu, gpu:MODEL).")
app.add_typer(quota_app, name="quota")


@quota_app.command("set")
def quota_set(
    tenant: str,
    flavor: Annotated[str, typer.Argument(help="cpu (cores) or gpu:MODEL (devices)")],
    nominal: Annotated[float, typer.Argument(help="guaranteed amount")],
    borrow: Annotated[
        float | None, typer.Option("--borrow", help="most it may borrow (default: no limit)")
    ] = None,
    lend: Annotated[
        float | None, typer.Option("--lend", help="most it lends (default: all unused)")
    ] = None,
    json_out: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Set a tenant's quota for a flavor (cpu in cores, gpu:MODEL in devices)."""
    with operator_client(url, token) as c:
        data = call(
            c.set_quota, tenant, flavor, nominal=nominal, borrowing_limit=borrow, lending_limit=lend
        )
    if json_out:
        render.print_json(data)
    else:
        render.quotas_table([data])


@quota_app.command("list")
def quota_list(
    tenant: Annotated[str | None, typer.Argument(help="one tenant (default: all)")] = None,
    json_out: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """List quotas, of one tenant or of all."""
    with operator_client(url, token) as c:
        if tenant:
            rows = call(c.quotas, tenant)
        else:
            rows = [q for t in call(c.tenants) for q in t["quotas"]]
    if json_out:
        render.print_json(rows)
    else:
        render.quotas_table(rows)


@quota_app.command("rm")
def quota_rm(
    tenant: str,
    flavor: Annotated[str, typer.Argument(help="cpu or gpu:MODEL")],
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Remove a tenant's quota for a flavor."""
    with operator_client(url, token) as c:
        call(c.delete_quota, tenant, flavor)
    render.err.print(f"{tenant}: quota for {flavor} removed")


region_app = typer.Typer(no_args_is_help=True, help="Regions' settings.")
app.add_typer(region_app, name="region")


@region_app.command("add")
def region_add(
    region: str,
    name: Annotated[str, typer.Option(help="display name")] = "",
    lat: Annotated[float | None, typer.Option(help="latitude (for latency estimates)")] = None,
    lon: Annotated[float | None, typer.Option(help="longitude")] = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Register a region (operator)."""
    if (lat is None) != (lon is None):
        fail("give both --lat and --lon, or neither.", 2)
    with operator_client(url, token) as c:
        data = call(c.add_region, region, name=name, latitude=lat, longitude=lon)
    render.err.print(f"region {data['id']} added")


provider_app = typer.Typer(no_args_is_help=True, help="Compute providers.")
app.add_typer(provider_app, name="provider")


@provider_app.command("add")
def provider_add(
    provider: str,
    name: Annotated[str, typer.Option(help="display name")] = "",
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Register a provider (operator)."""
    with operator_client(url, token) as c:
        data = call(c.add_provider, provider, name=name)
    render.err.print(f"provider {data['id']} added")


cluster_app = typer.Typer(no_args_is_help=True, help="Clusters of the pool.")
app.add_typer(cluster_app, name="cluster")


@cluster_app.command("add")
def cluster_add(
    cluster: str,
    provider: Annotated[str, typer.Option(help="the provider that runs it")],
    region: Annotated[str, typer.Option(help="where it is")],
    engine: Annotated[str, typer.Option(help="local, slurm, ray or kubernetes")] = "local",
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Register a cluster (operator); prints its agent token alone on stdout, once: run
    `SUANLI_AGENT_TOKEN=... suanli agent ...` (or `--token-file`) beside its engine."""
    with operator_client(url, token) as c:
        data = call(c.add_cluster, cluster, provider=provider, region=region, engine=engine)
    render.err.print(f"cluster {cluster} added; its agent token (shown once):")
    print(data["agent_token"])


@region_app.command("set")
def region_set(
    region: str,
    energy_price: Annotated[
        str | None, typer.Option("--energy-price", help="CNY per kWh ('none' clears)")
    ] = None,
    carbon: Annotated[
        str | None, typer.Option("--carbon", help="gCO2 per kWh ('none' clears)")
    ] = None,
    json_out: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Set a region's energy price and carbon intensity."""
    settings: dict[str, float | None] = {}
    if energy_price is not None:
        settings["energy_price"] = optional_number(energy_price, "--energy-price")
    if carbon is not None:
        settings["carbon_intensity"] = optional_number(carbon, "--carbon")
    if not settings:
        fail("nothing to set: give --energy-price and/or --carbon.", 2)
    with operator_client(url, token) as c:
        data = call(c.update_region, region, **settings)
    if json_out:
        render.print_json(data)
    else:
        render.err.print(
            f"{data['id']}: energy price {_num(data['energy_price'], 'CNY/kWh')}, "
            f"carbon {_num(data['carbon_intensity'], 'gCO2/kWh')}"
        )


@app.command()
def price(
    cluster: str,
    amount: Annotated[str, typer.Argument(help="CNY per GPU-hour, or 'none' to withdraw")],
    json_out: JsonOpt = False,
    url: UrlOpt = None,
    token: TokenOpt = None,
) -> None:
    """Post a cluster's price per GPU-hour."""
    value = optional_number(amount, "price")
    with operator_client(url, token) as c:
        data = call(c.set_cluster_price, cluster, value)
    if json_out:
        render.print_json(data)
    else:
        render.err.print(f"{data['id']}: {_num(data['gpu_hour_price'], 'CNY/GPU-hour')}")


def _num(value: float | None, unit: str) -> str:
    return "-" if value is None else f"{value:g} {unit}"


@app.command()
def openapi() -> None:
    """Print the API's OpenAPI document (JSON) on stdout."""
    from suanli.api.app import create_app

    render.print_json(create_app(None).openapi())


app.command(name="sim")(sim.sim)
app.command(name="agent")(agent.agent)


def run() -> None:
    """The `suanli` executable. Typer builds the options of every command before it
    runs one (about 0.1 s for ~50 commands); a call that names a command gets an app
    of that command alone, with the same top-level options, so it starts sooner.
    `suanli`, `suanli --help` and anything not found go to the whole app."""
    name = sys.argv[1] if len(sys.argv) > 1 else ""
    if name and not name.startswith("-"):
        commands = [
            c
            for c in app.registered_commands
            if (c.name or (c.callback.__name__ if c.callback else "")).replace("_", "-") == name
        ]
        groups = [g for g in app.registered_groups if g.name == name]
        if commands or groups:
            one = typer.Typer(
                name="suanli",
                add_completion=False,
                context_settings={"help_option_names": ["-h", "--help"]},
            )
            one.registered_callback = app.registered_callback
            one.registered_commands = commands
            one.registered_groups = groups
            one()
            return
    app()


if __name__ == "__main__":
    run()
