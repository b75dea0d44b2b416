"""The batch/v1 Job the Kubernetes engine submits for one task (pure: no API calls).

Contract of the manifest (`build_job`):

- Name: ``suanli-<slug of the task key>-<8 hex of its SHA-256>`` (`job_name`), a valid
  DNS-1123 label of at most 63 characters (the Job controller copies it into the
  ``job-name`` label of the pods), distinct for distinct keys, the same for the same key
  (a second submit of one attempt is refused by the API as AlreadyExists).
- ``backoffLimit: 0``, ``completions: 1``, ``parallelism: 1`` and the pod's
  ``restartPolicy: Never``: one attempt is one pod; retries are the scheduler's business.
- One container ``task`` in the configured image whose ``command`` is the argv exactly (no
  shell, no ``args``), ``workingDir`` from the task, env = the task's env plus
  ``SUANLI_JOB_ID``, ``SUANLI_ATTEMPT``, ``SUANLI_GANG_SIZE`` (and ``SUANLI_NODES`` when
  the task names nodes). With GPUs, ``CUDA_VISIBLE_DEVICES=0,..,N-1`` is added (unless
  disabled): the NVIDIA device plugin exposes exactly the pod's N GPUs to the container,
  numbered from 0, so this restates what the container sees for programs that read it.
- Resources: requests = limits for cpu (milli-cores), memory (MiB) and GPUs (the GPU
  resource name, default ``nvidia.com/gpu``), which gives the pod Guaranteed QoS; GPUs of a
  model add a node selector on the GPU label (default ``nvidia.com/gpu.product``) for the
  node label value(s) of that model (several values: a required node affinity ``In``).
- ``activeDeadlineSeconds`` = the time limit: the Job controller fails the Job with reason
  ``DeadlineExceeded`` and deletes its pod.
- ``terminationGracePeriodSeconds`` = the engine's grace for kills it does not time itself
  (time limit, scale-down).
- Labels (Job and pod): ``app.kubernetes.io/managed-by=suanli``, ``suanli.io/instance``,
  ``suanli.io/job-id`` (label-safe form) and ``suanli.io/attempt``; the exact job id,
  attempt and submission time are annotations.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from suanli.domain.devices import ANY_GPU
from suanli.ports.engine import EngineTask

CONTAINER = "task"
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGED_BY_VALUE = "suanli"
INSTANCE = "suanli.io/instance"
JOB_ID = "suanli.io/job-id"
ATTEMPT = "suanli.io/attempt"
SUBMITTED_AT = "suanli.io/submitted-at"
STARTED_AT = "suanli.io/started-at"
"""Written by the engine when it first sees the container start (kept after the pod goes)."""
END = "suanli.io/end"
"""Written by the engine when it cancels the task or declares it lost: JSON, see the engine."""

DEFAULT_GPU_RESOURCE = "nvidia.com/gpu"
DEFAULT_GPU_LABEL = "nvidia.com/gpu.product"
_MAX_NAME = 63
_PREFIX = "suanli-"
_LABEL_VALUE = re.compile(r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")


def job_name(key: str) -> str:
    """The Job name of the task with this key (see the module doc)."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    slug = re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")
    room = _MAX_NAME - len(_PREFIX) - len(digest) - 1
    slug = slug[:room].strip("-")
    return f"{_PREFIX}{slug}-{digest}" if slug else f"{_PREFIX}{digest}"


def label_value(text: str) -> str:
    """`text` as a valid label value: itself when valid, else a slug with a hash suffix."""
    if _LABEL_VALUE.match(text):
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)[: _MAX_NAME - 9].strip("-_.")
    return f"{slug}-{digest}" if slug else digest


def task_env(task: EngineTask, *, cuda_visible_devices: bool) -> dict[str, str]:
    """The container's environment: the task's own plus the SUANLI_* variables."""
    env = task.job_env()
    gpus = task.allocation.gpu_count
    if gpus and cuda_visible_devices and "CUDA_VISIBLE_DEVICES" not in task.env:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in range(gpus))
    return env


