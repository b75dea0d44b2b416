"""The metering standard as a document: units, classes, sectors and the device catalog
with each device's rating per class at its reference efficiency (`suanli units`)."""

from __future__ import annotations

from typing import Any

from suanli.domain.catalog import Catalog
from suanli.domain.standard import SECTOR_LABELS_ZH, UNIT, Sector, WorkloadClass

UNIT_DEFINITION = (
    "1 standard compute-hour (SCH) of a workload class = 1 hour of 1 PFLOPS of dense matrix "
    "throughput in the class's precision (ai: FP16/BF16, general: FP32, hpc: FP64). A "
    "device's rating = published dense peak x efficiency (measured on the node, else the "
    "catalog's reference efficiency). Usage = seconds x units held x rating / 3600."
)


def units_document(catalog: Catalog) -> dict[str, Any]:
    devices = []
    for spec in sorted(catalog, key=lambda d: (d.kind, d.model)):
        row = spec.to_json()
        row["reference_rating_pflops"] = {
            w.value: round(p * spec.reference_efficiency / 1000, 6)
            if (p := spec.peak_tflops(w)) is not None
            else None
            for w in WorkloadClass
        }
        devices.append(row)
    return {
        "unit": UNIT,
        "definition": UNIT_DEFINITION,
        "classes": {w.value: w.precision for w in WorkloadClass},
        "sectors": {s.value: SECTOR_LABELS_ZH[s] for s in Sector},
        "devices": devices,
        "trace_models": [
            {"trace": t.trace, "name": t.name, "model": t.model, "note": t.note}
            for t in catalog.trace_models
        ],
    }
