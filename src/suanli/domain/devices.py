"""Known accelerator models and how their names are normalised.

A GPU model is named by a canonical short name (``A100-80GB``, ``H100``). Names reported by
``nvidia-smi`` or typed by users are mapped through aliases. The metering standard (issue 3)
attaches ratings to these names; this module only owns the names.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from suanli.domain.errors import InvalidInput

# canonical name -> (aliases, memory in MiB). Aliases are compared after normalisation.
_MODELS: Mapping[str, tuple[tuple[str, ...], int]] = {
    "H100": (("H100-SXM", "H100-SXM5", "H100-SXM5-80GB", "H100-80GB-HBM3"), 81_920),
    "H100-PCIE": (("H100-PCIE-80GB",), 81_920),
    "H800": (("H800-SXM", "H800-80GB"), 81_920),
    "H20": (("H20-96GB",), 98_304),
    "A100-40GB": (("A100-SXM4-40GB", "A100-PCIE-40GB", "A100-40G"), 40_960),
    "A100-80GB": (("A100", "A100-SXM4-80GB", "A100-PCIE-80GB", "A100-80G"), 81_920),
    "A800": (("A800-SXM4-80GB", "A800-80GB", "A800-PCIE-80GB"), 81_920),
    "L40S": ((), 46_068),
    "L20": ((), 46_068),
    "A10": (("A10-24GB",), 24_576),
    "RTX4090": (("GEFORCE-RTX-4090", "RTX-4090"), 24_564),
    "V100": (("V100-SXM2-16GB", "V100-PCIE-16GB", "V100-16GB", "V100M16"), 16_384),
    "V100-32GB": (("V100-SXM2-32GB", "V100-PCIE-32GB", "V100M32"), 32_768),
    "T4": (("TESLA-T4",), 15_360),
    "P100": (("TESLA-P100-PCIE-16GB", "TESLA-P100-SXM2-16GB", "P100-16GB"), 16_384),
    "K80": (("TESLA-K80",), 12_288),
    "ASCEND-910B": (("910B", "ASCEND910B"), 65_536),
    "MI300X": (("AMD-INSTINCT-MI300X",), 196_608),
}

ANY_GPU = "any"
"""A request for GPUs of any model (all of one job's GPUs still share one model)."""

_ALIASES: dict[str, str] = {}
for _name, (_aliases, _mem) in _MODELS.items():
    _ALIASES[_name] = _name
    for _alias in _aliases:
        _ALIASES[_alias] = _name


def _normalise(raw: str) -> str:
    text = raw.strip().upper()
    text = re.sub(r"^(NVIDIA|TESLA|HUAWEI|AMD)[\s_-]+", "", text)
    text = re.sub(r"[\s_]+", "-", text)
    return text


def known_models() -> list[str]:
    """Canonical names of all known GPU models, sorted."""
    return sorted(_MODELS)


def gpu_memory_mb(model: str) -> int:
    """Memory of one device of a known model, in MiB."""
    return _MODELS[model][1]


def canonical_gpu_model(raw: str, *, field: str = "gpus") -> str:
    """Map a user- or driver-supplied GPU name to its canonical model name.

    Raises InvalidInput naming the known models when the name is not recognised.
    """
    if raw.strip().lower() == ANY_GPU:
        return ANY_GPU
    text = _normalise(raw)
    if text in _ALIASES:
        return _ALIASES[text]
    # nvidia-smi names such as "A100-SXM4-80GB" with extra suffixes: try the prefixes.
    parts = text.split("-")
    for end in range(len(parts) - 1, 0, -1):
        candidate = "-".join(parts[:end])
        if candidate in _ALIASES:
            return _ALIASES[candidate]
    raise InvalidInput(
        f"Unknown GPU model {raw!r}.",
        field=field,
        hint=f"use one of {', '.join(known_models())}, or 'any'. "
        "Hint: `suanli pool` lists the models the pool offers.",
    )
