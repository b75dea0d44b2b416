"""The metering standard's vocabulary: workload classes, sectors, the standard unit.

One standard compute-hour (SCH) of a class is one hour of 1 PFLOPS of dense matrix
throughput in that class's precision: FP16/BF16 for AI, FP32 for general computing, FP64
for HPC. A device's rating in a class is its published peak in that precision times an
efficiency (measured on the node, or the catalog's reference efficiency). Memory is its
own dimension (GiB-hours) and never converted. See docs/metering.md.
"""

from __future__ import annotations

from enum import StrEnum

from suanli.domain.errors import InvalidInput

UNIT = "SCH"
UNIT_PER_HOUR = "PFLOPS (SCH per hour of use)"


class WorkloadClass(StrEnum):
    AI = "ai"
    GENERAL = "general"
    HPC = "hpc"

    @property
    def precision(self) -> str:
        return {"ai": "fp16_bf16", "general": "fp32", "hpc": "fp64"}[self.value]


class Sector(StrEnum):
    """Industry of a job, for the city's compute-use-by-sector statistics."""

    INDUSTRY = "industry"  # 工业
    AGRICULTURE = "agriculture"  # 农业
    TRANSPORT = "transport"  # 交通
    ENERGY = "energy"  # 能源
    FINANCE = "finance"  # 金融
    EDUCATION = "education"  # 教育
    HEALTHCARE = "healthcare"  # 医疗
    GOVERNMENT = "government"  # 政务
    RESEARCH = "research"  # 科研
    OTHER = "other"  # 其他


SECTOR_LABELS_ZH = {
    Sector.INDUSTRY: "工业",
    Sector.AGRICULTURE: "农业",
    Sector.TRANSPORT: "交通",
    Sector.ENERGY: "能源",
    Sector.FINANCE: "金融",
    Sector.EDUCATION: "教育",
    Sector.HEALTHCARE: "医疗",
    Sector.GOVERNMENT: "政务",
    Sector.RESEARCH: "科研",
    Sector.OTHER: "其他",
}


def parse_sector(text: str) -> Sector:
    """Accept the English name or the Chinese label; the error lists both."""
    raw = text.strip().lower()
    for sector, label in SECTOR_LABELS_ZH.items():
        if raw in (sector.value, label):
            return sector
    raise InvalidInput(
        f"Unknown sector {text!r}.",
        field="sector",
        hint="use one of " + ", ".join(f"{s.value} ({SECTOR_LABELS_ZH[s]})" for s in Sector) + ".",
    )


def parse_workload_class(text: str) -> WorkloadClass:
    try:
        return WorkloadClass(text.strip().lower())
    except ValueError:
        raise InvalidInput(
            f"Unknown workload class {text!r}.",
            field="workload_class",
            hint="use ai (rated in FP16/BF16), general (FP32) or hpc (FP64).",
        ) from None
