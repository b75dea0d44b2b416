"""Rendering of API objects for people (Rich) and scripts (JSON on stdout)."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table

T = TypeVar("T")

# Off a terminal Rich assumes 80 columns and wraps table cells; scripts should use --json,
# but piped tables should still be one row per line.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)


def table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    """A plain table on stdout."""
    t = Table(*headers, box=None, pad_edge=False)
    for row in rows:
        t.add_row(*row)
    out.print(t)


def when(value: Any, *, minutes: bool = False) -> str:
    """A stored ISO time for people: '2026-12-04 08:00:00' (or to the minute); '-'."""
    return str(value).replace("T", " ")[: 16 if minutes else 19] if value else "-"


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def _res(r: dict[str, Any]) -> str:
    gpus = ", ".join(f"{m}:{n}" for m, n in r.get("gpus", {}).items())
    text = f"{r['cpus']:g} CPU, {r['memory_mb']} MiB"
    return text + (f", {gpus}" if gpus else "")


def _time(value: str | None) -> str:
    return value.replace("T", " ")[:19] if value else "-"


def jobs_table(items: list[dict[str, Any]], *, group_arrays: bool = True) -> None:
    """One row a job; the tasks of a job array on this page as one row (its id, how many
    tasks are in each status), unless `group_arrays` is off (`suanli jobs --array`)."""
    table = Table(
        "ID", "NAME", "STATUS", "EXIT", "CLUSTER", "SUBMITTED", "REASON", box=None, pad_edge=False
    )
    arrays: dict[str, list[dict[str, Any]]] = {}
    for j in items:
        if group_arrays and j.get("array_id"):
            arrays.setdefault(j["array_id"], []).append(j)
    shown: set[str] = set()
    for j in items:
        array_id = j.get("array_id")
        if group_arrays and array_id:
            if array_id not in shown:
                shown.add(array_id)
                table.add_row(*_array_row(array_id, arrays[array_id]))
            continue
        table.add_row(
            j["id"],
            j["name"] or " ".join(j["command"])[:30],
            j["status"],
            "" if j["exit_code"] is None else str(j["exit_code"]),
            j["cluster_id"] or "-",
            _time(j["submitted_at"]),
            j["reason"][:60],
        )
    out.print(table)


def _array_row(array_id: str, tasks: list[dict[str, Any]]) -> tuple[str, ...]:
    counts: dict[str, int] = {}
    for t in tasks:
        counts[t["status"]] = counts.get(t["status"], 0) + 1
    status = ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda kv: -kv[1]))
    failed = [t for t in tasks if t["status"] == "FAILED"]
    first = tasks[-1]  # pages are newest first: the last is the array's first task
    return (
        f"{array_id} [{len(tasks)}]",
        first["name"] or " ".join(first["command"])[:30],
        status,
        f"{len(failed)} failed" if failed else "",
        ",".join(sorted({t["cluster_id"] for t in tasks if t["cluster_id"]})) or "-",
        _time(first["submitted_at"]),
        f"`suanli jobs --array {array_id}` lists its tasks",
    )


def _placed(j: dict[str, Any]) -> str:
    """Where the current attempt runs; a gang lists each node's allocation."""
    if not j["cluster_id"]:
        return "-"
    placements = j.get("placements") or []
    if len(placements) <= 1:
        return f"{j['cluster_id']}/{j['node_id']}"
    nodes = "; ".join(f"{p['node_id']} ({_res(p['allocation'])})" for p in placements)
    return f"{j['cluster_id']}: {nodes}"


def _constraints(j: dict[str, Any]) -> str:
    """The placement constraints and hints the job was submitted with."""
    parts = []
    for key, label in (
        ("regions", "regions"),
        ("deny_regions", "not regions"),
        ("providers", "providers"),
        ("deny_providers", "not providers"),
        ("gpu_models", "GPU models"),
    ):
        if j.get(key):
            parts.append(f"{label} {', '.join(j[key])}")
    if j.get("data_region"):
        parts.append(f"within {j['max_data_rtt_ms']:g} ms of data in {j['data_region']}")
    if j.get("latency_slo_ms") is not None:
        parts.append(f"within {j['latency_slo_ms']:g} ms of clients in {j['client_region']}")
    elif j.get("client_region"):
        parts.append(f"clients in {j['client_region']}")
    if j.get("job_type"):
        parts.append(f"type {j['job_type']}")
    if j.get("throughput_hints"):
        speeds = ", ".join(f"{m}={v:g}" for m, v in j["throughput_hints"].items())
        parts.append(f"speeds {speeds}")
    return "; ".join(parts)


