"""Ratings: how many PFLOPS one unit of a node's hardware counts for, per workload class.

rating = published peak in the class's precision x efficiency, where efficiency is the
node's measured throughput over that peak (capped at 1) when the node was calibrated,
else the catalog's reference efficiency. A device the catalog does not know is rated by
its measurement alone; with neither, it has no rating (its usage is still recorded in
device-seconds, and reported as unrated). CPUs are rated per core from the node's
measurement; AI work on CPUs is rated at FP32.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from suanli.domain.calibration import NodeCalibration
from suanli.domain.catalog import Catalog, default_catalog
from suanli.domain.standard import WorkloadClass
from suanli.domain.usage import CPU, GPU_PREFIX


def standard_units(quantity: float, milliseconds: float, rating: float | None) -> float | None:
    """Standard compute-hours (SCH) of `quantity` devices (or cores) held for
    `milliseconds` at `rating` PFLOPS each: the one formula of the metering standard,
    used for every usage record and in simulation. None when the hardware is unrated."""
    return quantity * milliseconds * rating / 3_600_000 if rating is not None else None


@cache
def reference_rating_pflops(model: str, workload: WorkloadClass = WorkloadClass.AI) -> float | None:
    """PFLOPS of one device of a GPU model in a workload class at the catalog's reference
    efficiency (no measurement): how a device is rated wherever no node measured it (the
    simulator, the exchange's SCH conversions, fair-share weights). None: the catalog
    cannot rate it."""
    return device_rating_pflops(default_catalog(), model, workload, None)


def device_rating_pflops(
    catalog: Catalog, model: str, workload: WorkloadClass, measured_tflops: float | None
) -> float | None:
    spec = catalog.get(model)
    peak = spec.peak_tflops(workload) if spec else None
    if peak is None:
        return measured_tflops / 1000 if measured_tflops else None
    efficiency = (
        (min(1.0, measured_tflops / peak) if measured_tflops else spec.reference_efficiency)
        if spec
        else 1.0
    )
    return peak * efficiency / 1000


def _measured_gpu(calibration: NodeCalibration | None, model: str, precision: str) -> float | None:
    if calibration is None:
        return None
    rates = calibration.gpus.get(model, {})
    if precision == "fp16_bf16":
        return rates.get("fp16_bf16") or rates.get("fp32")
    return rates.get(precision)


def node_ratings(
    catalog: Catalog,
    calibration: NodeCalibration | None,
    gpus: Mapping[str, int],
    workload: WorkloadClass,
) -> dict[str, float | None]:
    """Rating per dimension (``cpu`` per core, ``gpu:MODEL`` per device) on one node."""
    precision = workload.precision
    ratings: dict[str, float | None] = {
        CPU: calibration.cpu_core_tflops(precision) / 1000 if calibration else None
    }
    for model in gpus:
        measured = _measured_gpu(calibration, model, precision)
        ratings[GPU_PREFIX + model] = device_rating_pflops(catalog, model, workload, measured)
    return ratings
