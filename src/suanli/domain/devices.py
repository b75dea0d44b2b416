"""GPU model names: the canonical names of the device catalog and their aliases.

A GPU model is named by its catalog name (``A100-80GB``, ``H100``); names reported by
``nvidia-smi`` or typed by users are mapped through the catalog's aliases
(`suanli.domain.catalog`). A request may also ask for ``any`` model.
"""

from __future__ import annotations

from suanli.domain.catalog import default_catalog
from suanli.domain.errors import InvalidInput

ANY_GPU = "any"
"""A request for GPUs of any model (all of one job's GPUs still share one model)."""

ACCELERATORS = ("gpu", "npu")


def known_models() -> list[str]:
    """Canonical names of all known accelerator models, sorted."""
    return default_catalog().models(kinds=ACCELERATORS)


def canonical_gpu_model(raw: str, *, field: str = "gpus") -> str:
    """Map a user- or driver-supplied accelerator name to its canonical model name.

    Raises InvalidInput naming the known models when the name is not recognised.
    """
    if raw.strip().lower() == ANY_GPU:
        return ANY_GPU
    catalog = default_catalog()
    model = catalog.resolve(raw)
    spec = catalog.get(model) if model else None
    if spec is None or spec.kind not in ACCELERATORS:
        raise InvalidInput(
            f"Unknown GPU model {raw!r}.",
            field=field,
            hint=f"use one of {', '.join(known_models())}, or 'any'. Hint: `suanli pool` "
            "lists the models the pool offers; `suanli units` the catalog. A new model is "
            "added as a row of src/suanli/domain/devices.json (with its datasheet source).",
        )
    return spec.model
