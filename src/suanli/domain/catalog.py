"""The device catalog: published peak throughput of accelerators and CPUs.

Rows come from the data file `devices.json` shipped in this package (docs/
metering-catalog.md lists them with their sources). Reading a constant data file that
ships with the code is treated like importing a constant: the catalog is loaded once
and is immutable. All figures are dense (no sparsity), per device (one GPU or NPU die,
or one CPU socket), in TFLOPS (INT8 in TOPS).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from suanli.domain.standard import WorkloadClass


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    model: str
    name: str
    vendor: str
    kind: str
    """gpu, npu or cpu"""
    aliases: tuple[str, ...]
    fp64_tflops: float | None
    fp32_tflops: float | None
    tf32_tflops: float | None
    fp16_bf16_tflops: float | None
    int8_tops: float | None
    memory_gb: float | None
    memory_bandwidth_gbs: float | None
    cores: int | None
    reference_efficiency: float
    source: str
    notes: str = ""

    def peak_tflops(self, workload: WorkloadClass) -> float | None:
        """Peak in the class's precision. A device without that precision (e.g. no
        FP16 units) is rated at its best higher precision: FP16 work runs in FP32."""
        order = {
            WorkloadClass.AI: (self.fp16_bf16_tflops, self.fp32_tflops, self.fp64_tflops),
            WorkloadClass.GENERAL: (self.fp32_tflops, self.fp64_tflops),
            WorkloadClass.HPC: (self.fp64_tflops,),
        }[workload]
        return next((v for v in order if v is not None), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "name": self.name,
            "vendor": self.vendor,
            "kind": self.kind,
            "aliases": list(self.aliases),
            "fp64_tflops": self.fp64_tflops,
            "fp32_tflops": self.fp32_tflops,
            "tf32_tflops": self.tf32_tflops,
            "fp16_bf16_tflops": self.fp16_bf16_tflops,
            "int8_tops": self.int8_tops,
            "memory_gb": self.memory_gb,
            "memory_bandwidth_gbs": self.memory_bandwidth_gbs,
            "cores": self.cores,
            "reference_efficiency": self.reference_efficiency,
            "source": self.source,
            "notes": self.notes,
        }


@dataclass(frozen=True, slots=True)
class TraceModel:
    trace: str
    name: str
    model: str | None
    note: str


def normalise_name(raw: str) -> str:
    """Upper-case, vendor prefix dropped, spaces and underscores as '-'."""
    text = raw.strip().upper()
    text = re.sub(r"^(NVIDIA|TESLA|HUAWEI|AMD|INTEL)[\s_-]+", "", text)
    text = re.sub(r"^(TESLA|GEFORCE|QUADRO|INSTINCT)[\s_-]+", "", text)
    return re.sub(r"[\s_]+", "-", text)


class Catalog:
    def __init__(self, devices: list[DeviceSpec], trace_models: list[TraceModel]) -> None:
        self._by_model = {d.model: d for d in devices}
        self._alias: dict[str, str] = {}
        for d in devices:
            for name in (d.model, *d.aliases):
                self._alias[normalise_name(name)] = d.model
        self.trace_models = tuple(trace_models)

    def __iter__(self) -> Iterator[DeviceSpec]:
        return iter(self._by_model.values())

    def __len__(self) -> int:
        return len(self._by_model)

    def get(self, model: str) -> DeviceSpec | None:
        return self._by_model.get(model)

    def resolve(self, raw: str) -> str | None:
        """Canonical model for a user- or driver-supplied name, or None. Names such as
        nvidia-smi's "A100-SXM4-80GB-XYZ" match by their longest known prefix."""
        text = normalise_name(raw)
        if text in self._alias:
            return self._alias[text]
        parts = text.split("-")
        for end in range(len(parts) - 1, 0, -1):
            candidate = "-".join(parts[:end])
            if candidate in self._alias:
                return self._alias[candidate]
        return None

    def models(self, *, kinds: tuple[str, ...] = ("gpu", "npu", "cpu")) -> list[str]:
        return sorted(d.model for d in self if d.kind in kinds)


def catalog_from_json(data: Mapping[str, Any]) -> Catalog:
    devices = [
        DeviceSpec(
            model=row["model"],
            name=row["name"],
            vendor=row["vendor"],
            kind=row["kind"],
            aliases=tuple(row.get("aliases") or ()),
            fp64_tflops=row.get("fp64_tflops"),
            fp32_tflops=row.get("fp32_tflops"),
            tf32_tflops=row.get("tf32_tflops"),
            fp16_bf16_tflops=row.get("fp16_bf16_tflops"),
            int8_tops=row.get("int8_tops"),
            memory_gb=row.get("memory_gb"),
            memory_bandwidth_gbs=row.get("memory_bandwidth_gbs"),
            cores=row.get("cores"),
            reference_efficiency=float(row["reference_efficiency"]),
            source=row["source"],
            notes=row.get("notes", ""),
        )
        for row in data["devices"]
    ]
    traces = [
        TraceModel(t["trace"], t["name"], t.get("model"), t.get("note", ""))
        for t in data.get("trace_models", [])
    ]
    return Catalog(devices, traces)


@cache
def default_catalog() -> Catalog:
    """The catalog shipped with suanli (loaded once)."""
    text = (resources.files("suanli.domain") / "devices.json").read_text(encoding="utf-8")
    return catalog_from_json(json.loads(text))
