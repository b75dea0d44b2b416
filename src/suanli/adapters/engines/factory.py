"""Engines by name, as an agent is configured: `local` now; `slurm`, `ray` and
`kubernetes` when their adapters and client libraries are installed.

Options are strings (from the command line or a config file); each engine documents the
ones it reads. Unknown names and options are refused with what to use instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from suanli.adapters.engines.local import LocalEngine
from suanli.domain.errors import InvalidInput
from suanli.domain.quantities import parse_gpu_request, parse_memory_mb
from suanli.domain.resources import Resources
from suanli.ports.clock import Clock
from suanli.ports.engine import DetectedNode, Engine

ENGINE_NAMES = ("local",)


def parse_declared(text: str, hostname: str) -> DetectedNode:
    """A node from 'cpus=8,memory=32G,gpus=H100:4' (GPUs optional; memory like --memory)."""
    fields: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep or key not in ("cpus", "memory", "gpus") or key in fields:
            raise InvalidInput(
                f"Cannot read {part!r} in the declared node {text!r}.",
                field="declare",
                hint="write cpus=N,memory=SIZE[,gpus=MODEL:N], e.g. cpus=8,memory=32G,gpus=H100:4.",
            )
        fields[key] = value
    if "cpus" not in fields or "memory" not in fields:
        raise InvalidInput(
            "A declared node needs cpus and memory.",
            field="declare",
            hint="e.g. cpus=8,memory=32G,gpus=H100:4.",
        )
    try:
        cpus = float(fields["cpus"])
    except ValueError:
        cpus = -1.0
    if not 0 < cpus <= 100_000:
        raise InvalidInput(
            f"cpus must be a positive number, got {fields['cpus']!r}.", field="declare"
        )
    gpus: dict[str, int] = {}
    if "gpus" in fields:
        model, count = parse_gpu_request(fields["gpus"], field="declare")
        gpus[model] = count
    memory = parse_memory_mb(fields["memory"], field="declare")
    return DetectedNode(hostname, Resources(int(cpus * 1000), memory, gpus))


def make_engine(
    name: str,
    state_dir: Path,
    clock: Clock,
    *,
    declared: DetectedNode | None = None,
    options: Mapping[str, str] | None = None,
) -> Engine:
    """The engine called `name`, keeping its state under `state_dir`."""
    if name == "local":
        if options:
            raise InvalidInput(
                f"The local engine takes no options, got {', '.join(sorted(options))}.",
                field="engine_option",
            )
        return LocalEngine(state_dir, clock, declared=declared)
    raise InvalidInput(
        f"Unknown engine {name!r}.",
        field="engine",
        hint=f"use one of: {', '.join(ENGINE_NAMES)}.",
    )