def job_detail(j: dict[str, Any]) -> None:
    usage = j["usage"]
    status = j["status"]
    if j.get("preempt_requested") and status in ("SCHEDULED", "RUNNING"):
        status += " (preemption requested)"
    rows = [
        ("id", j["id"]),
        ("name", j["name"]),
        ("status", status),
        ("reason", j["reason"]),
        ("exit code", "-" if j["exit_code"] is None else str(j["exit_code"])),
        ("command", " ".join(j["command"])),
        ("resources", _res(j["resources"])),
    ]
    if j.get("gang_size", 1) > 1:
        rows.append(("gang", f"{j['gang_size']} members, each with the resources above"))
    if j.get("min_gang_size") is not None or j.get("max_gang_size") is not None:
        low = j.get("min_gang_size") or j.get("gang_size", 1)
        high = j.get("max_gang_size") or j.get("gang_size", 1)
        rows.append(("elastic", f"runs with {low} to {high} members"))
    if j.get("service"):
        rows.append(("service", j["service"]))
    if j.get("array_id"):
        limit = f", at most {j['array_limit']} at once" if j.get("array_limit") else ""
        rows.append(("array", f"task {j['array_index']} of {j['array_id']}{limit}"))
    if j.get("dependency"):
        rows.append(("after", j["dependency"]))
    if _constraints(j):
        rows.append(("placement", _constraints(j)))
    rows += [
        ("placed on", _placed(j)),
        ("submitted", _time(j["submitted_at"])),
        ("started", _time(j["started_at"])),
        ("ended", _time(j["ended_at"])),
        ("attempt", str(j["attempt"])),
        (
            "usage",
            f"{_seconds(usage['wall_seconds'])} s, {usage['cpu_core_seconds']:g} core-s"
            + "".join(f", {v:g} {m}-s" for m, v in usage["gpu_seconds"].items()),
        ),
    ]
    if j["status"] not in ("PENDING",):
        rows.append(("output", f"suanli logs {j['id']}   (errors: suanli logs --stderr {j['id']})"))
    table = Table(box=None, show_header=False, pad_edge=False)
    for key, value in rows:
        table.add_row(f"[bold]{key}[/]", value)
    out.print(table)
    if j.get("events"):
        out.print("[bold]history[/]")
        for e in j["events"]:
            out.print(
                f"  {_time(e['at'])}  {e['from_status'] or '-':>9} -> "
                f"{e['to_status']:<9} {e['reason']}"
            )


def pool_table(clusters: list[dict[str, Any]]) -> None:
    table = Table(
        "CLUSTER",
        "REGION",
        "PROVIDER",
        "ENGINE",
        "STATE",
        "NODES",
        "CPUS",
        "MEM MiB",
        "GPUS",
        "JOBS",
        "UPTIME",
        "RELIABILITY",
        box=None,
        pad_edge=False,
        caption="CPUS, MEM MiB and GPUS show used/total; UPTIME and RELIABILITY over 7 days "
        "(reachable share; x share of attempts the cluster did not fail)",
    )
    for c in clusters:
        cap, used = c["capacity"], c["used"]
        gpus = ", ".join(f"{m} {used['gpus'].get(m, 0)}/{n}" for m, n in cap["gpus"].items())
        table.add_row(
            c["id"],
            c["region_id"],
            c["provider_id"],
            c["engine"],
            c["state"],
            str(len(c["nodes"])),
            f"{used['cpus']:g}/{cap['cpus']:g}",
            f"{used['memory_mb']}/{cap['memory_mb']}",
            gpus or "-",
            str(c["running_jobs"]),
            f"{c.get('uptime', 1.0):.1%}",
            f"{c.get('reliability', 1.0):.2f}"
            + ("" if c.get("attempts_seen") else " (new: no history)"),
        )
    out.print(table)


def sch(value: float) -> str:
    """Standard compute-hours for people: three decimals, '<0.001' for a trace."""
    if value == 0:
        return "0"
    if abs(value) < 0.001:
        return "<0.001"
    return f"{value:,.3f}"


def usage_table(by: str, rows: list[dict[str, Any]]) -> None:
    keys = [k.strip().upper() for k in by.split(",") if k.strip()]
    table = Table(
        *keys,
        "CLASS",
        "DIMENSION",
        "SCH",
        "AMOUNT",
        "SECONDS",
        "JOBS",
        box=None,
        pad_edge=False,
        caption="SCH: standard compute-hours of the class; AMOUNT: core-, MiB- or device-seconds",
    )
    for r in rows:
        units = "-" if r["dimension"] == "memory" else sch(r["standard_units"])
        if r["unrated_amount"]:
            units += f" (+{r['unrated_amount']:,.0f} unrated)"
        parts = str(r["key"]).split("/", len(keys) - 1) if len(keys) > 1 else [r["key"]]
        table.add_row(
            *(parts + [""] * (len(keys) - len(parts))),
            r["workload_class"],
            r["dimension"],
            units,
            f"{r['amount']:,.0f}",
            _seconds(r["seconds"]),
            str(r["jobs"]),
        )
    out.print(table)


