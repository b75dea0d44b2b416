"""The scheduling policies, one module per policy (or family), and the registry by name
the operator picks from (`suanli up --policy NAME`, `suanli sim --policy NAME`).

The registry is written out here rather than filled by decorators as modules load: the
policy modules import the cycle's interface (`logic/scheduling/policy.py`), never this
package, so no import goes round in a circle and every name is visible in one place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from suanli.domain.errors import InvalidInput
from suanli.logic.scheduling.policies.default import SuanliPolicy
from suanli.logic.scheduling.policies.fifo import FifoFirstFit
from suanli.logic.scheduling.policies.gavel import (
    GavelFifo,
    GavelFifoPerf,
    GavelMaxMin,
    GavelMaxMinPerf,
    GavelMaxSumThroughputPerf,
)
from suanli.logic.scheduling.policies.sia import SiaPolicy
from suanli.logic.scheduling.policies.sjf import ShortestJobFirst
from suanli.logic.scheduling.policies.themis import Themis
from suanli.logic.scheduling.policies.tiresias import Tiresias
from suanli.logic.scheduling.policy import Policy
from suanli.logic.scheduling.policy_names import POLICY_NAMES
from suanli.logic.scheduling.state import SchedulerSettings

__all__ = ["POLICIES", "get_policy", "policy_names"]

PolicyFactory = Callable[[SchedulerSettings], Policy]

POLICIES: Mapping[str, PolicyFactory] = MappingProxyType(
    {
        "suanli": SuanliPolicy,
        "fifo": FifoFirstFit,
        "sjf": ShortestJobFirst,
        "tiresias": Tiresias,
        "themis": Themis,
        "gavel_fifo": GavelFifo,
        "gavel_fifo_perf": GavelFifoPerf,
        "gavel_max_min": GavelMaxMin,
        "gavel_max_min_perf": GavelMaxMinPerf,
        "gavel_max_sum_throughput_perf": GavelMaxSumThroughputPerf,
        "sia": SiaPolicy,
    }
)
"""Every policy by the name configuration uses (each class's `name`)."""
assert tuple(POLICIES) == POLICY_NAMES, "policy_names.py lists the registry's names"


def policy_names() -> list[str]:
    return sorted(POLICIES)


def get_policy(
    name: str, settings: SchedulerSettings | None = None, *, rounds: bool = True
) -> Policy:
    """Instantiate the policy registered as `name`; the error lists the valid names.
    `rounds=False`: a time-sharing policy (Gavel, Tiresias, Themis) in its event-driven
    form, as the live scheduler runs it: it orders and admits pending jobs at every
    cycle and suspends nobody at round boundaries (docs/simulator.md says what differs)."""
    factory = POLICIES.get(name)
    if factory is None:
        raise InvalidInput(
            f"Unknown scheduling policy {name!r}.",
            field="policy",
            hint=f"use one of: {', '.join(policy_names())}.",
        )
    policy = factory(settings or SchedulerSettings())
    if not rounds:
        policy.round_s = None
    return policy
