"""Sia workloads as simulator jobs: work from the artifact's validation curves, rates
from the profiled step times (tests/data/traces/sia, cut from the Sia artifact)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from suanli.adapters.traces import TraceError, load_sia_workload
from suanli.adapters.traces.sia_jobs import (
    iterations_to_finish,
    load_sia_profiles,
    sia_sim_jobs,
)
from suanli.logic.scheduling.policies.sia import RESTORE_S

DATA = Path(__file__).resolve().parents[1] / "data" / "traces" / "sia"
START = datetime(2026, 1, 1, tzinfo=UTC)


def test_iterations_come_from_the_validation_table_and_interpolate() -> None:
    assert iterations_to_finish("cifar10", 2048) == 3178
    assert iterations_to_finish("cifar10", 3072) == pytest.approx((3178 + 2011) / 2)
    assert iterations_to_finish("cifar10", 10**6) == 2011  # clamped to the largest
    with pytest.raises(TraceError, match="application"):
        iterations_to_finish("no-such-app", 64)


def test_rates_are_one_over_the_profiled_step_time() -> None:
    profiles = load_sia_profiles(DATA / "profiles", ["aws"])
    cifar = profiles[("cifar10", "T4")]
    # the sample's first rows: one GPU, local batch 32 takes 0.04279 s per step
    assert cifar.step_s(1, 4, 32) == pytest.approx(0.0427886962890625)
    # past the largest profiled local batch the job accumulates gradients: slower
    big = cifar.max_local_bsz * 2
    assert cifar.step_s(1, 4, big) is not None
    assert cifar.step_s(1, 4, big) > cifar.step_s(1, 4, cifar.max_local_bsz)  # type: ignore[operator]
    assert cifar.step_s(64, 4, 32) is None  # never profiled


def test_workload_rows_become_rigid_or_elastic_jobs() -> None:
    rows = [r for r in load_sia_workload(DATA / "philly-workload-1-first40.csv")]
    rows = [r for r in rows if r.job_type == "cifar10"][:3]
    profiles = load_sia_profiles(DATA / "profiles", ["aws", "dgx"])
    per_node = {"T4": 4, "A100-40GB": 8}
    rigid = sia_sim_jobs(rows, profiles, per_node, start=START)
    elastic = sia_sim_jobs(rows, profiles, per_node, start=START, elastic=(0.01, 2.0))
    first = rows[0]
    assert rigid[0].job.spec.gang_size == first.gpus and not rigid[0].job.spec.elastic
    assert elastic[0].job.spec.gang_range == (1, 2 * first.gpus)
    assert rigid[0].work == iterations_to_finish("cifar10", int(first.extra["batch_size"]))
    assert rigid[0].restart_s == RESTORE_S["cifar10"]
    # rates per model and GPU count are measured points (the sample profiles 1..4 GPUs)
    assert set(rigid[0].scaling) <= {"T4", "A100-40GB"} and rigid[0].scaling["T4"][1] > 0
