"""Cluster reliability scores: a Beta(9, 1) posterior mean of the success ratio."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.domain.ids import ClusterId
from suanli.logic.reliability import NEW_CLUSTER_SCORE, reliability, reliability_scores


def test_a_cluster_without_history_starts_at_the_prior_mean() -> None:
    assert pytest.approx(0.9) == NEW_CLUSTER_SCORE
    assert reliability(0, 0) == pytest.approx(0.9)
    assert reliability_scores({ClusterId("new"): (0, 0)}) == {ClusterId("new"): pytest.approx(0.9)}


def test_evidence_moves_the_score_gradually() -> None:
    assert reliability(1, 1) == pytest.approx(9 / 11)  # one early failure costs ~0.08
    assert reliability(10, 0) == pytest.approx(19 / 20)
    assert reliability(100, 1) == pytest.approx(108 / 110)
    assert reliability(100, 50) == pytest.approx(59 / 110)
    assert reliability(1000, 1000) < 0.01


def test_scores_rank_clusters_by_their_record() -> None:
    scores = reliability_scores(
        {ClusterId("steady"): (200, 2), ClusterId("new"): (0, 0), ClusterId("flaky"): (20, 8)}
    )
    assert scores[ClusterId("steady")] > scores[ClusterId("new")] > scores[ClusterId("flaky")]


def test_the_prior_can_be_chosen() -> None:
    assert reliability(0, 0, prior_ok=1, prior_failed=1) == 0.5  # Laplace's rule
    assert reliability(2, 0, prior_ok=1, prior_failed=1) == pytest.approx(3 / 4)
    with pytest.raises(ValueError, match="positive"):
        reliability(0, 0, prior_ok=0)


@pytest.mark.parametrize(("ended", "failed"), [(-1, 0), (1, -1), (1, 2)])
def test_impossible_counts_are_refused(ended: int, failed: int) -> None:
    with pytest.raises(ValueError, match="failed"):
        reliability(ended, failed)


@given(st.integers(0, 10**6).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n))))
def test_scores_lie_strictly_between_zero_and_one(counts: tuple[int, int]) -> None:
    ended, failed = counts
    score = reliability(ended, failed)
    assert 0 < score < 1
    assert reliability(ended + 1, failed) >= score  # a success never lowers it
    assert reliability(ended + 1, failed + 1) <= score  # a failure never raises it


def test_uptime_counts_outages_inside_the_window_only() -> None:
    from datetime import UTC, datetime, timedelta

    from suanli.logic.reliability import uptime

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    h = timedelta(hours=1)
    outages = [(t0 - 5 * h, t0 + h), (t0 + 5 * h, t0 + 6 * h), (t0 + 9 * h, None)]
    # window [t0, t0+10h]: 1 h + 1 h + 1 h (still open) down
    assert uptime(outages, since=t0, now=t0 + 10 * h, registered_at=t0 - 24 * h) == 0.7
    # a cluster younger than the window is judged on its age
    assert uptime([], since=t0, now=t0 + h, registered_at=t0 + 2 * h) == 1.0


def test_provider_scores_weigh_clusters_by_size() -> None:
    from suanli.logic.reliability import cluster_score, provider_scores

    scores = {ClusterId("a"): 1.0, ClusterId("b"): 0.5, ClusterId("c"): 0.8}
    providers = {ClusterId("a"): "p", ClusterId("b"): "p", ClusterId("c"): "q"}
    weights = {ClusterId("a"): 3.0, ClusterId("b"): 1.0, ClusterId("c"): 0.0}
    assert provider_scores(scores, providers, weights) == {"p": 0.875, "q": 0.8}
    assert cluster_score(None, 0.5) == NEW_CLUSTER_SCORE * 0.5
    assert cluster_score((10, 0), 1.0) == reliability(10, 0)
