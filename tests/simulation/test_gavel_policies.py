"""Gavel's policies on suanli's cycle: the LPs on hand-solvable cases, the round
mechanism's priorities, FIFO's seeded randomness, leases renewed in place, the policies
without rounds, and a small end-to-end run on a committed trace sample."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from suanli.adapters.traces.gavel import load_gavel_throughputs, load_gavel_trace
from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.jobs import Job, JobSpec, JobStatus
from suanli.domain.resources import Resources
from suanli.logic.scheduling.cycle import run_cycle
from suanli.logic.scheduling.decisions import Admit
from suanli.logic.scheduling.gavel_base import Allocation
from suanli.logic.scheduling.gavel_lp import (
    max_min_allocation,
    max_sum_allocation,
    proportional_throughputs,
)
from suanli.logic.scheduling.gavel_rounds import Entry, TimeShares, assign
from suanli.logic.scheduling.placement import PlacementMemo
from suanli.logic.scheduling.policies import get_policy, policy_names
from suanli.logic.scheduling.policies.gavel import (
    GavelFifo,
    GavelFifoPerf,
    GavelMaxMin,
    GavelMaxMinPerf,
)
from suanli.logic.scheduling.policy import Policy
from suanli.logic.scheduling.snapshot import ClusterView, JobProgress, NodeView, Snapshot
from suanli.logic.scheduling.state import SchedulerSettings
from suanli.logic.simulation.engine import JobOutcome, SimResult, SimSettings, Simulator
from suanli.logic.simulation.jobs import SimJob

START = datetime(2026, 1, 1, tzinfo=UTC)
DATA = Path(__file__).resolve().parents[1] / "data" / "traces" / "gavel"
GAVEL = [
    "gavel_fifo",
    "gavel_fifo_perf",
    "gavel_max_min",
    "gavel_max_min_perf",
    "gavel_max_sum_throughput_perf",
]


def a(rows: Sequence[Sequence[float]]) -> np.ndarray:
    return np.array(rows, dtype=np.float64)


def one_gpu_pool(**models: int) -> tuple[ClusterView, ...]:
    """One cluster of one-GPU nodes (Gavel's servers), `n` nodes per model."""
    cid = ClusterId("c")
    nodes = []
    for model, n in models.items():
        cap = Resources(8_000, 65_536, {model: 1})
        nodes += [NodeView(cid, NodeId(f"{model}-{i}"), cap, cap) for i in range(n)]
    return (ClusterView(cid, RegionId("r"), ProviderId("p"), "sim", tuple(nodes)),)


def job(i: int, gpus: int = 1) -> Job:
    spec = JobSpec.create(
        command=["sim"],
        resources=Resources.request(cpus=1, memory_mb=1024, gpus={"any": 1}),
        gang_size=gpus,
        job_type="t",
    )
    return Job(JobId(f"j{i}"), TenantId("t"), UserId("u"), spec, JobStatus.PENDING, START, seq=i)


def snapshot(
    jobs: Sequence[Job],
    clusters: tuple[ClusterView, ...],
    rates: Mapping[JobId, Mapping[str, float]] | None = None,
    *,
    at_s: float = 0.0,
    round_s: float | None = 360.0,
) -> Snapshot:
    progress = {j.id: JobProgress(rates=(rates or {}).get(j.id, {})) for j in jobs}
    return Snapshot(
        START + timedelta(seconds=at_s), clusters, tuple(jobs), progress=progress, round_s=round_s
    )


def models_of(admitted: Sequence[Admit]) -> dict[str, str]:
    return {d.job_id: next(iter(d.allocation.gpus)) for d in admitted}


# --- the LPs --------------------------------------------------------------------------------


def test_proportional_share_is_each_models_fraction_of_the_pool() -> None:
    got = proportional_throughputs(a([[2.0, 1.0], [1.0, 1.0]]), np.array([3.0, 1.0]))
    assert got == pytest.approx([2.0 * 0.75 + 1.0 * 0.25, 1.0])


def test_max_min_perf_gives_the_fast_model_to_the_job_that_gains_from_it() -> None:
    # Job 0 runs twice as fast on model 0, job 1 the same anywhere; one GPU of each.
    t, ones, cap = a([[2.0, 1.0], [1.0, 1.0]]), np.ones(2), np.ones(2)
    perf = max_min_allocation(t, ones, ones, cap)
    assert perf == pytest.approx(a([[1.0, 0.0], [0.0, 1.0]]), abs=1e-6)
    # Agnostic: equal speeds, so each job's full share is split over the equal models.
    agnostic = max_min_allocation(t, ones, ones, cap, agnostic=True)
    assert agnostic == pytest.approx(a([[0.5, 0.5], [0.5, 0.5]]), abs=1e-6)


def test_max_min_normalises_each_job_by_its_equal_share_throughput() -> None:
    # Raw max-min would give the slow job 10/11 of the GPU; normalised, each gets half.
    x = max_min_allocation(a([[10.0], [1.0]]), np.ones(2), np.ones(2), np.ones(1))
    assert x == pytest.approx(a([[0.5], [0.5]]), abs=1e-6)


def test_max_min_weights_and_scale_factors() -> None:
    weighted = max_min_allocation(a([[1.0], [1.0]]), np.ones(2), np.array([2.0, 1.0]), np.ones(1))
    assert weighted == pytest.approx(a([[2 / 3], [1 / 3]]), abs=1e-6)
    # A 2-GPU job needs half the time of a 1-GPU job for the same GPU-time: on 2 GPUs,
    # max min(2 x0, x1) with 2 x0 + x1 <= 2 gives x0 = 1/2, x1 = 1.
    scaled = max_min_allocation(
        a([[1.0], [1.0]]), np.array([2.0, 1.0]), np.ones(2), np.array([2.0]), agnostic=True
    )
    assert scaled == pytest.approx(a([[0.5], [1.0]]), abs=1e-6)


def test_max_min_never_oversubscribes_and_leaves_unusable_models_alone() -> None:
    rng = np.random.default_rng(3)
    t = rng.uniform(0.5, 4.0, size=(7, 3))
    t[2, 1] = 0.0  # job 2 cannot run on model 1
    scale, cap = np.array([1, 2, 1, 4, 1, 1, 2], dtype=np.float64), np.array([4.0, 2.0, 3.0])
    x = max_min_allocation(t, scale, np.ones(7), cap)
    assert x[2, 1] == 0.0
    assert (x.sum(axis=1) <= 1 + 1e-9).all()
    assert (scale @ x <= cap + 1e-9).all()


def test_max_sum_normalises_rows_so_units_do_not_decide() -> None:
    # Job 0 (large units) gains 2x from model 0, job 1 (small units) 4x.
    t, ones, cap = a([[10.0, 5.0], [2.0, 0.5]]), np.ones(2), np.ones(2)
    assert max_sum_allocation(t, ones, cap) == pytest.approx(a([[0, 1], [1, 0]]), abs=1e-6)
    raw = max_sum_allocation(t, ones, cap, normalize=False)  # Gavel's code: raw steps/s
    assert raw == pytest.approx(a([[1, 0], [0, 1]]), abs=1e-6)


# --- the round mechanism ----------------------------------------------------------------------


def test_a_job_starved_of_its_share_is_picked() -> None:
    shares = TimeShares(360.0)
    rates = {"V100": 1.0}
    fresh = [Entry(JobId("a"), 1, 1, rates, {}), Entry(JobId("b"), 2, 1, rates, {})]
    shares.reset(START, {JobId("a"): {"V100": 0.5}, JobId("b"): {"V100": 0.5}}, fresh, ["V100"])
    assert assign(fresh, ["V100"], {"V100": 1}, shares, skip_zero=False) == {"a": "V100"}
    ran = [Entry(JobId("a"), 1, 1, rates, {"V100": 720.0}), Entry(JobId("b"), 2, 1, rates, {})]
    shares.observe(ran, ["V100"])
    # a: 180 + 720 of 1080 s received -> 0.5 / (900/1080); b: 0.5 / (180/1080)
    priorities = shares.priorities(ran, ["V100"])["V100"]
    assert priorities == pytest.approx({"a": 0.6, "b": 3.0})
    assert assign(ran, ["V100"], {"V100": 1}, shares, skip_zero=False) == {"b": "V100"}


def test_fifo_skips_jobs_outside_its_allocation() -> None:
    shares = TimeShares(360.0)
    entries = [
        Entry(JobId("a"), 1, 1, {"V100": 1.0}, {}),
        Entry(JobId("b"), 2, 1, {"V100": 1.0}, {}),
    ]
    shares.reset(START, {JobId("a"): {"V100": 0.0}, JobId("b"): {"V100": 1.0}}, entries, ["V100"])
    assert assign(entries, ["V100"], {"V100": 2}, shares, skip_zero=True) == {"b": "V100"}
    assert assign(entries, ["V100"], {"V100": 2}, shares, skip_zero=False) == {
        "a": "V100",
        "b": "V100",
    }


def sim(
    jobs: Sequence[SimJob],
    clusters: tuple[ClusterView, ...],
    policy: Policy,
    restart_cost_s: float = 0.0,
) -> SimResult:
    settings = SimSettings(restart_cost_s=restart_cost_s)  # rounds: the policy's 360 s
    return Simulator(clusters, jobs, policy, start=START, settings=settings).run()


def test_max_min_time_shares_one_gpu_in_rounds() -> None:
    jobs = [SimJob(job(1), 0.0, 720.0), SimJob(job(2), 0.0, 720.0)]
    result = sim(jobs, one_gpu_pool(K80=1), GavelMaxMin(SchedulerSettings()))
    # j1 [0, 360); j2, now further below its half, [360, 720); tie again: j1 [720, 1080)
    # and done; j2 alone [1080, 1440).
    assert {o.job_id: o.finish_s for o in result.outcomes} == {"j1": 1080.0, "j2": 1440.0}


def test_a_running_job_renews_its_lease_in_place_at_no_cost() -> None:
    fast = {"V100": 3.0, "K80": 1.0}
    jobs = [SimJob(job(1), 0.0, 3000.0, fast), SimJob(job(2), 0.0, 1500.0, fast)]
    for policy in (GavelMaxMinPerf(SchedulerSettings()), GavelFifoPerf(SchedulerSettings())):
        result = sim(jobs, one_gpu_pool(V100=2), policy, restart_cost_s=50.0)
        # a restart would cost 50 s: both run uninterrupted at 3 work/s
        assert {o.job_id: o.finish_s for o in result.outcomes} == {"j1": 1000.0, "j2": 500.0}
        assert all(o.preemptions == 0 for o in result.outcomes)


# --- FIFO ---------------------------------------------------------------------------------------


def test_fifo_perf_gives_each_job_in_order_the_fastest_model_with_room() -> None:
    jobs = [job(1), job(2), job(3), job(4)]
    rates = {j.id: {"V100": 4.0, "P100": 2.0, "K80": 1.0} for j in jobs}
    snap = snapshot(jobs, one_gpu_pool(V100=1, P100=1, K80=1), rates)
    result = run_cycle(snap, GavelFifoPerf(SchedulerSettings()))
    assert models_of(result.admitted) == {"j1": "V100", "j2": "P100", "j3": "K80"}
    assert [w.job_id for w in result.waiting] == ["j4"]


def test_fifo_agnostic_draws_models_at_random_reproducibly_from_its_seed() -> None:
    jobs = [job(i) for i in range(6)]
    pool = one_gpu_pool(V100=2, P100=2, K80=2)

    def draw(seed: int) -> dict[str, str]:
        policy = GavelFifo(SchedulerSettings(seed=seed))
        return models_of(run_cycle(snapshot(jobs, pool), policy).admitted)

    assert draw(7) == draw(7)
    draws = [draw(seed) for seed in range(8)]
    assert all(len(d) == 6 for d in draws)  # the pool holds all six: every one runs
    assert len({tuple(sorted(d.items())) for d in draws}) > 1
    assert GavelFifo(SchedulerSettings(), seed=3).seed == 3


def test_fifo_agnostic_keeps_a_jobs_model_and_fifo_perf_moves_it_up() -> None:
    speed = {"V100": 4.0, "K80": 1.0}
    jobs = [SimJob(job(1), 0.0, 400.0, speed), SimJob(job(2), 0.0, 4000.0, speed)]
    pool = one_gpu_pool(V100=1, K80=1)
    # perf: j1 on V100 (done at 100 s), j2 on K80; at the next round (360 s) the new
    # allocation gives j2 the V100: it moves, pays the restart, and runs 4x faster.
    moved = sim(jobs, pool, GavelFifoPerf(SchedulerSettings()), restart_cost_s=50.0)
    by_id: dict[str, JobOutcome] = {o.job_id: o for o in moved.outcomes}
    assert by_id["j2"].preemptions == 1
    assert by_id["j2"].finish_s == pytest.approx(360 + 50 + (4000 - 360) / 4)
    # agnostic: j2 stays on the model it was given, never interrupted.
    for seed in range(4):
        kept = sim(jobs, pool, GavelFifo(SchedulerSettings(seed=seed)), restart_cost_s=50.0)
        assert all(o.preemptions == 0 for o in kept.outcomes)


# --- allocation cache and resets ----------------------------------------------------------------


class _Counting(GavelMaxMinPerf):
    calls = 0

    def allocate(
        self, entries: Sequence[Entry], models: Sequence[str], capacity: Mapping[str, int]
    ) -> Allocation:
        self.calls += 1
        return super().allocate(entries, models, capacity)


def test_the_allocation_is_recomputed_only_when_the_job_set_changes() -> None:
    pool = one_gpu_pool(V100=1)
    policy = _Counting(SchedulerSettings(), min_reset_s=1000.0)
    run_cycle(snapshot([job(1)], pool), policy)
    run_cycle(snapshot([job(1)], pool, at_s=360), policy)
    assert policy.calls == 1
    # A new job within min_reset_s waits for the next allocation, with a reason.
    late = run_cycle(snapshot([job(1), job(2)], pool, at_s=720), policy)
    assert policy.calls == 1
    (waiting,) = late.waiting
    assert waiting.job_id == "j2" and "recomputed at most every 1000 s" in waiting.reason
    run_cycle(snapshot([job(1), job(2)], pool, at_s=1080), policy)
    assert policy.calls == 2


# --- without rounds -----------------------------------------------------------------------------


def test_without_rounds_jobs_are_admitted_on_free_gpus_by_priority() -> None:
    pool = one_gpu_pool(V100=1, K80=1)
    jobs = [job(1), job(2)]
    rates = {JobId("j1"): {"V100": 1.0, "K80": 1.0}, JobId("j2"): {"V100": 5.0, "K80": 1.0}}
    result = run_cycle(
        snapshot(jobs, pool, rates, round_s=None), GavelMaxMinPerf(SchedulerSettings())
    )
    assert models_of(result.admitted) == {"j1": "K80", "j2": "V100"}


def test_without_rounds_fifo_is_strict() -> None:
    pool = one_gpu_pool(V100=2)
    busy = Resources(8_000, 65_536, {"V100": 1})
    nodes = (NodeView(ClusterId("c"), NodeId("V100-0"), busy, busy - busy), pool[0].nodes[1])
    half_full = (ClusterView(ClusterId("c"), RegionId("r"), ProviderId("p"), "sim", nodes),)
    jobs = [job(1, gpus=2), job(2)]
    result = run_cycle(snapshot(jobs, half_full, round_s=None), GavelFifoPerf(SchedulerSettings()))
    assert not result.admitted  # j1 fits the pool when empty: it holds j2 back
    fair = run_cycle(snapshot(jobs, half_full, round_s=None), GavelMaxMin(SchedulerSettings()))
    assert models_of(fair.admitted) == {"j2": "V100"}


# --- registry and end to end ----------------------------------------------------------------------


def test_gavel_policies_are_registered_as_round_policies() -> None:
    assert set(GAVEL) <= set(policy_names())
    for name in GAVEL:
        policy = get_policy(name)
        assert policy.name == name and policy.round_s == 360.0
        assert policy.append_only is False and isinstance(policy.memo, PlacementMemo)


def trace_jobs(limit: int) -> list[SimJob]:
    """The first `limit` jobs of the committed Gavel sample, steps / 20 (a short run)."""
    table = load_gavel_throughputs(DATA / "throughputs_isolated_sf1.json")
    out = []
    for i, row in enumerate(load_gavel_trace(DATA / "philly_first120.trace", limit=limit)):
        scaling: dict[str, dict[int, float]] = {}
        for model in ("V100", "P100", "K80"):
            measured = table.get(row.job_type, model, row.gpus)
            assert measured is not None
            scaling[model] = {row.gpus: measured}
        work = float(row.extra["total_steps"]) / 20
        out.append(SimJob(job(i, gpus=row.gpus), row.submit_s, work, {}, scaling))
    return out


def test_end_to_end_on_a_gavel_trace_sample() -> None:
    jobs = trace_jobs(30)
    pool = one_gpu_pool(V100=2, P100=2, K80=2)
    avg: dict[str, float] = {}
    for name in GAVEL:
        result = sim(jobs, pool, get_policy(name, SchedulerSettings(seed=1)))
        assert not result.unfinished and len(result.outcomes) == len(jobs)
        again = sim(jobs, pool, get_policy(name, SchedulerSettings(seed=1)))
        assert again == result  # deterministic
        avg[name] = sum(o.jct_s for o in result.outcomes) / len(jobs)
    assert avg["gavel_max_min_perf"] < avg["gavel_max_min"]
    assert avg["gavel_fifo_perf"] < avg["gavel_fifo"]
