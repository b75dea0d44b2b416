"""The incremental cycle decides new jobs exactly as a full cycle would."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from suanli.logic.scheduling.cycle import run_cycle
from suanli.logic.scheduling.incremental import decide
from suanli.logic.scheduling.policies import get_policy
from suanli.logic.scheduling.snapshot import Snapshot
from tests.unit.test_scheduling_cycle import clusters_st, jobs_st, snapshot


@settings(max_examples=200, deadline=None)
@given(clusters_st, jobs_st, st.integers(0, 40))
def test_incremental_matches_full(
    cluster_specs: list[list[tuple[int, int, int, str]]],
    job_specs: list[tuple[int, int, int, str, str | None]],
    split: int,
) -> None:
    policy = get_policy("fifo")
    full = snapshot(cluster_specs, job_specs)
    before = Snapshot(full.now, full.clusters, full.queue[:split])
    first, memo, _ = decide(before, policy, None)
    second, _, incremental = decide(full, policy, memo)
    expected = {d.job_id: d for d in run_cycle(full, policy).decisions()}
    if first.admitted:
        assert not incremental  # capacity would have changed: a full cycle is required
    if incremental:
        new_ids = {j.id for j in full.queue[split:]}
        got = {d.job_id: d for d in second.decisions()}
        assert set(got) == new_ids
        assert all(got[i] == expected[i] for i in new_ids)
    else:
        assert {d.job_id: d for d in second.decisions()} == expected


def test_a_changed_queue_forces_a_full_cycle() -> None:
    policy = get_policy("fifo")
    full = snapshot([[(2, 4096, 0, "T4")]], [(64, 1, 0, "T4", None), (64, 1, 0, "T4", None)])
    _, memo, _ = decide(full, policy, None)
    shrunk = Snapshot(full.now, full.clusters, full.queue[1:])
    assert decide(shrunk, policy, memo)[2] is False
    assert decide(full, policy, memo)[2] is True
