"""Turning a local measurement (`adapters.calibration`) into the node calibration the
metering standard stores: GPU names mapped to catalog models, per-model mean rates."""

from __future__ import annotations

import logging
from datetime import datetime

from suanli.adapters.calibration import Calibration
from suanli.domain.calibration import NodeCalibration
from suanli.domain.devices import canonical_gpu_model
from suanli.domain.errors import InvalidInput

log = logging.getLogger("suanli.calibration")


def node_calibration(c: Calibration, measured_at: datetime) -> NodeCalibration:
    """GPUs of a model the catalog does not know are left out (with a warning): they
    are not pooled either (see the local engine's detection)."""
    per_model: dict[str, list[dict[str, float]]] = {}
    for g in c.gpus:
        try:
            model = canonical_gpu_model(g.name)
        except InvalidInput:
            log.warning("measured GPU %r is not in the catalog; it is not rated", g.name)
            continue
        per_model.setdefault(model, []).append(
            {
                "fp16_bf16": max(g.fp16_tflops, g.bf16_tflops or 0.0),
                "fp32": g.fp32_tflops,
                "fp64": g.fp64_tflops,
            }
        )
    gpus = {
        model: {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}
        for model, rows in per_model.items()
    }
    return NodeCalibration(
        measured_at=measured_at,
        cores=c.cpu.cores,
        cpu_fp32_gflops=c.cpu.fp32_gflops,
        cpu_fp64_gflops=c.cpu.fp64_gflops,
        triad_gbs=c.cpu.triad_gbs,
        gpus=gpus,
    )
