"""Engines by name, as an agent is configured: `local`, `kubernetes` (the optional
`kubernetes` extra), `slurm` (Slurm's client commands on the PATH; options partition,
slurm_conf, gres_types=MODEL:TYPE,...) and `ray` (the optional `ray` extra; options address
(the dashboard URL, default http://127.0.0.1:8265), instance, python).

Options are strings (from the command line or a config file); each engine documents the
ones it reads. Unknown names and options are refused with what to use instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from suanli.adapters.engines.names import ENGINE_NAMES
from suanli.domain.errors import InvalidInput
from suanli.domain.quantities import parse_gpu_request, parse_memory_mb
from suanli.domain.resources import Resources
from suanli.ports.clock import Clock
from suanli.ports.engine import DetectedNode, Engine

KUBERNETES_OPTIONS = ("image", "namespace", "kubeconfig", "context", "instance", "gpu_label")
SLURM_OPTIONS = ("partition", "slurm_conf", "gres_types")
RAY_OPTIONS = ("address", "instance", "python")


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
    jobs_root: Path | None = None,
) -> Engine:
    """The engine called `name`, keeping its state under `state_dir`. `jobs_root` (local
    engine only): where its jobs' scratch dirs go. Raises InvalidInput for a bad
    configuration and EngineError when the engine cannot work here."""
    if jobs_root is not None and name != "local":
        raise InvalidInput(
            f"--jobs-root is for the local engine; the {name} engine runs jobs on its own nodes.",
            field="jobs_root",
        )
    if name == "local":
        if options:
            raise InvalidInput(
                f"The local engine takes no options, got {', '.join(sorted(options))}.",
                field="engine_option",
            )
        from suanli.adapters.engines.local import LocalEngine  # only an agent needs it

        return LocalEngine(state_dir, clock, declared=declared, jobs_root=jobs_root)
    if name == "kubernetes":
        opts = _checked(name, options or {}, KUBERNETES_OPTIONS, required=("image",))
        try:
            from suanli.adapters.engines.kubernetes import KubernetesEngine
            from suanli.adapters.engines.kubernetes_manifest import DEFAULT_GPU_LABEL
        except ImportError as exc:  # the optional extra is not installed
            raise InvalidInput(
                f"The Kubernetes engine needs its client library ({exc.name}).",
                field="engine",
                hint="pip install 'suanli[kubernetes]'.",
            ) from None
        return KubernetesEngine(
            clock,
            image=opts["image"],
            namespace=opts.get("namespace", "default"),
            kubeconfig=opts.get("kubeconfig"),
            context=opts.get("context"),
            instance=opts.get("instance", "default"),
            gpu_label=opts.get("gpu_label", DEFAULT_GPU_LABEL),
        )
    if name == "slurm":
        opts = _checked(name, options or {}, SLURM_OPTIONS)
        if declared is not None:
            raise InvalidInput(
                "The slurm engine offers the nodes Slurm has; --declare is for the local engine.",
                field="declare",
            )
        from suanli.adapters.engines.slurm import SlurmEngine

        return SlurmEngine(
            state_dir,
            clock,
            partition=opts.get("partition") or None,
            slurm_conf=opts.get("slurm_conf") or None,
            gres_types=_pairs(opts.get("gres_types", ""), field="engine_option"),
        )
    if name == "ray":
        opts = _checked(name, options or {}, RAY_OPTIONS)
        if declared is not None:
            raise InvalidInput(
                "The ray engine offers the nodes Ray has; --declare is for the local engine.",
                field="declare",
            )
        from suanli.adapters.engines.ray import RayEngine

        return RayEngine(
            opts.get("address") or "http://127.0.0.1:8265",
            state_dir,
            clock,
            instance=opts.get("instance") or "default",
            python=opts.get("python") or "python3",
        )
    raise InvalidInput(
        f"Unknown engine {name!r}.",
        field="engine",
        hint=f"use one of: {', '.join(ENGINE_NAMES)}.",
    )


def _checked(
    engine: str,
    options: Mapping[str, str],
    allowed: tuple[str, ...],
    *,
    required: tuple[str, ...] = (),
) -> dict[str, str]:
    unknown = sorted(set(options) - set(allowed))
    missing = [k for k in required if not options.get(k)]
    if unknown or missing:
        what = f"unknown option(s) {', '.join(unknown)}" if unknown else ""
        what += ("; " if what and missing else "") + (
            f"missing {', '.join(missing)}" if missing else ""
        )
        raise InvalidInput(
            f"The {engine} engine: {what}.",
            field="engine_option",
            hint=f"give --engine-option KEY=VALUE with KEY in {', '.join(allowed)}.",
        )
    return dict(options)


def _pairs(text: str, *, field: str) -> dict[str, str]:
    """'A:x,B:y' as {'A': 'x', 'B': 'y'} (e.g. the slurm engine's gres_types=H100:h100)."""
    out: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition(":")
        if not sep or not key or not value:
            raise InvalidInput(
                f"{item!r} is not MODEL:GRES_TYPE.",
                field=field,
                hint="e.g. --engine-option gres_types=A100-40GB:a100_40g,H100:h100.",
            )
        out[key] = value
    return out


def parse_options(items: Sequence[str]) -> dict[str, str]:
    """KEY=VALUE items (from repeated --engine-option) as a mapping."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(
                f"--engine-option {item!r} is not KEY=VALUE.",
                field="engine_option",
                hint="e.g. --engine-option image=python:3.11-slim.",
            )
        out[key] = value
    return out
