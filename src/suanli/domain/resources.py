"""The resource vector: what a node offers and what a job asks for.

CPU is counted in milli-cores so that fractional requests stay exact integers; memory and
GPU memory in MiB; GPUs as a count per canonical model. All of one request's GPUs share a
model; the model ``any`` matches whichever model a node has.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from suanli.domain.devices import ANY_GPU, canonical_gpu_model
from suanli.domain.errors import InvalidInput
from suanli.domain.validation import is_int, is_number, shown

MAX_CPUS = 100_000
"""Most CPU cores one request (one gang member) may ask for."""
MAX_GPUS = 100_000
"""Most GPUs one request (one gang member) may ask for."""
MAX_MEMORY_MB = 64 * 1024 * 1024
"""Most memory one request (one gang member) may ask for: 64 TiB, in MiB. Beyond any
node built; the bound keeps sums over a gang and a pool far from overflow."""
MAX_GPU_MEMORY_MB = 64 * 1024 * 1024
"""Most memory per GPU a request may require: 64 TiB, in MiB (as `MAX_MEMORY_MB`)."""


def _frozen(gpus: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType({m: n for m, n in sorted(gpus.items()) if n})


@dataclass(frozen=True, slots=True)
class Resources:
    """A resource vector. Immutable; arithmetic returns new vectors."""

    cpu_milli: int = 0
    memory_mb: int = 0
    gpus: Mapping[str, int] = field(default_factory=dict)
    gpu_memory_mb: int = 0
    """For a request: the least memory each GPU must have (0 = any). For a node: the memory
    of each of its GPUs."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "gpus", _frozen(self.gpus))

    @classmethod
    def request(
        cls,
        *,
        cpus: float = 1.0,
        memory_mb: int = 1024,
        gpus: Mapping[str, int] | None = None,
        gpu_memory_mb: int = 0,
    ) -> Resources:
        """Validated constructor for a job's request; raises InvalidInput naming the field.
        Bounds: `MAX_CPUS`, `MAX_MEMORY_MB`, `MAX_GPUS`, `MAX_GPU_MEMORY_MB`; booleans are
        not numbers here."""
        if not (is_number(cpus) and 0.001 <= cpus <= MAX_CPUS):
            raise InvalidInput(
                f"cpus must be a number from 0.001 to {MAX_CPUS}, got {shown(cpus)}.",
                field="cpus",
                hint="ask for a positive number of cores, e.g. --cpus 2 or --cpus 0.5.",
            )
        if not (is_int(memory_mb) and 0 < memory_mb <= MAX_MEMORY_MB):
            raise InvalidInput(
                f"memory must be from 1 MiB to {MAX_MEMORY_MB} MiB (64 TiB), "
                f"got {shown(memory_mb)} MiB.",
                field="memory",
                hint="ask for what one member needs, e.g. --memory 4G.",
            )
        if not (is_int(gpu_memory_mb) and 0 <= gpu_memory_mb <= MAX_GPU_MEMORY_MB):
            raise InvalidInput(
                f"gpu_memory must be from 0 to {MAX_GPU_MEMORY_MB} MiB (64 TiB) per GPU, "
                f"got {shown(gpu_memory_mb)} MiB.",
                field="gpu_memory",
                hint="ask for the least memory each GPU needs, e.g. --gpu-memory 40G.",
            )
        canonical: dict[str, int] = {}
        for model, count in (gpus or {}).items():
            if not (is_int(count) and 0 < count <= MAX_GPUS):
                raise InvalidInput(
                    f"GPU count for {shown(model)} must be a whole number from 1 to {MAX_GPUS}, "
                    f"got {shown(count)}.",
                    field="gpus",
                    hint="write MODEL:N, e.g. --gpus A100:2.",
                )
            name = canonical_gpu_model(model)
            canonical[name] = canonical.get(name, 0) + count
        if len(canonical) > 1:
            raise InvalidInput(
                "A job's GPUs must all be of one model.",
                field="gpus",
                hint="ask for one model (e.g. A100:4), or submit one job per model.",
            )
        return cls(round(cpus * 1000), memory_mb, canonical, gpu_memory_mb)

    @property
    def cpus(self) -> float:
        return self.cpu_milli / 1000

    @property
    def gpu_count(self) -> int:
        return sum(self.gpus.values())

    def __add__(self, other: Resources) -> Resources:
        gpus = dict(self.gpus)
        for model, n in other.gpus.items():
            gpus[model] = gpus.get(model, 0) + n
        return Resources(
            self.cpu_milli + other.cpu_milli,
            self.memory_mb + other.memory_mb,
            gpus,
            max(self.gpu_memory_mb, other.gpu_memory_mb),
        )

    def __sub__(self, other: Resources) -> Resources:
        gpus = dict(self.gpus)
        for model, n in other.gpus.items():
            gpus[model] = gpus.get(model, 0) - n
        return Resources(
            self.cpu_milli - other.cpu_milli,
            self.memory_mb - other.memory_mb,
            gpus,
            self.gpu_memory_mb,
        )

    def bind(self, free: Resources) -> Resources | None:
        """The concrete allocation that satisfies this request from `free`, or None.

        ``any`` GPUs are bound to the first model of `free` with enough devices and memory.
        """
        if self.cpu_milli > free.cpu_milli or self.memory_mb > free.memory_mb:
            return None
        if self.gpu_memory_mb and free.gpu_memory_mb and self.gpu_memory_mb > free.gpu_memory_mb:
            return None
        bound: dict[str, int] = {}
        for model, count in self.gpus.items():
            candidates = list(free.gpus) if model == ANY_GPU else [model]
            name = next(
                (m for m in candidates if free.gpus.get(m, 0) - bound.get(m, 0) >= count), None
            )
            if name is None:
                return None
            bound[name] = bound.get(name, 0) + count
        return Resources(self.cpu_milli, self.memory_mb, bound, 0)

    def shortfall(self, free: Resources) -> list[str]:
        """Human phrases for each dimension in which `free` falls short of this request."""
        missing: list[str] = []
        if self.cpu_milli > free.cpu_milli:
            missing.append(f"{self.cpus:g} CPUs (has {free.cpus:g})")
        if self.memory_mb > free.memory_mb:
            missing.append(f"{self.memory_mb} MiB memory (has {free.memory_mb})")
        for model, count in self.gpus.items():
            have = (
                max(free.gpus.values(), default=0) if model == ANY_GPU else free.gpus.get(model, 0)
            )
            if count > have:
                missing.append(f"{count} x {model} GPU (has {have})")
        return missing

    def to_dict(self) -> dict[str, object]:
        return {
            "cpus": self.cpus,
            "memory_mb": self.memory_mb,
            "gpus": dict(self.gpus),
            "gpu_memory_mb": self.gpu_memory_mb,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Resources:
        """Inverse of to_dict for trusted (stored) data; no validation."""
        gpus = data.get("gpus") or {}
        assert_mapping = gpus if isinstance(gpus, Mapping) else {}
        cpus = data.get("cpus", 0)
        memory = data.get("memory_mb", 0)
        gpu_mem = data.get("gpu_memory_mb", 0)
        return cls(
            round(float(cpus) * 1000) if isinstance(cpus, int | float) else 0,
            int(memory) if isinstance(memory, int | float) else 0,
            {str(k): int(v) for k, v in assert_mapping.items()},
            int(gpu_mem) if isinstance(gpu_mem, int | float) else 0,
        )


ZERO = Resources()
