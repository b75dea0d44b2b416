"""The policy interface and the registry of policies by name.

A policy orders the queue and nominates a placement for one job against the capacity
still free in this cycle. It never mutates anything; the cycle applies its decisions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from suanli.domain.errors import InvalidInput
from suanli.domain.ids import ClusterId, NodeId
from suanli.domain.jobs import Job
from suanli.domain.resources import Resources
from suanli.logic.scheduling.decisions import Decision
from suanli.logic.scheduling.snapshot import Snapshot

NodeKey = tuple[ClusterId, NodeId]
FreeCapacity = Mapping[NodeKey, Resources]
"""Free resources per (cluster, node) after the admissions made so far in this cycle."""


class Policy(Protocol):
    name: str
    append_only: bool
    """True when a job's decision depends only on the jobs ordered before it and on free
    capacity, and new jobs always order last (FIFO). Such a policy lets the scheduler
    decide only newly queued jobs while capacity is unchanged (`logic/scheduling/
    incremental.py`)."""

    def order(self, snapshot: Snapshot) -> Sequence[Job]:
        """Step 4: the pending jobs in the order admission should try them."""
        ...

    def nominate(self, job: Job, snapshot: Snapshot, free: FreeCapacity) -> Decision:
        """Step 3: where `job` should go given `free`, or why it must wait."""
        ...


_REGISTRY: dict[str, Callable[[], Policy]] = {}


def register_policy(name: str) -> Callable[[Callable[[], Policy]], Callable[[], Policy]]:
    """Class decorator: make a policy available by `name` in configuration."""

    def wrap(factory: Callable[[], Policy]) -> Callable[[], Policy]:
        _REGISTRY[name] = factory
        return factory

    return wrap


def policy_names() -> list[str]:
    return sorted(_REGISTRY)


def get_policy(name: str) -> Policy:
    """Instantiate the policy registered as `name`; the error lists the valid names."""
    # Import here so that registering modules load before the first lookup.
    import suanli.logic.scheduling.fifo  # noqa: F401

    if name not in _REGISTRY:
        raise InvalidInput(
            f"Unknown scheduling policy {name!r}.",
            field="policy",
            hint=f"use one of: {', '.join(policy_names())}.",
        )
    return _REGISTRY[name]()
