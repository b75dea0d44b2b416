"""What the Slurm engine asks of Slurm: the `sbatch` argv for a task (CPUs, memory,
GPUs by model as GRES types, time limit, partition, nodes, environment, output files).
Pure functions; the argv is a list (no shell strings)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path

from suanli.domain.devices import ANY_GPU
from suanli.domain.resources import Resources
from suanli.ports.engine import EngineError, EngineTask

STDOUT_LOG, STDERR_LOG = "stdout.log", "stderr.log"
"""The job's output files, in its task directory."""
JOB_PREFIX = "suanli-"
"""Job names of this engine's jobs: the prefix, then the task key."""


PASSED_ENV = ("PATH",)
"""The agent's variables every job gets besides the task's own (so that a job finds the
programs the agent finds)."""


_GRES_SUFFIX = re.compile(r"-(\d+GB|PCIE|SXM\d*|NVL)$", re.IGNORECASE)


_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


_RESERVED_ENV = ("SLURM_", "SBATCH_")


def default_gres_type(model: str) -> str:
    """The GRES type a cluster most likely calls a catalog model: lowercased, memory and
    form-factor suffixes dropped (A100-80GB -> a100, H100-PCIE -> h100, H100 -> h100)."""
    name = model
    while (stripped := _GRES_SUFFIX.sub("", name)) != name:
        name = stripped
    return name.lower()


def gres_request(gpus: Mapping[str, int], gres_types: Mapping[str, str]) -> str | None:
    """``--gres`` value for GPUs by canonical model (None without GPUs)."""
    parts = []
    for model, count in sorted(gpus.items()):
        if count <= 0:
            continue
        if model == ANY_GPU:
            parts.append(f"gpu:{count}")
        else:
            parts.append(f"gpu:{gres_types.get(model) or default_gres_type(model)}:{count}")
    return ",".join(parts) or None


def task_env(task: EngineTask) -> dict[str, str]:
    """The variables a task's job gets from the engine: its own and SUANLI_*."""
    for name in task.env:
        if not _ENV_NAME.match(name) or name.startswith(_RESERVED_ENV):
            raise EngineError(
                f"task {task.key}: environment variable {name!r} cannot be passed to Slurm "
                "(names are letters, digits and '_'; SLURM_* and SBATCH_* are Slurm's own)."
            )
    env = task.job_env()
    return env


def sbatch_argv(
    task: EngineTask,
    *,
    wrapper: Path,
    task_dir: Path,
    working_dir: str,
    partition: str | None = None,
    gres_types: Mapping[str, str] | None = None,
) -> list[str]:
    """The sbatch command line for `task` (values of the exported variables go in sbatch's
    own environment: ``--export`` names them, so commas in values are safe)."""
    per_node = _per_node(task)
    argv = [
        "sbatch",
        "--parsable",
        f"--job-name={JOB_PREFIX}{task.key}",
        f"--output={task_dir / STDOUT_LOG}",
        f"--error={task_dir / STDERR_LOG}",
        f"--chdir={working_dir}",
        "--no-requeue",
        f"--nodes={max(1, len(task.placements))}",
        "--ntasks-per-node=1",
        f"--cpus-per-task={max(1, math.ceil(per_node.cpu_milli / 1000))}",
    ]
    if per_node.memory_mb > 0:  # --mem=0 would mean "all of the node's memory"
        argv.append(f"--mem={per_node.memory_mb}M")
    gres = gres_request(per_node.gpus, gres_types or {})
    if gres:
        argv.append(f"--gres={gres}")
    if task.time_limit_s is not None:
        argv.append(f"--time={max(1, math.ceil(task.time_limit_s / 60))}")
    if partition:
        argv.append(f"--partition={partition}")
    names = [*PASSED_ENV, *sorted(n for n in task_env(task) if n not in PASSED_ENV)]
    argv.append(f"--export={','.join(names)}")
    argv += [str(wrapper), *task.argv]
    return argv


def _per_node(task: EngineTask) -> Resources:
    """What each node of the task holds: its allocation, or the largest placement's."""
    if not task.placements:
        return task.allocation
    allocations = [p.allocation for p in task.placements]
    gpus: dict[str, int] = {}
    for a in allocations:
        for model, n in a.gpus.items():
            gpus[model] = max(gpus.get(model, 0), n)
    return Resources(
        max(a.cpu_milli for a in allocations), max(a.memory_mb for a in allocations), gpus
    )
