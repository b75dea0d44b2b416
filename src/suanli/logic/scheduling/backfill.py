"""EASY backfill: a reservation for the first job that cannot start, and the limits that
keep later jobs from delaying it.

The reservation is the earliest time at which the job fits on some candidate cluster if
every job holding resources there ends at its time limit (jobs without a limit are never
counted on to end), on the nodes it would then use. Later jobs may still start now:
anywhere, if their own time limit ends before the reservation starts; otherwise only
within each reserved node's *slack*: what will be free there at the reservation's start
beyond what the reservation needs. So backfilled jobs never delay the reservation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from suanli.domain.ids import ClusterId, JobId
from suanli.domain.jobs import Placement
from suanli.domain.resources import Resources
from suanli.logic.scheduling.capacity import NodeKey, place_on


@dataclass(frozen=True, slots=True)
class Release:
    """Resources that a holding job gives back on one node at `at`."""

    at: datetime
    key: NodeKey
    allocation: Resources


@dataclass(frozen=True, slots=True)
class Reservation:
    job_id: JobId
    cluster_id: ClusterId
    start: datetime
    placements: tuple[Placement, ...]
    limits: Mapping[NodeKey, Resources]
    """Per reserved node: what jobs still running at `start` may take there."""


def earliest_start(
    cluster_id: ClusterId,
    keys: Sequence[NodeKey],
    free: Mapping[NodeKey, Resources],
    releases: Sequence[Release],
    member: Resources,
    members: int,
    now: datetime,
) -> tuple[datetime, tuple[Placement, ...], dict[NodeKey, Resources]] | None:
    """The earliest time the gang fits in the cluster given `releases` (any order), with
    its placements and the free capacity at that time; None if it never does."""
    known = set(keys)
    # a holder may sit on a node the cluster no longer reports: it frees nothing here
    timeline = sorted((r for r in releases if r.key in known), key=lambda r: r.at)

    def free_after(p: int) -> dict[NodeKey, Resources]:
        view = {k: free[k] for k in keys}
        for r in timeline[:p]:
            view[r.key] = view[r.key] + r.allocation
        return view

    if place_on(free_after(len(timeline)), keys, member, members) is None:
        return None
    # fitting is monotone in the number of releases: binary search the shortest prefix,
    # then extend it to every release at the same instant
    lo, hi = 0, len(timeline)
    while lo < hi:
        mid = (lo + hi) // 2
        if place_on(free_after(mid), keys, member, members) is None:
            lo = mid + 1
        else:
            hi = mid
    start = timeline[lo - 1].at if lo else now
    while lo < len(timeline) and timeline[lo].at <= start:
        lo += 1
    view = free_after(lo)
    placed = place_on(view, keys, member, members)
    assert placed is not None
    return max(start, now), placed, view


def limits_for(
    cluster_id: ClusterId,
    placements: Sequence[Placement],
    free_at_start: Mapping[NodeKey, Resources],
) -> dict[NodeKey, Resources]:
    return {
        (cluster_id, p.node_id): free_at_start[(cluster_id, p.node_id)] - p.allocation
        for p in placements
    }