def units_table(doc: dict[str, Any]) -> None:
    out.print(f"[bold]{doc['unit']}[/]: {doc['definition']}")
    table = Table(
        "MODEL",
        "KIND",
        "FP64",
        "FP32",
        "TF32",
        "FP16/BF16",
        "INT8",
        "MEM GB",
        "GB/s",
        "AI PFLOPS*",
        "SOURCE",
        box=None,
        pad_edge=False,
        caption="TFLOPS dense (TOPS for INT8); * rating at the reference efficiency",
    )

    def num(v: object) -> str:
        return "-" if v is None else f"{v:g}"

    for d in doc["devices"]:
        table.add_row(
            d["model"],
            d["kind"],
            num(d["fp64_tflops"]),
            num(d["fp32_tflops"]),
            num(d["tf32_tflops"]),
            num(d["fp16_bf16_tflops"]),
            num(d["int8_tops"]),
            num(d["memory_gb"]),
            num(d["memory_bandwidth_gbs"]),
            num(d["reference_rating_pflops"]["ai"]),
            d["source"][:50],
        )
    out.print(table)


def bench_report(doc: dict[str, Any]) -> None:
    cpu = doc["measurement"]["cpu"]
    out.print(
        f"CPU: {cpu['cores']} cores, FP32 {cpu['fp32_gflops']:.1f} GFLOPS, FP64 "
        f"{cpu['fp64_gflops']:.1f} GFLOPS, triad {cpu['triad_gbs']:.1f} GB/s "
        f"({cpu['blas']})"
    )
    out.print(f"GPUs: {doc['measurement']['gpu_note']}")
    for g in doc["measurement"]["gpus"]:
        out.print(
            f"  {g['index']}: {g['name']}: FP16 {g['fp16_tflops']:.1f}, FP32 "
            f"{g['fp32_tflops']:.1f}, FP64 {g['fp64_tflops']:.1f} TFLOPS"
        )
    rating = doc["rating"]
    for cls in ("ai", "general", "hpc"):
        r = rating[cls]
        gpus = ", ".join(f"{m} {v:.4g}" for m, v in r["gpus_pflops"].items() if v)
        out.print(
            f"rating {cls:<7}: CPU node {r['cpu_node_pflops']:.4g} PFLOPS "
            f"({r['cpu_core_pflops']:.3g} per core)" + (f"; GPUs {gpus}" if gpus else "")
        )


def _seconds(value: float) -> str:
    """Metered seconds as people read them: to the millisecond (what metering records),
    without trailing zeros or float noise, never in exponent form (90, 0.25, 86400.001)."""
    return f"{value:.3f}".rstrip("0").rstrip(".")


def _amount(value: float | None, unit: str, none: str) -> str:
    return none if value is None else f"{value:g} {unit}"


def tenants_table(rows: list[dict[str, Any]]) -> None:
    table = Table("TENANT", "NAME", "WEIGHT", "COHORT", "QUOTAS", box=None, pad_edge=False)
    for t in rows:
        quotas = ", ".join(f"{q['flavor']} {q['nominal']:g}" for q in t["quotas"])
        table.add_row(t["id"], t["name"], f"{t['weight']:g}", t["cohort"] or "-", quotas or "-")
    out.print(table)


def quotas_table(rows: list[dict[str, Any]]) -> None:
    table = Table(
        "TENANT", "FLAVOR", "NOMINAL", "BORROW LIMIT", "LEND LIMIT", box=None, pad_edge=False
    )
    for q in rows:
        unit = q["unit"]
        table.add_row(
            q["tenant_id"],
            q["flavor"],
            _amount(q["nominal"], unit, "-"),
            _amount(q["borrowing_limit"], unit, "no limit"),
            _amount(q["lending_limit"], unit, "all unused"),
        )
    out.print(table)


def with_progress(work: Callable[[], T], label: str, *, expected_s: float) -> T:
    """Run `work` with a progress bar on stderr, filled by the time it is expected to
    take (a terminal), or one line saying what runs (a pipe or a file); its result, or
    its exception raised here."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = work()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not err.is_terminal:
        err.print(f"{label} ...", highlight=False)
        thread.join()
    else:
        columns = (TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
        with Progress(*columns, console=err, transient=True) as bar:
            task = bar.add_task(label, total=max(expected_s, 0.1))
            start = time.monotonic()
            while thread.is_alive():
                elapsed = time.monotonic() - start
                bar.update(task, completed=min(elapsed, expected_s * 0.99))
                thread.join(0.1)
    if "error" in box:
        raise box["error"]
    result: T = box["result"]
    return result
