"""What a set of simulation runs simulated: the trace, the jobs, the pool, the policies
and the settings. Reports (JSON, HTML) print it so that a reader knows what the numbers
are about; nothing here affects a run."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from suanli.logic.simulation.engine import SimSettings


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    id: str
    region: str
    provider: str
    nodes: int
    gpus: Mapping[str, int]
    """GPUs by model."""


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    name: str
    """As registered (`default` is resolved to the default policy's name)."""
    asked_as: str
    """As the user wrote it."""
    round_s: float | None
    """Rounds mode with this round length; None: event-driven."""


@dataclass(frozen=True, slots=True)
class Scenario:
    trace: str
    trace_format: str
    jobs: int
    """Jobs simulated (trace rows kept)."""
    skipped: int
    """Trace rows that could not be simulated (no run time, no GPUs)."""
    reference: str
    """The GPU model the trace's run times were measured on."""
    pool: str
    """Where the pool comes from: a spec file, or how the default pool was sized."""
    clusters: tuple[ClusterInfo, ...]
    policies: tuple[PolicyInfo, ...]
    settings: SimSettings
    seed: int | None = None
    throughputs: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    """Caveats a reader should know (e.g. the seed had no policy to go to)."""

    def gpus_by_model(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for cluster in self.clusters:
            for model, count in cluster.gpus.items():
                out[model] = out.get(model, 0) + count
        return dict(sorted(out.items(), key=lambda item: (-item[1], item[0])))

    def total_gpus(self) -> int:
        return sum(self.gpus_by_model().values())

    def to_json(self) -> dict[str, object]:
        s = self.settings
        return {
            "trace": self.trace,
            "trace_format": self.trace_format,
            "jobs": self.jobs,
            "skipped_rows": self.skipped,
            "reference_gpu": self.reference,
            "pool": self.pool,
            "gpus": self.total_gpus(),
            "gpus_by_model": self.gpus_by_model(),
            "clusters": [
                {
                    "id": c.id,
                    "region": c.region,
                    "provider": c.provider,
                    "nodes": c.nodes,
                    "gpus": dict(c.gpus),
                }
                for c in self.clusters
            ],
            "policies": [
                {"name": p.name, "asked_as": p.asked_as, "round_s": p.round_s}
                for p in self.policies
            ],
            "seed": self.seed,
            "throughputs": self.throughputs,
            "settings": {
                "min_gap_s": s.min_gap_s,
                "restart_cost_s": s.restart_cost_s,
                "grace_s": s.grace_s,
                "round_s": s.round_s,
            },
            "notes": list(self.notes),
        }
