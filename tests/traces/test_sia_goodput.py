"""The Sia artifact's goodput job model on its own profiles (cifar10 on 'aws' T4 and 'rtx'
RTX 2080 Ti nodes, tests/data/traces/sia/goodput) and the Sia policy running it."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from pathlib import Path

import pytest

from suanli.adapters.traces import TraceError, load_sia_workload
from suanli.adapters.traces.sia_goodput import app_models, curves, goodput_jobs
from suanli.adapters.traces.sia_jobs import compact
from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.jobs import Job, JobSpec, JobStatus
from suanli.domain.resources import Resources
from suanli.lab.sia import SIA_ARTIFACT_POOL, goodput_sia_jobs, profiled_types, sia_pool
from suanli.lab.simulation import SimRequest, simulate
from suanli.logic.scheduling.cycle import run_cycle
from suanli.logic.scheduling.policies import get_policy
from suanli.logic.scheduling.policies.sia import configs_for, penalty_s
from suanli.logic.scheduling.snapshot import ClusterView, NodeView, Snapshot
from suanli.logic.simulation.engine import SimSettings, Simulator

DATA = Path(__file__).resolve().parents[1] / "data" / "traces" / "sia"
START = datetime(2026, 1, 1, tzinfo=UTC)
TYPES = {"aws": 4, "rtx": 8}


@pytest.fixture(scope="module")
def cifar() -> object:
    return app_models(DATA / "goodput", ["cifar10"], TYPES)["cifar10"]


def test_cifar10_curves_match_the_artifacts_data() -> None:
    c = curves("cifar10")
    assert (c.init_batch, c.max_batch, c.max_epochs) == (128, 4096, 100)
    assert c.work == pytest.approx(39062.908, abs=0.01)
    assert c.epoch(0.0) == 0 and c.epoch(c.boundaries[1]) == 1 and c.epoch(c.work) == 99


def test_one_t4_runs_the_first_epoch_as_the_artifact_does(cifar: object) -> None:
    # the artifact, by hand: step time at local batch 128 interpolated between the
    # profiled 91 and 129 is 0.103115 s; gain 1; cifar10 runs 1.8x slower than profiled
    setting = cifar.setting("T4", 1, 0, 128)  # type: ignore[attr-defined]
    assert (setting.batch, setting.atomic, setting.accum) == (128, 128, 0)
    assert setting.rate == pytest.approx(1 / 0.1031154 / 1.8, rel=1e-4)
    epoch_s = curves("cifar10").boundaries[1] / setting.rate
    assert epoch_s == pytest.approx(72.5, abs=0.1)


def test_tuning_the_batch_never_does_worse_than_the_smallest_batch(cifar: object) -> None:
    for gpus in (2, 4, 8, 16):
        smallest = max(128, 32 * gpus)
        fixed = cifar.setting("T4", gpus, 10, smallest)  # type: ignore[attr-defined]
        tuned = cifar.setting("T4", gpus, 10, None)  # type: ignore[attr-defined]
        assert tuned.rate >= fixed.rate > 0
    # later epochs: noisier gradients, a larger batch pays
    assert cifar.setting("T4", 8, 90, None).batch >= cifar.setting("T4", 8, 0, None).batch  # type: ignore[attr-defined]


def test_unprofiled_placements_are_interpolated(cifar: object) -> None:
    assert compact(12, 8) == (8, 4)
    got = cifar.setting("RTX2080TI", 12, 0, None)  # type: ignore[attr-defined]
    assert got.rate > cifar.setting("RTX2080TI", 1, 0, None).rate  # type: ignore[attr-defined]


def test_sia_configurations_and_penalties() -> None:
    assert configs_for(4, 24) == [1, 2, 4, 8, 12, 16, 20, 24]
    assert configs_for(8, 16) == [1, 2, 4, 8, 16]
    assert penalty_s("imagenet") == 250.0 and penalty_s("unknown") == 30.0


def _pool() -> tuple[ClusterView, ...]:
    out = []
    for name, model, nodes, per in (("aws", "T4", 4, 4), ("rtx", "RTX2080TI", 2, 8)):
        cid = ClusterId(name)
        cap = Resources(64_000, 512 * 1024, {model: per})
        views = tuple(NodeView(cid, NodeId(f"{name}-{i}"), cap, cap) for i in range(nodes))
        out.append(ClusterView(cid, RegionId("sia"), ProviderId("sia"), "sim", views))
    return tuple(out)


def test_sia_runs_adaptive_jobs_faster_than_gavel_runs_them_rigid() -> None:
    rows = [
        r
        for r in load_sia_workload(DATA / "philly-workload-1-first40.csv")
        if r.job_type == "cifar10"
    ]
    assert len(rows) >= 10
    models = app_models(DATA / "goodput", ["cifar10"], TYPES)
    settings = SimSettings(restore_at_first_start=True)
    jct = {}
    for policy, tune in (("sia", True), ("gavel_max_sum_throughput_perf", False)):
        jobs = goodput_jobs(rows, models, start=START, tune=tune, max_gpus=16)
        result = Simulator(_pool(), jobs, get_policy(policy), start=START, settings=settings).run()
        assert not result.unfinished
        assert len(result.outcomes) == len(rows)
        jct[policy] = sum(o.jct_s for o in result.outcomes) / len(rows)
        # every job paid at least its restore before finishing
        assert all(o.finish_s - o.first_start_s >= 50.0 for o in result.outcomes)
    assert jct["sia"] < jct["gavel_max_sum_throughput_perf"]


def test_a_trace_error_crosses_process_boundaries() -> None:
    # simulation sweeps run in worker processes and send errors back pickled
    err = TraceError("w.csv", 3, "application", "one of cifar10", "gpt_pmp", hint="see docs")
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(back, TraceError)
    assert (str(back), back.hint, back.line) == (str(err), "see docs", 3)


def test_sia_admits_a_rigid_job_of_any_size_live() -> None:
    # live (no rounds): a rigid 3-GPU job, a size off Sia's table, is admitted
    spec = JobSpec.create(
        command=["x"], resources=Resources.request(cpus=1, gpus={"T4": 1}), gang_size=3
    )
    job = Job(JobId("j"), TenantId("t"), UserId("u"), spec, JobStatus.PENDING, START, seq=1)
    result = run_cycle(Snapshot(START, _pool(), (job,), ()), get_policy("sia", rounds=False))
    (admit,) = result.admitted
    assert sum(p.allocation.gpus.get("T4", 0) for p in admit.placements) == 3


def test_suanli_sim_runs_sia_workloads_on_the_goodput_model(tmp_path: Path) -> None:
    # `suanli sim` (lab.simulation) and bench/sia_results.py build the same jobs and pool
    # (lab.sia.goodput_sia_jobs on the artifact's cluster): the same figures
    source = DATA / "philly-workload-1-first40.csv"
    lines = source.read_text().splitlines()
    trace = tmp_path / "cifar10-only.csv"
    trace.write_text("\n".join([lines[0], *(ln for ln in lines[1:] if ",cifar10," in ln)]) + "\n")
    profiles = DATA / "goodput"
    outcome = simulate(
        SimRequest(
            trace=trace, policies=("sia", "gavel_max_sum_throughput_perf"), throughputs=profiles
        )
    )
    got = {r.policy.name: r.report.overall.avg_jct_s for r in outcome.runs}
    types = profiled_types(profiles)
    clusters = sia_pool(types, SIA_ARTIFACT_POOL)
    rows = load_sia_workload(trace)
    rigid, adaptive = goodput_sia_jobs(rows, profiles, types, clusters, start=START)
    settings = SimSettings(restore_at_first_start=True)
    for policy, jobs in (("sia", adaptive), ("gavel_max_sum_throughput_perf", rigid)):
        result = Simulator(clusters, jobs, get_policy(policy), start=START, settings=settings).run()
        direct = sum(o.jct_s for o in result.outcomes) / len(result.outcomes)
        assert got[policy] == pytest.approx(direct)
    assert outcome.scenario.settings.restore_at_first_start
    assert got["sia"] < got["gavel_max_sum_throughput_perf"]


def test_sia_live_admits_elastic_jobs_at_the_size_they_ask_for() -> None:
    # live there is no round history: a job that has not run is offered what it asked
    # for (Sia's one-GPU start is for rounds, where it doubles every round)
    spec = JobSpec.create(
        command=["x"],
        resources=Resources.request(cpus=1, gpus={"T4": 1}),
        gang_size=4,
        min_gang_size=1,
        max_gang_size=8,
    )
    jobs = tuple(
        Job(JobId(f"j{i}"), TenantId("t"), UserId("u"), spec, JobStatus.PENDING, START, seq=i)
        for i in (1, 2)
    )
    result = run_cycle(Snapshot(START, _pool(), jobs, ()), get_policy("sia", rounds=False))
    sizes = sorted(
        sum(p.allocation.gpus.get("T4", 0) for p in a.placements) for a in result.admitted
    )
    assert sizes == [4, 4]
