"""The simulation service: policies by name (and `default`), pools from specs or sized to
the trace, Gavel steps through throughputs, deadlines from the SLO column, the seed."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path

import pytest

from suanli.domain.errors import InvalidInput
from suanli.lab.pool import MAX_DEFAULT_GPUS, default_pool_gpus
from suanli.lab.simulation import SimRequest, prepare, resolve_policies, simulate
from suanli.logic.scheduling.policies import policy_names
from suanli.logic.scheduling.state import SchedulerSettings

DATA = Path(__file__).resolve().parents[1] / "data" / "traces"
PHILLY = DATA / "philly" / "philly_sample.csv"
GAVEL = DATA / "gavel" / "philly_first120.trace"
GAVEL_THROUGHPUTS = DATA / "gavel" / "throughputs_subset.json"


def test_default_is_the_default_policy_and_names_are_checked() -> None:
    got = resolve_policies(["fifo", "default", "suanli"])
    assert [(p.name, p.asked_as) for p in got] == [("fifo", "fifo"), ("suanli", "default")]
    with pytest.raises(InvalidInput) as err:
        resolve_policies(["fifo", "nope"])
    assert err.value.hint is not None
    assert all(name in err.value.hint for name in policy_names())


def test_the_default_pool_is_sized_to_the_trace() -> None:
    prepared = prepare(SimRequest(PHILLY, ("fifo",)))
    gpus = prepared.scenario.gpus_by_model()
    total = sum(gpus.values())
    assert total % 80 == 0 and total <= MAX_DEFAULT_GPUS
    assert gpus == {
        "V100": total * 4 // 10,
        "P100": total * 3 // 10,
        "T4": total // 5,
        "K80": total // 10,
    }
    assert "default pool" in prepared.scenario.pool
    # A gang of 40 x 1 GPU must fit one cluster: the V100 one, 32 GPUs per block.
    first = prepared.jobs[0]
    gang = replace(first.job.spec, gang_size=40)
    big = replace(first, job=replace(first.job, spec=gang))
    assert default_pool_gpus([big], "P100") == 80 * 2
    # A heavy load is capped at bench/sim.py's 2,000 GPUs.
    assert default_pool_gpus(list(prepared.jobs) * 1000, "P100") == MAX_DEFAULT_GPUS


def test_a_cluster_spec_gives_its_clusters_regions_providers_and_prices() -> None:
    spec = DATA / "cluster_specs" / "three-region-mixed.yaml"
    prepared = prepare(SimRequest(PHILLY, ("fifo",), cluster=spec, jobs=20))
    by_id = {str(c.id): c for c in prepared.clusters}
    assert set(by_id) == {"bj-h100", "zz-a100", "gy-t4"}
    assert (by_id["bj-h100"].region_id, by_id["bj-h100"].provider_id) == ("beijing", "p-north")
    assert by_id["bj-h100"].gpu_hour_price == 28
    assert len(by_id["gy-t4"].nodes) == 8  # 6 T4 nodes and 2 CPU-only ones
    assert sum(1 for n in by_id["gy-t4"].nodes if not n.capacity.gpus) == 2
    assert prepared.scenario.gpus_by_model() == {
        "T4": 24,
        "H100": 32,
        "A100-80GB": 24,
        "A100-40GB": 8,
    }
    assert prepared.scenario.jobs == 20


def test_gavel_steps_become_run_times_through_measured_throughputs() -> None:
    with pytest.raises(InvalidInput) as err:
        prepare(SimRequest(GAVEL, ("fifo",)))
    assert "--throughputs" in str(err.value)
    prepared = prepare(SimRequest(GAVEL, ("fifo",), throughputs=GAVEL_THROUGHPUTS))
    assert prepared.scenario.reference == "V100" and prepared.jobs
    resnet = next(j for j in prepared.jobs if j.job.spec.job_type.startswith("ResNet-18"))
    # measured: K80 runs ResNet-18 at 7.05 of V100's 24.09 steps/s
    assert resnet.rate("K80", 1) == pytest.approx(7.052080666695425 / 24.093231895382736)


def test_deadlines_come_from_the_slo_column(tmp_path: Path) -> None:
    lines = GAVEL.read_text().splitlines()[:6]
    trace = tmp_path / "slo.trace"
    rows = []
    for i, line in enumerate(lines):
        cols = line.split("\t")
        cols[8] = "3.0" if i % 2 == 0 else "-1"
        rows.append("\t".join(cols))
    trace.write_text("\n".join(rows) + "\n")
    outcome = simulate(SimRequest(trace, ("fifo",), throughputs=GAVEL_THROUGHPUTS))
    (run,) = outcome.runs
    assert run.report.slo is not None
    assert 1 <= run.report.slo.overall.jobs <= 3


def test_a_seed_goes_to_the_policies_settings_or_is_noted() -> None:
    prepared = prepare(SimRequest(PHILLY, ("fifo",), seed=7, jobs=10))
    assert prepared.scenario.seed == 7 and prepared.scenario.to_json()["seed"] == 7
    if "seed" in {f.name for f in fields(SchedulerSettings)}:
        assert getattr(prepared.scheduler, "seed", None) == 7
        assert not prepared.scenario.notes
    else:
        assert "Seed 7" in prepared.scenario.notes[0]


def test_runs_report_units_from_the_metering_ratings() -> None:
    outcome = simulate(SimRequest(PHILLY, ("fifo",), jobs=30))
    (run,) = outcome.runs
    assert run.report.overall.units > 0
    data = outcome.to_json()
    assert set(data) == {"scenario", "policies"}


def test_sia_workloads_run_on_the_models_profiled_for_them(tmp_path: Path) -> None:
    lines = (DATA / "sia" / "philly-workload-1-first40.csv").read_text().splitlines()
    apps = ("cifar10", "bert")
    trace = tmp_path / "workload.csv"
    trace.write_text("\n".join([lines[0], *(r for r in lines[1:] if r.split(",")[2] in apps)]))
    with pytest.raises(InvalidInput) as err:
        prepare(SimRequest(trace, ("fifo",)))
    assert "--throughputs" in str(err.value)
    profiles = DATA / "sia" / "profiles"
    outcome = simulate(SimRequest(trace, ("fifo",), throughputs=profiles, job_model="fixed"))
    assert outcome.scenario.gpus_by_model() == {"T4": 24, "A100-40GB": 16}
    (run,) = outcome.runs
    assert run.report.overall.jobs + run.report.unfinished == outcome.scenario.jobs == 35
    prepared = prepare(SimRequest(trace, ("fifo",), throughputs=profiles, job_model="fixed"))
    assert all(j.job.spec.placement.gpu_models == ("A100-40GB", "T4") for j in prepared.jobs)
    # the goodput model (the default) puts the "dgx" profiles where the artifact has dgx-ext
    goodput = prepare(SimRequest(trace, ("sia",), throughputs=profiles))
    assert goodput.scenario.gpus_by_model() == {"T4": 24, "A100-40GB": 16}
    assert goodput.adaptive_jobs is not None and goodput.scenario.settings.restore_at_first_start
