"""How reliable a cluster has been: how much of a recent window it was reachable (its
heartbeat uptime) times the share of its recent attempts that it did not fail, smoothed
so that a handful of attempts cannot swing it to 0 or 1 (as Vast.ai rates hosts on
uptime and failed jobs). A provider's score is its clusters', weighted by their GPUs
(cores where they have none).

Uptime: 1 - (time inside the window the cluster was UNREACHABLE: from its last heartbeat
until it came back) / (the window, or the cluster's age if younger). Outages are recorded
by the dispatcher (deadline missed) and closed by the agent's next register/heartbeat.

Input per cluster is `(ended, failed)` from `JobRepo.attempt_outcomes(since)`: attempts
that ended in the window, and of those how many the engine or the cluster failed (LOST,
or FAILED with no exit code). A user's program failing (FAILED with an exit code),
cancellation and preemption are not the cluster's fault and count as successes.

The score is the mean of the Beta posterior over the success probability,

    score = (ok + PRIOR_OK) / (ended + PRIOR_OK + PRIOR_FAILED),  ok = ended - failed,

with a Beta(9, 1) prior: a cluster with no history scores 0.9 (`NEW_CLUSTER_SCORE`), a
little below an established good cluster (typically 0.97 or more) and well above a flaky
one, so new capacity still gets work and earns a record. The prior weighs as much as
ten attempts: after ten real ones the record counts as much as the prior, and one early
failure costs a new cluster about 0.08, not 1.0. Scores lie in (0, 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from suanli.domain.ids import ClusterId

PRIOR_OK = 9.0
"""Pseudo-attempts that succeeded, before any evidence."""
PRIOR_FAILED = 1.0
"""Pseudo-attempts that the cluster failed, before any evidence."""
NEW_CLUSTER_SCORE = PRIOR_OK / (PRIOR_OK + PRIOR_FAILED)
"""The score of a cluster with no ended attempt in the window (0.9)."""
DEFAULT_WINDOW = timedelta(days=7)
"""A suggested look-back for `attempt_outcomes(since=now - DEFAULT_WINDOW)`: long enough
for a steady record, short enough that a repaired cluster recovers within a week."""


def reliability(
    ended: int, failed: int, *, prior_ok: float = PRIOR_OK, prior_failed: float = PRIOR_FAILED
) -> float:
    """The smoothed success ratio of one cluster (see the module docstring)."""
    if ended < 0 or failed < 0 or failed > ended:
        raise ValueError(f"need 0 <= failed <= ended, got ended={ended}, failed={failed}")
    if prior_ok <= 0 or prior_failed <= 0:
        raise ValueError("the prior's pseudo-counts must be positive")
    return (ended - failed + prior_ok) / (ended + prior_ok + prior_failed)


def reliability_scores(
    outcomes: Mapping[ClusterId, tuple[int, int]],
    *,
    prior_ok: float = PRIOR_OK,
    prior_failed: float = PRIOR_FAILED,
) -> dict[ClusterId, float]:
    """Score every cluster in `outcomes` (`(ended, failed)` each). A cluster that is not
    in `outcomes` has no record: score it `NEW_CLUSTER_SCORE` (or the prior's mean)."""
    return {
        cluster: reliability(ended, failed, prior_ok=prior_ok, prior_failed=prior_failed)
        for cluster, (ended, failed) in outcomes.items()
    }


def uptime(
    outages: Sequence[tuple[datetime, datetime | None]],
    *,
    since: datetime,
    now: datetime,
    registered_at: datetime,
) -> float:
    """Share of [max(since, registered_at), now] the cluster was reachable; an outage
    still open (ended None) lasts until `now`. 1.0 for an empty window."""
    start = max(since, registered_at)
    span = (now - start).total_seconds()
    if span <= 0:
        return 1.0
    down = 0.0
    for began, ended in outages:
        lo, hi = max(began, start), min(ended or now, now)
        if hi > lo:
            down += (hi - lo).total_seconds()
    return max(0.0, 1.0 - min(down, span) / span)


def cluster_score(outcomes: tuple[int, int] | None, up: float) -> float:
    """The combined score: uptime times the smoothed success ratio of its attempts
    (`NEW_CLUSTER_SCORE` without any)."""
    ok = reliability(*outcomes) if outcomes is not None else NEW_CLUSTER_SCORE
    return up * ok


def provider_scores(
    scores: Mapping[ClusterId, float],
    provider_of: Mapping[ClusterId, str],
    weight_of: Mapping[ClusterId, float],
) -> dict[str, float]:
    """Each provider's clusters' scores, averaged with the given weights (GPUs, or cores);
    clusters of weight 0 count as 1."""
    sums: dict[str, tuple[float, float]] = {}
    for cluster, score in scores.items():
        provider = provider_of[cluster]
        w = weight_of.get(cluster) or 1.0
        total, weights = sums.get(provider, (0.0, 0.0))
        sums[provider] = (total + w * score, weights + w)
    return {p: total / weights for p, (total, weights) in sums.items()}
