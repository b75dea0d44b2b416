"""The policy interface.

A policy orders the queue (step 4) and nominates a decision for one job (step 3)
against the cycle's working state; it never mutates that state - the cycle applies
admissions (step 5). The policies themselves, and the registry by name the operator
picks from, are in `logic/scheduling/policies/`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from suanli.domain.ids import JobId
from suanli.domain.jobs import Job
from suanli.logic.scheduling.capacity import NodeKey
from suanli.logic.scheduling.decisions import Decision, Preempt
from suanli.logic.scheduling.placement import PlacementMemo
from suanli.logic.scheduling.snapshot import Snapshot
from suanli.logic.scheduling.state import CycleState, SchedulerSettings

__all__ = ["NodeKey", "Policy", "Rebalancing"]


class Policy(Protocol):
    name: str
    settings: SchedulerSettings
    memo: PlacementMemo
    """Placement filter results kept across cycles (see placement.PlacementMemo)."""
    append_only: bool
    """True when a job's decision depends only on the jobs ordered before it and on free
    capacity, and new jobs always order last (FIFO). Such a policy lets the scheduler
    decide only newly queued jobs while capacity is unchanged (`logic/scheduling/
    incremental.py`)."""
    round_s: float | None
    """Time-sharing policies that decide in rounds (Gavel, Tiresias, Themis): the round
    length the simulator runs them with (`Snapshot.round_s`, `logic/scheduling/
    rounds.py`); None for event-driven policies."""

    def order(self, snapshot: Snapshot, state: CycleState) -> Iterable[Job]:
        """Step 4: the pending jobs in the order admission should try them. May be lazy,
        reading `state` as admissions change it."""
        ...

    def nominate(self, job: Job, snapshot: Snapshot, state: CycleState) -> Decision:
        """Step 3: where `job` should go given the state, or why it must wait."""
        ...


@runtime_checkable
class Rebalancing(Protocol):
    """A policy that may also stop running jobs after the queue is decided (to resize an
    elastic job when GPUs sit idle): they are requeued and admitted again."""

    def rebalance(
        self, snapshot: Snapshot, state: CycleState, waiting: Sequence[JobId]
    ) -> list[Preempt]:
        """Preemptions of running jobs (each job's own id as `job_id` and only victim),
        given the cycle's final state and the queued jobs that still wait."""
        ...
