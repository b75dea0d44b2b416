"""The literature policies (sjf, tiresias, themis) through the simulator: hand-computed
histories on one- and two-GPU pools, their rankings on hand-made snapshots, behaviour
without rounds, determinism, and a mixed random workload that every policy finishes."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from suanli.domain.errors import InvalidInput
from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.jobs import Job, JobSpec, JobStatus
from suanli.domain.resources import Resources
from suanli.logic.scheduling.policies import get_policy, policy_names
from suanli.logic.scheduling.policies.sjf import ShortestJobFirst
from suanli.logic.scheduling.policies.themis import Themis
from suanli.logic.scheduling.policies.tiresias import Tiresias
from suanli.logic.scheduling.policy import Policy
from suanli.logic.scheduling.snapshot import ClusterView, JobProgress, NodeView, Snapshot
from suanli.logic.scheduling.state import CycleState, SchedulerSettings
from suanli.logic.simulation.engine import SimResult, SimSettings, Simulator
from suanli.logic.simulation.jobs import SimJob

START = datetime(2026, 1, 1, tzinfo=UTC)
LITERATURE = ("sjf", "tiresias", "themis")


def cluster(i: int, model: str, gpus: int) -> ClusterView:
    cid = ClusterId(f"c{i}")
    cap = Resources(64_000, 262_144, {model: gpus})
    return ClusterView(
        cid, RegionId("r"), ProviderId("p"), "sim", (NodeView(cid, NodeId("n0"), cap, cap),)
    )


def pool(**models: int) -> tuple[ClusterView, ...]:
    """One cluster per model, one node each with that many GPUs."""
    return tuple(cluster(i, m, n) for i, (m, n) in enumerate(models.items()))


def make_job(
    i: int,
    gpus: int = 1,
    *,
    model: str = "any",
    gang: int = 1,
    time_limit_s: int | None = None,
    submitted: datetime = START,
    status: JobStatus = JobStatus.PENDING,
) -> Job:
    spec = JobSpec.create(
        command=["sim"],
        resources=Resources.request(cpus=1, memory_mb=1024, gpus={model: gpus}),
        gang_size=gang,
        time_limit_s=time_limit_s,
    )
    return Job(JobId(f"j{i}"), TenantId("t"), UserId("u"), spec, status, submitted, seq=i)


def sim_job(
    i: int,
    arrival: float,
    work: float,
    gpus: int = 1,
    *,
    speed: dict[str, float] | None = None,
    gang: int = 1,
    model: str = "any",
) -> SimJob:
    return SimJob(make_job(i, gpus, model=model, gang=gang), arrival, work, speed or {})


def simulate(
    jobs: list[SimJob],
    clusters: tuple[ClusterView, ...],
    policy: Policy,
    *,
    restart_cost_s: float = 30.0,
) -> SimResult:
    settings = SimSettings(min_gap_s=0.0, restart_cost_s=restart_cost_s)
    return Simulator(clusters, jobs, policy, start=START, settings=settings).run()


def finish(result: SimResult) -> dict[str, float]:
    return {o.job_id: o.finish_s for o in result.outcomes}


def preemptions(result: SimResult) -> dict[str, int]:
    return {o.job_id: o.preemptions for o in result.outcomes}


def test_the_policies_are_registered_with_their_rounds() -> None:
    assert set(LITERATURE) <= set(policy_names())
    rounds = {name: get_policy(name).round_s for name in LITERATURE}
    assert rounds == {"sjf": None, "tiresias": 360.0, "themis": 600.0}


# --- SJF ---------------------------------------------------------------------------


def test_sjf_runs_the_shortest_waiting_job_next_and_preempts_nobody() -> None:
    jobs = [sim_job(1, 0, 100), sim_job(2, 10, 500), sim_job(3, 20, 50)]
    result = simulate(jobs, pool(T4=1), get_policy("sjf"))
    # j1 runs 0-100 (non-preemptive); then j3 (50) before j2 (500): 100-150, 150-650
    assert finish(result) == {"j1": 100.0, "j3": 150.0, "j2": 650.0}
    assert set(preemptions(result).values()) == {0}


def test_sjf_lets_a_job_that_fits_pass_a_shorter_one_that_does_not() -> None:
    jobs = [sim_job(1, 0, 1000), sim_job(2, 1, 10, gpus=2), sim_job(3, 2, 100)]
    result = simulate(jobs, pool(T4=2), get_policy("sjf"))
    # j2 (2 GPUs) cannot start while j1 holds one; j3 does not wait behind it: 2-102.
    # j2 starts when j1 ends: 1000-1010.
    assert finish(result) == {"j1": 1000.0, "j3": 102.0, "j2": 1010.0}


def test_sjf_places_a_job_on_its_fastest_model() -> None:
    jobs = [sim_job(1, 0, 400, speed={"T4": 1.0, "A100": 4.0})]
    assert finish(simulate(jobs, pool(T4=1, A100=1), get_policy("sjf"))) == {"j1": 100.0}


def test_sjf_ranks_by_time_limit_when_remaining_work_is_unknown() -> None:
    jobs = [
        make_job(1, time_limit_s=500),
        make_job(2),
        make_job(3, time_limit_s=100),
        make_job(4, time_limit_s=300),
        make_job(5),
    ]
    # the oracle, where known, overrides the limit: j4 has 50 s of work left
    progress = {JobId("j4"): JobProgress(remaining_work=50.0)}
    snapshot = Snapshot(START, pool(T4=1), tuple(jobs), progress=progress)
    policy = ShortestJobFirst(SchedulerSettings())
    ranked = policy.order(snapshot, CycleState(snapshot, policy.settings))
    assert [j.id for j in ranked] == ["j4", "j3", "j1", "j2", "j5"]


# --- Tiresias ----------------------------------------------------------------------


def test_tiresias_lets_a_new_job_preempt_one_demoted_past_the_threshold() -> None:
    jobs = [sim_job(1, 0, 10_000), sim_job(2, 4000, 100)]
    result = simulate(jobs, pool(T4=1), Tiresias(SchedulerSettings()))
    # Rounds of 360 s. j1 passes 3,250 GPU-s by the round at 3600 (Q1). j2 arrives at
    # 4000 (Q0) and takes the GPU at the next round, 4320: done at 4420. j1 resumes at
    # the round after, 4680, with the 30 s restart and 10,000 - 4,320 s of work left.
    assert finish(result) == {"j2": 4420.0, "j1": 4680.0 + 30.0 + 5680.0}
    assert preemptions(result) == {"j2": 0, "j1": 1}


def test_tiresias_does_not_preempt_within_a_queue() -> None:
    jobs = [sim_job(1, 0, 1000), sim_job(2, 100, 100)]
    result = simulate(jobs, pool(T4=1), Tiresias(SchedulerSettings()))
    # both in Q0, j1 running: it keeps the GPU to 1000; j2 starts at the round at 1080
    assert finish(result) == {"j1": 1000.0, "j2": 1180.0}
    assert set(preemptions(result).values()) == {0}


def test_tiresias_promotes_a_starving_job_back_to_the_first_queue() -> None:
    # j1 runs 0-7200 and drops to the last queue (7,200 GPU-s); j2 (long) arrives at 7200,
    # runs through Q0 and Q1 and reaches the last queue at 14400, where, running, it
    # stays ahead of the waiting j1.
    jobs = [sim_job(1, 0, 10_000), sim_job(2, 7200, 30_000)]
    plain = simulate(jobs, pool(T4=1), Tiresias(SchedulerSettings()))
    # Without the knob j1 waits for j2 to end (37200); it resumes at the round at 37440.
    assert finish(plain) == {"j2": 37_200.0, "j1": 37_440.0 + 30.0 + 2800.0}
    knob = simulate(jobs, pool(T4=1), Tiresias(SchedulerSettings(), promote_knob=0.97))
    # With the knob j1, having run 7200 s, goes back to Q0 once it has waited 0.97 x that:
    # at the round at 14400 (7200 s waited; 6840 at 14040 was short). It preempts j2 and
    # ends at 14400 + 30 + 2800; j2 resumes at the round at 17280 with 22,800 s left.
    assert finish(knob) == {"j1": 17_230.0, "j2": 17_280.0 + 30.0 + 22_800.0}
    assert preemptions(knob) == {"j1": 1, "j2": 1}


def test_a_running_job_keeps_its_placement_when_a_new_winner_fits_elsewhere() -> None:
    clusters = (cluster(0, "T4", 1), cluster(1, "T4", 1))
    jobs = [sim_job(1, 0, 5000), sim_job(2, 4000, 100)]
    result = simulate(jobs, clusters, Tiresias(SchedulerSettings()))
    # j2 (Q0) outranks j1 (Q1) at 4320, but takes the free cluster: j1 is not moved
    assert finish(result) == {"j1": 5000.0, "j2": 4420.0}
    assert set(preemptions(result).values()) == {0}


def test_tiresias_rejects_bad_parameters() -> None:
    with pytest.raises(InvalidInput):
        Tiresias(SchedulerSettings(), thresholds=(7200.0, 3250.0))
    with pytest.raises(InvalidInput):
        Tiresias(SchedulerSettings(), promote_knob=0.0)


# --- Themis ------------------------------------------------------------------------


def test_themis_leases_the_gpu_to_the_worst_finish_time_fairness() -> None:
    jobs = [sim_job(1, 0, 1800), sim_job(2, 100, 6000), sim_job(3, 100, 600)]
    result = simulate(jobs, pool(T4=1), Themis(SchedulerSettings()), restart_cost_s=0.0)
    # Round at 600, N = 3 on 1 GPU (T_ideal = 3 x run time):
    #   j1 (600 done, 1200 left) rho = 1800/5400 = 0.33; j2 = 6500/18000 = 0.36;
    #   j3 = 1100/1800 = 0.61 -> j3 (the only bidder with f = 0.8) runs 600-1200.
    # Round at 1200, N = 2: j1 = 2400/3600 = 0.67 > j2 = 7100/12000 = 0.59 -> j1 to 2400.
    assert finish(result) == {"j3": 1200.0, "j1": 2400.0, "j2": 8400.0}
    assert preemptions(result) == {"j3": 0, "j1": 1, "j2": 0}


def test_the_fairness_knob_trades_the_worst_rho_for_the_auction_gain() -> None:
    now = START + timedelta(seconds=10_000)
    old = make_job(1, submitted=START)
    young = make_job(2, submitted=now - timedelta(seconds=100))
    progress = {
        old.id: JobProgress(remaining_work=9000.0),
        young.id: JobProgress(remaining_work=100.0),
    }
    snapshot = Snapshot(now, pool(T4=1), (old, young), progress=progress, round_s=600.0)
    fair = Themis(SchedulerSettings())
    # N = 2 on 1 GPU: rho(old) = (10000 + 9000) / (2 x 9000), rho(young) = 200 / 200
    assert fair.rho(old, snapshot) == pytest.approx(19_000 / 18_000)
    assert fair.rho(young, snapshot) == pytest.approx(1.0)
    state = CycleState(snapshot, fair.settings)
    assert [j.id for j in fair.order(snapshot, state)] == ["j1", "j2"]
    # f = 0: both bid; running the young job gains log(800/200), the old one log(19600/19000)
    efficient = Themis(SchedulerSettings(), fairness=0.0)
    assert [j.id for j in efficient.order(snapshot, state)] == ["j2", "j1"]
    with pytest.raises(InvalidInput):
        Themis(SchedulerSettings(), fairness=1.0)


# --- all ---------------------------------------------------------------------------


def event_driven(name: str) -> Policy:
    if name == "tiresias":
        return Tiresias(SchedulerSettings(), round_s=None)
    if name == "themis":
        return Themis(SchedulerSettings(), round_s=None)
    return get_policy(name)


@pytest.mark.parametrize("name", LITERATURE)
def test_without_rounds_a_policy_orders_and_admits_but_preempts_nobody(name: str) -> None:
    jobs = [sim_job(1, 0, 1000), sim_job(2, 5, 10), sim_job(3, 6, 20)]
    result = simulate(jobs, pool(T4=1), event_driven(name))
    assert result.cycles > 0 and not result.unfinished
    assert finish(result)["j1"] == 1000.0
    assert set(preemptions(result).values()) == {0}


def mixed_workload(seed: int, n: int = 50) -> list[SimJob]:
    rng = random.Random(seed)
    jobs: list[SimJob] = []
    t = 0.0
    for i in range(n):
        t += rng.expovariate(1 / 300)
        gpus = rng.choice((1, 1, 1, 2, 4))
        gang = 2 if gpus == 2 and rng.random() < 0.3 else 1
        speed = {"T4": 1.0, "A100": rng.uniform(1.5, 3.5)}
        model = "T4" if rng.random() < 0.1 else "any"
        work = rng.lognormvariate(7.5, 1.2)
        jobs.append(sim_job(i, t, work, gpus, speed=speed, gang=gang, model=model))
    return jobs


@pytest.mark.parametrize("name", LITERATURE)
def test_every_policy_finishes_a_mixed_workload_and_repeats_itself(name: str) -> None:
    jobs = mixed_workload(seed=5)
    clusters = pool(T4=8, A100=4)
    a = simulate(jobs, clusters, get_policy(name))
    assert not a.unfinished and len(a.outcomes) == len(jobs)
    assert all(o.finish_s >= o.first_start_s >= o.arrival_s for o in a.outcomes)
    b = simulate(jobs, clusters, get_policy(name))
    assert a == b