def gpu_model_of(task: EngineTask) -> str | None:
    """The one GPU model of the task's allocation (None without GPUs or for 'any').

    Raises ValueError for several models: a pod runs on one node, of one model."""
    models = [m for m, n in task.allocation.gpus.items() if n]
    if len(models) > 1:
        raise ValueError(f"a Kubernetes pod runs on one node; got GPUs of {', '.join(models)}")
    if not models or models[0] == ANY_GPU:
        return None
    return models[0]


def build_job(
    task: EngineTask,
    *,
    image: str,
    instance: str,
    submitted_at: datetime,
    gpu_label_values: Sequence[str] = (),
    gpu_resource: str = DEFAULT_GPU_RESOURCE,
    gpu_label: str = DEFAULT_GPU_LABEL,
    grace_s: int = 10,
    cuda_visible_devices: bool = True,
    image_pull_policy: str | None = None,
) -> dict[str, Any]:
    """The Job manifest (a JSON-ready dict) for `task`; see the module doc.

    `gpu_label_values`: the values of `gpu_label` on the nodes that have the task's GPU
    model (the engine finds them); empty: no node selector."""
    if not task.argv or not task.argv[0]:
        raise ValueError(f"task {task.key} has an empty command")
    labels = {
        MANAGED_BY: MANAGED_BY_VALUE,
        INSTANCE: label_value(instance),
        JOB_ID: label_value(str(task.job_id)),
        ATTEMPT: str(task.attempt),
    }
    annotations = {
        JOB_ID: str(task.job_id),
        ATTEMPT: str(task.attempt),
        SUBMITTED_AT: submitted_at.isoformat(),
    }
    resources = _resources(task, gpu_resource)
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": image,
        "command": list(task.argv),
        "env": [
            {"name": k, "value": v}
            for k, v in task_env(task, cuda_visible_devices=cuda_visible_devices).items()
        ],
        "resources": {"requests": resources, "limits": dict(resources)},
    }
    if image_pull_policy:
        container["imagePullPolicy"] = image_pull_policy
    if task.working_dir:
        container["workingDir"] = task.working_dir
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": max(0, int(grace_s)),
        "containers": [container],
    }
    pod_spec.update(_placement(gpu_label, gpu_label_values))
    spec: dict[str, Any] = {
        "backoffLimit": 0,
        "completions": 1,
        "parallelism": 1,
        "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
    }
    if task.time_limit_s is not None:
        spec["activeDeadlineSeconds"] = max(1, int(task.time_limit_s))
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": job_name(task.key), "labels": labels, "annotations": annotations},
        "spec": spec,
    }


def _resources(task: EngineTask, gpu_resource: str) -> dict[str, str]:
    alloc = task.allocation
    resources: dict[str, str] = {}
    if alloc.cpu_milli > 0:
        resources["cpu"] = f"{alloc.cpu_milli}m"
    if alloc.memory_mb > 0:
        resources["memory"] = f"{alloc.memory_mb}Mi"
    if alloc.gpu_count:
        resources[gpu_resource] = str(alloc.gpu_count)
    return resources


def _placement(gpu_label: str, values: Sequence[str]) -> Mapping[str, Any]:
    unique = sorted(set(values))
    if not unique:
        return {}
    if len(unique) == 1:
        return {"nodeSelector": {gpu_label: unique[0]}}
    term = {"matchExpressions": [{"key": gpu_label, "operator": "In", "values": unique}]}
    return {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
            }
        }
    }


_MEMORY_SUFFIX: dict[str, float] = {
    "m": 10**-3,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "P": 10**15,
    "E": 10**18,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
    "Pi": 2**50,
    "Ei": 2**60,
}


def parse_cpu_milli(quantity: str) -> int:
    """Milli-cores of a Kubernetes CPU quantity ('2', '1500m', '0.5')."""
    text = quantity.strip()
    if text.endswith("m"):
        return int(float(text[:-1]))
    return round(float(text) * 1000)


def parse_memory_mib(quantity: str) -> int:
    """MiB (rounded down) of a Kubernetes memory quantity ('64Gi', '8000M', '1e9')."""
    text = quantity.strip()
    for suffix in sorted(_MEMORY_SUFFIX, key=len, reverse=True):
        if suffix and text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * _MEMORY_SUFFIX[suffix]) // 2**20
    return int(float(text)) // 2**20
