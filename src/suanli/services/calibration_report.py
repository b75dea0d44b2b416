"""What a node measurement means in the metering standard (`suanli bench`)."""

from __future__ import annotations

from typing import Any

from suanli.domain.calibration import NodeCalibration
from suanli.domain.catalog import default_catalog
from suanli.domain.standard import UNIT_PER_HOUR, WorkloadClass
from suanli.domain.usage import CPU
from suanli.logic.metering.ratings import node_ratings


def rating_report(node: NodeCalibration) -> dict[str, Any]:
    """Per workload class: the rating of one core and of the whole CPU, and of each
    measured GPU model, in PFLOPS (= standard compute-hours per hour of use)."""
    out: dict[str, Any] = {"unit": UNIT_PER_HOUR, "cores": node.cores}
    for workload in WorkloadClass:
        ratings = node_ratings(default_catalog(), node, dict.fromkeys(node.gpus, 1), workload)
        core = ratings.pop(CPU) or 0.0
        out[workload.value] = {
            "cpu_core_pflops": core,
            "cpu_node_pflops": core * node.cores,
            "gpus_pflops": ratings,
        }
    return out
