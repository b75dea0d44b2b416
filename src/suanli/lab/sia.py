"""Sia workloads in `suanli sim`: their jobs come from the Sia artifact's model, so they
need the artifact's throughput_profiles folder (`--throughputs`).

`--job-model goodput` (the default): the artifact's goodput model
(`adapters/traces/sia_goodput.py`) on its cluster as its simulator runs it (6 nodes of 4
T4 "aws", 2 of 8 A100 with the "dgx-ext" profiles, 3 of 8 RTX 2080 Ti "rtx"; a type
without profiles is replaced by one of the same model); the adaptive policies
(`ADAPTIVE_POLICIES`) run adaptive jobs (1-64 GPUs, batch tuned), the others each job at
its submitted GPUs and batch. `--job-model fixed`: issue 5's model (`sia_jobs.py`:
iterations at the submitted batch, the "dgx" profiles), every job rigid. Either way a
job runs only on the GPU models profiled for its application: a rate on any other
model would be made up. `bench/sia_results.py` builds its runs from the same functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from suanli.adapters.traces import TraceError, TraceJob
from suanli.adapters.traces._read import map_gpu
from suanli.adapters.traces.sia_goodput import app_models, goodput_jobs
from suanli.adapters.traces.sia_jobs import load_sia_profiles, sia_sim_jobs
from suanli.domain.errors import InvalidInput
from suanli.domain.ids import ClusterId, NodeId, ProviderId, RegionId
from suanli.domain.jobs import JobSpec
from suanli.domain.resources import Resources
from suanli.logic.scheduling.snapshot import ClusterView, NodeView
from suanli.logic.simulation.jobs import SimJob

SIA_POOL: Mapping[str, tuple[str, int, int]] = {
    # Sia cluster type: (GPU model, nodes, GPUs per node)
    "aws": ("T4", 6, 4),
    "dgx": ("A100-40GB", 2, 8),
    "rtx": ("RTX2080TI", 3, 8),
}
SIA_ARTIFACT_POOL: Mapping[str, tuple[str, int, int]] = {
    # the Sia artifact's default cluster as its simulator runs it (simulator_config.py):
    # its A100s with the extended batch-size profiles ("dgx-ext")
    "aws": ("T4", 6, 4),
    "dgx-ext": ("A100-40GB", 2, 8),
    "rtx": ("RTX2080TI", 3, 8),
}
SIA_ARTIFACT_SOURCE = (
    "the Sia artifact's default cluster as its simulator runs it (6 x 4 T4, 2 x 8 "
    "A100-40GB with the dgx-ext profiles, 3 x 8 RTX2080TI), cluster types with profiles only"
)
ADAPTIVE_POLICIES = frozenset({"sia", "suanli"})
"""On the goodput model, the policies whose jobs are adaptive (any GPU count from 1 to
64, batch size tuned); the others run every job at the GPUs and batch it was submitted
with, as the Sia artifact runs Gavel."""
SIA_POOL_SOURCE = (
    "the Sia artifact's default cluster (6 x 4 T4, 2 x 8 A100-40GB, 3 x 8 RTX2080TI), "
    "cluster types with profiles only"
)


def profiled_types(folder: Path) -> dict[str, str]:
    """Sia cluster type -> GPU model, for the types `folder` has placement files of."""
    if not folder.is_dir():
        raise InvalidInput(
            f"Sia workloads need the artifact's throughput profiles; {str(folder)!r} is "
            "not a folder.",
            field="throughputs",
            hint="pass --throughputs sia-workloads/throughput_profiles (a folder of "
            "APP/placements-CLUSTER.csv files).",
        )
    out: dict[str, str] = {}
    for file in sorted(folder.glob("*/placements-*.csv")):
        cluster = file.stem.removeprefix("placements-")
        model = map_gpu(None, file, "file name", cluster, "sia-workloads")
        if model is not None:
            out[cluster] = model
    return out


def sia_pool(
    types: Mapping[str, object], layout: Mapping[str, tuple[str, int, int]] = SIA_POOL
) -> tuple[ClusterView, ...]:
    """The artifact's default cluster (`layout`: type -> GPU model, nodes, GPUs per node),
    restricted to the cluster types in `types`."""
    clusters = []
    for name, (model, nodes, per_node) in layout.items():
        if name not in types:
            continue
        cid = ClusterId(name)
        cap = Resources(64_000, 512 * 1024, {model: per_node})
        views = tuple(NodeView(cid, NodeId(f"{name}-{i}"), cap, cap) for i in range(nodes))
        clusters.append(ClusterView(cid, RegionId("sia"), ProviderId("sia"), "sim", views))
    return tuple(clusters)


def sia_jobs(
    rows: Sequence[TraceJob],
    folder: Path,
    types: Mapping[str, str],
    clusters: Sequence[ClusterView],
    *,
    start: datetime,
) -> list[SimJob]:
    """Rigid Sia jobs on `clusters`, each restricted to its profiled GPU models."""
    per_node: dict[str, int] = {}
    for c in clusters:
        for n in c.nodes:
            for model, count in n.capacity.gpus.items():
                per_node[model] = max(per_node.get(model, 0), count)
    kept = sorted(t for t, model in types.items() if model in per_node)
    if not kept:
        raise InvalidInput(
            f"The profiles in {folder.name} cover none of the pool's GPU models "
            f"({', '.join(sorted(per_node))}).",
            field="throughputs",
            hint=f"give a cluster spec with some of {', '.join(sorted(set(types.values())))}.",
        )
    profiles = load_sia_profiles(folder, kept)
    models = {types[t]: per_node[types[t]] for t in kept}
    try:
        jobs = sia_sim_jobs(rows, profiles, models, start=start)
    except TraceError as exc:
        if exc.hint is None:
            exc.hint = (
                "profile every application of the workload, or pass --jobs N to stop "
                "before the first one without a profile."
            )
        raise
    return [
        replace(j, job=replace(j.job, spec=_with_models(j.job.spec, tuple(sorted(j.scaling)))))
        for j in jobs
    ]


def _with_models(spec: JobSpec, models: tuple[str, ...]) -> JobSpec:
    """The spec, allowed only the GPU models it was profiled on."""
    return replace(spec, placement=replace(spec.placement, gpu_models=models))


def artifact_layout(types: Mapping[str, str]) -> dict[str, tuple[str, int, int]]:
    """The artifact's cluster on the profiled types: a type without profiles is replaced
    by a profiled one of the same GPU model (A100: "dgx" for "dgx-ext")."""
    out: dict[str, tuple[str, int, int]] = {}
    for name, shape in SIA_ARTIFACT_POOL.items():
        if name in types:
            out[name] = shape
            continue
        alike = sorted(t for t, model in types.items() if model == shape[0])
        if alike:
            out[alike[0]] = shape
    return out


def goodput_sia_jobs(
    rows: Sequence[TraceJob],
    folder: Path,
    types: Mapping[str, str],
    clusters: Sequence[ClusterView],
    *,
    start: datetime,
) -> tuple[list[SimJob], list[SimJob]]:
    """Sia jobs on the goodput model (`adapters/traces/sia_goodput.py`) on `clusters`:
    (rigid jobs at their submitted GPUs and batch, adaptive jobs), each restricted to the
    GPU models its application was profiled on. A pool model with several profiled types
    (A100: "dgx" and "dgx-ext") uses the one the artifact's cluster uses."""
    per_node: dict[str, int] = {}
    for c in clusters:
        for n in c.nodes:
            for model, count in n.capacity.gpus.items():
                per_node[model] = max(per_node.get(model, 0), count)
    chosen: dict[str, str] = {}
    for t, model in sorted(types.items(), key=lambda kv: (kv[0] not in SIA_ARTIFACT_POOL, kv[0])):
        if model in per_node and model not in chosen:
            chosen[model] = t  # the artifact's type first (A100: "dgx-ext")
    if not chosen:
        raise InvalidInput(
            f"The profiles in {folder.name} cover none of the pool's GPU models "
            f"({', '.join(sorted(per_node))}).",
            field="throughputs",
            hint=f"give a cluster spec with some of {', '.join(sorted(set(types.values())))}.",
        )
    apps = sorted({r.job_type for r in rows})
    models = app_models(folder, apps, {t: per_node[m] for m, t in chosen.items()})
    out = []
    for tune in (False, True):
        jobs = goodput_jobs(rows, models, start=start, tune=tune)
        out.append(
            [
                replace(
                    j, job=replace(j.job, spec=_with_models(j.job.spec, tuple(sorted(j.scaling))))
                )
                for j in jobs
            ]
        )
    return out[0], out[1]
