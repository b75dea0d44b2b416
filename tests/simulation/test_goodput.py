"""The goodput arithmetic (Pollux/Sia) and the simulator's exact integration of a rate
that changes with progress."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from itertools import pairwise

import pytest

from suanli.domain.ids import ClusterId, JobId, NodeId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.jobs import Job, JobSpec, JobStatus
from suanli.domain.resources import Resources
from suanli.logic.scheduling.policies import get_policy
from suanli.logic.scheduling.snapshot import ClusterView, NodeView
from suanli.logic.simulation.engine import SimSettings, Simulator
from suanli.logic.simulation.goodput import (
    GradStats,
    efficiency,
    gain,
    geomspace,
    split_batch,
)
from suanli.logic.simulation.jobs import SimJob, advance, seconds_to

NOISY = GradStats(sqr=1.0, var=9.0)
QUIET = GradStats(sqr=1.0, var=0.1)
START = datetime(2026, 1, 1, tzinfo=UTC)


def test_gain_is_one_at_the_initial_batch_and_at_most_the_scale() -> None:
    assert gain(128, 128, NOISY) == pytest.approx(1.0)
    for batch in (256, 1024, 4096):
        g = gain(batch, 128, NOISY)
        assert 1.0 < g <= batch / 128
        # noisier gradients make large batches more worth it
        assert g > gain(batch, 128, QUIET)
    assert efficiency(128, 128, QUIET) == pytest.approx(1.0)
    assert efficiency(4096, 128, QUIET) < efficiency(256, 128, QUIET) < 1.0


def test_a_batch_is_split_as_the_artifact_splits_it() -> None:
    # one GPU above the initial batch accumulates at least once (two micro-steps)
    s = split_batch(256, 1, 1024, 128, whole_local=True)
    assert (s.atomic, s.accum) == (128, 1)
    # past a GPU's memory: as few micro-steps as fit
    s = split_batch(4096, 2, 1024, 128, whole_local=True)
    assert (s.atomic, s.accum) == (1024, 1)
    assert s.batch(2) == 4096
    s = split_batch(1000, 3, 1024, 128, whole_local=True)
    assert (s.atomic, s.accum) == (334, 0)


def test_geomspace_has_exact_ends_and_even_ratios() -> None:
    points = geomspace(128, 4096, 6)
    assert points[0] == 128 and points[-1] == 4096
    ratios = [b / a for a, b in pairwise(points)]
    assert all(r == pytest.approx(2.0) for r in ratios)


class Steps:
    """A rate of 2 work/s until 10 work, then 1 work/s (an epoch boundary at 10)."""

    def rate(self, model: str, gpus: int, done: float) -> float:
        return (2.0 if done < 10 else 1.0) * gpus

    def boundary(self, done: float) -> float:
        return 10.0 if done < 10 else math.inf


def test_a_piecewise_rate_is_integrated_exactly() -> None:
    curve = Steps()
    assert seconds_to(curve, "T4", 1, 0.0, 30.0) == pytest.approx(5 + 20)
    assert seconds_to(curve, "T4", 2, 4.0, 30.0) == pytest.approx(1.5 + 10)
    assert advance(curve, "T4", 1, 0.0, 7.0, 30.0) == pytest.approx(12.0)
    assert advance(curve, "T4", 1, 0.0, 99.0, 30.0) == 30.0


def test_the_simulator_finishes_a_curved_job_when_its_integral_says() -> None:
    cap = Resources(8000, 8192, {"T4": 1})
    cid = ClusterId("c")
    pool = (
        ClusterView(
            cid, RegionId("r"), ProviderId("p"), "sim", (NodeView(cid, NodeId("n"), cap, cap),)
        ),
    )
    spec = JobSpec.create(command=["x"], resources=Resources.request(cpus=1, gpus={"T4": 1}))
    job = Job(JobId("j"), TenantId("t"), UserId("t"), spec, JobStatus.PENDING, START, seq=1)
    sim_job = SimJob(job, 0.0, 30.0, speed={"T4": 2.0}, restart_s=7.0, curve=Steps())
    settings = SimSettings(restore_at_first_start=True)
    result = Simulator(pool, [sim_job], get_policy("fifo"), start=START, settings=settings).run()
    (outcome,) = result.outcomes
    assert outcome.finish_s == pytest.approx(7.0 + 5.0 + 20.0)
