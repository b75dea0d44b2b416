"""A node's measured compute (from `suanli bench`, run by its agent), as metering uses it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class NodeCalibration:
    """CPU: whole-node dense matmul GFLOPS over `cores` cores and triad GB/s. GPUs: per
    canonical model, the best measured TFLOPS per precision (fp16_bf16, fp32, fp64)."""

    measured_at: datetime
    cores: int
    cpu_fp32_gflops: float
    cpu_fp64_gflops: float
    triad_gbs: float
    gpus: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def cpu_core_tflops(self, precision: str) -> float:
        """Measured TFLOPS of one core (FP16/BF16 work on CPUs is rated at FP32)."""
        total = self.cpu_fp64_gflops if precision == "fp64" else self.cpu_fp32_gflops
        return total / max(self.cores, 1) / 1000

    def to_json(self) -> dict[str, Any]:
        return {
            "measured_at": self.measured_at.isoformat(),
            "cores": self.cores,
            "cpu_fp32_gflops": self.cpu_fp32_gflops,
            "cpu_fp64_gflops": self.cpu_fp64_gflops,
            "triad_gbs": self.triad_gbs,
            "gpus": {m: dict(v) for m, v in self.gpus.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NodeCalibration:
        return cls(
            measured_at=datetime.fromisoformat(data["measured_at"]),
            cores=int(data["cores"]),
            cpu_fp32_gflops=float(data["cpu_fp32_gflops"]),
            cpu_fp64_gflops=float(data["cpu_fp64_gflops"]),
            triad_gbs=float(data["triad_gbs"]),
            gpus={
                str(m): {str(k): float(x) for k, x in v.items()}
                for m, v in (data.get("gpus") or {}).items()
            },
        )
