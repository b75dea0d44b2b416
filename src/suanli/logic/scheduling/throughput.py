"""Measured throughput profiles: how fast each job type runs on each GPU model.

The file is JSON, ``{"<job_type>": {"<gpu model>": <throughput>, ...}, ...}``, in any
unit per job type (only ratios between models of one job type matter); model names are
canonicalised through the device catalog. Errors name the entry at fault.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from suanli.domain.devices import canonical_gpu_model
from suanli.domain.errors import InvalidInput


def parse_throughput(data: Any, *, source: str = "throughput") -> dict[tuple[str, str], float]:
    if not isinstance(data, Mapping):
        raise InvalidInput(
            f"{source}: expected an object of job types.",
            field="throughput",
            hint='write {"resnet50": {"H100": 2900, "A100": 1400}}.',
        )
    out: dict[tuple[str, str], float] = {}
    for job_type, per_model in data.items():
        if not isinstance(per_model, Mapping):
            raise InvalidInput(
                f"{source}: {job_type!r} must map GPU models to numbers.", field="throughput"
            )
        for model, value in per_model.items():
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise InvalidInput(
                    f"{source}: {job_type!r}/{model!r} is {value!r}; expected a positive number.",
                    field="throughput",
                )
            out[(str(job_type), canonical_gpu_model(str(model), field="throughput"))] = float(value)
    return out


def load_throughput(path: str) -> dict[tuple[str, str], float]:
    """Read a profile file; raises InvalidInput naming the file and entry on bad input."""
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise InvalidInput(
            f"Cannot read throughput profiles {path!r}: {exc.strerror}.",
            field="throughput_path",
        ) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            f"{path}: not JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).",
            field="throughput_path",
        ) from exc
    return parse_throughput(data, source=path)
