"""The Kubernetes engine: runs each task as a batch/v1 Job through the official client.

Contract (see docs/engines-kubernetes.md for what is verified and how):

- ``submit`` creates the Job built by `kubernetes_manifest.build_job` (one pod, no
  retries, the argv as the container's command, requests = limits, GPUs as the GPU
  resource plus a node selector for the model's node label, ``activeDeadlineSeconds`` for
  the time limit) in the engine's namespace. The engine job id is the Job's name. A GPU
  model no node offers, several GPU models, an existing Job of that name or any API
  failure -> EngineError.
- ``poll`` reads the Job and its pods (label ``controller-uid``) and maps them with
  `kubernetes_status.verdict`: RUNNING (incl. pending), SUCCEEDED, FAILED (exit code from
  the container's terminated state; reasons ``TIMEOUT: ...`` for DeadlineExceeded,
  ``OOM: ...`` for OOMKilled), CANCELLED, LOST (``NODE_FAIL: ...``: the pod's node is gone
  or stopped reporting, or the pod was evicted or deleted by the cluster). First
  observations (container start, the end of a cancelled task, a loss) are written into
  the Job's annotations so that every later poll, also after an agent restart, answers
  the same. On a loss the engine sets the Job's parallelism to 0: the v1.20 Job
  controller would otherwise start a replacement pod beside the requeued attempt.
- ``cancel`` records the cancel in the Job (annotation), sets ``parallelism: 0`` so the Job
  controller starts no pod, and deletes the Job's pods with a grace period of
  ``max(1, ceil(grace_s))`` seconds (the kubelet sends SIGTERM, then SIGKILL). The Job
  itself stays as the record of the outcome until ``forget`` deletes it (propagation
  Background: the garbage collector removes what is left of its pods). Returns at once.
- ``read_log``: Kubernetes keeps one log per container, stdout and stderr interleaved,
  served by the kubelet through the API's ``pods/log``. 'stdout' is that log; 'stderr' is
  empty, unless ``split_log_streams`` is on (clusters of v1.32+ with the
  PodLogsQuerySplitStreams feature: the API's ``stream`` parameter). Offsets are bytes of
  that log (read up to ``offset + limit`` bytes and cut). A pod that has not started, or
  that is gone (deleted on cancel, time limit or node loss), has no log: b"".
- ``known`` lists the Jobs of this engine instance (labels ``managed-by=suanli`` and
  ``suanli.io/instance``); ``detect`` lists the nodes' allocatable cpu, memory and GPUs,
  the GPU model read from the GPU label.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import urllib3
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.exceptions import ApiException

from suanli.adapters.engines import kubernetes_manifest as manifest
from suanli.adapters.engines.kubernetes_manifest import parse_cpu_milli, parse_memory_mib
from suanli.adapters.engines.kubernetes_status import EndRecord, NodeLoss, parse_time, verdict
from suanli.domain.devices import canonical_gpu_model
from suanli.domain.errors import InvalidInput
from suanli.domain.jobs import JobStatus
from suanli.domain.resources import Resources
from suanli.ports.clock import Clock
from suanli.ports.engine import (
    Capability,
    DetectedNode,
    Engine,
    EngineError,
    EngineState,
    EngineTask,
)

log = logging.getLogger("suanli.engine.kubernetes")

T = TypeVar("T")
Obj = dict[str, Any]
_NODE_CACHE_S = 5.0
"""How long the GPU-label lookup of `submit` reuses one node listing."""


class KubernetesEngine(Engine):
    """Runs tasks as batch/v1 Jobs; see the module docstring for the contract."""

    name = "kubernetes"
    capabilities = frozenset(
        {
            Capability.GPUS_BY_MODEL,
            Capability.LOG_STREAMING,
            Capability.ADOPT,
            Capability.PREEMPT_SIGNAL,
        }
    )

    def __init__(
        self,
        clock: Clock,
        *,
        image: str,
        namespace: str = "default",
        kubeconfig: str | None = None,
        context: str | None = None,
        api_client: Any | None = None,
        instance: str = "default",
        gpu_resource: str = manifest.DEFAULT_GPU_RESOURCE,
        gpu_label: str = manifest.DEFAULT_GPU_LABEL,
        timeout_grace_s: int = 10,
        cuda_visible_devices: bool = True,
        split_log_streams: bool = False,
        image_pull_policy: str | None = None,
        request_timeout_s: float = 15.0,
    ) -> None:
        """`image`: the container image every task runs in (its argv must exist there).
        The API is reached through `api_client`, else `kubeconfig` (and `context`), else the
        in-cluster service account, else ~/.kube/config. `instance` tells this agent's Jobs
        from other agents' in a shared namespace. `timeout_grace_s`: the pods'
        terminationGracePeriodSeconds (time limit kills). See the module doc for the rest."""
        if not image:
            raise EngineError("the Kubernetes engine needs a container image for its tasks.")
        self._clock = clock
        self._image = image
        self._namespace = namespace
        self._instance = instance
        self._gpu_resource = gpu_resource
        self._gpu_label = gpu_label
        self._grace_s = timeout_grace_s
        self._cuda_visible_devices = cuda_visible_devices
        self._split_log_streams = split_log_streams
        self._image_pull_policy = image_pull_policy
        self._timeout = request_timeout_s
        self._api = api_client if api_client is not None else _api_client(kubeconfig, context)
        # Any: the client's own annotations (v31+) type bodies as models; we send and read
        # JSON (dicts, raw answers), which every client version from v29 accepts.
        self._core: Any = k8s.CoreV1Api(self._api)
        self._batch: Any = k8s.BatchV1Api(self._api)
        self._lock = threading.Lock()
        self._nodes_cache: tuple[float, list[Obj]] | None = None

    def close(self) -> None:
        """Release the API client's connections."""
        close = getattr(self._api, "close", None)
        if callable(close):
            close()

    # ---- submit -------------------------------------------------------------------------

    def _submit(self, task: EngineTask) -> str:
        try:
            model = manifest.gpu_model_of(task)
        except ValueError as exc:
            raise EngineError(f"task {task.key}: {exc}.") from None
        values = self._gpu_label_values(model) if model else []
        if model and not values:
            raise EngineError(
                f"task {task.key} asks for GPUs of model {model}, but no node has the label "
                f"{self._gpu_label} with a value of that model."
            )
        try:
            body = manifest.build_job(
                task,
                image=self._image,
                instance=self._instance,
                submitted_at=self._clock.now(),
                gpu_label_values=values,
                gpu_resource=self._gpu_resource,
                gpu_label=self._gpu_label,
                grace_s=self._grace_s,
                cuda_visible_devices=self._cuda_visible_devices,
                image_pull_policy=self._image_pull_policy,
            )
        except ValueError as exc:
            raise EngineError(f"cannot run task {task.key}: {exc}.") from None
        name = str(body["metadata"]["name"])
        try:
            self._batch.create_namespaced_job(
                self._namespace, body, _preload_content=False, _request_timeout=self._timeout
            )
        except ApiException as exc:
            if exc.status == 409:
                raise EngineError(
                    f"task {task.key} was already submitted (Job {self._namespace}/{name} "
                    "exists); forget it first or submit a new attempt."
                ) from None
            raise _engine_error(f"create Job {self._namespace}/{name}", exc) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _engine_error(f"create Job {self._namespace}/{name}", exc) from None
        return name

    def _gpu_label_values(self, model: str) -> list[str]:
        """Values of the GPU label, on any node, that name `model`."""
        values = set()
        for node in self._nodes(cached=True):
            value = ((node.get("metadata") or {}).get("labels") or {}).get(self._gpu_label)
            if value and _model_of(str(value)) == model:
                values.add(str(value))
        return sorted(values)

    def _gpus_of(self, engine_job_id: str) -> int:
        job = self._read_job(engine_job_id)
        template = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
        total = 0
        for container in template.get("containers") or []:
            limits = (container.get("resources") or {}).get("limits") or {}
            try:
                total += int(limits.get(self._gpu_resource, 0))
            except (TypeError, ValueError):
                continue
        return total

    # ---- poll ---------------------------------------------------------------------------

    def _poll(self, engine_job_id: str) -> EngineState:
        for _ in range(3):
            job = self._read_job(engine_job_id)
            pods = self._pods_of(job)
            found = verdict(job, pods, self._node_problem, self._clock.now())
            if not found.annotations or self._annotate(job, found.annotations, stop=found.stop):
                return found.state
            # Someone else wrote the Job meanwhile (another poll, a cancel): read again.
        return found.state

    def _node_problem(self, node_name: str) -> NodeLoss | None:
        """A node that is gone, or whose Ready condition is Unknown (the node lifecycle
        controller's verdict once its kubelet stopped reporting for the grace period), has
        lost its pods. Ready=False is the kubelet itself reporting: its pods may still run."""
        try:
            node = self._get(f"read Node {node_name}", self._core.read_node, node_name)
        except _NotFound:
            return NodeLoss(f"node {node_name} no longer exists")
        for condition in (node.get("status") or {}).get("conditions") or []:
            if condition.get("type") == "Ready" and condition.get("status") == "Unknown":
                why = condition.get("reason") or "Unknown"
                if condition.get("message"):
                    why += f": {condition['message']}"
                return NodeLoss(
                    f"node {node_name} stopped reporting ({why})",
                    parse_time(condition.get("lastHeartbeatTime")),
                )
        return None

    # ---- cancel -------------------------------------------------------------------------

    def _cancel(self, engine_job_id: str, grace_s: float) -> None:
        for _ in range(3):
            job = self._read_job(engine_job_id)
            pods = self._pods_of(job)
            state = verdict(job, pods, self._node_problem, self._clock.now()).state
            annotations = (job.get("metadata") or {}).get("annotations") or {}
            if state.status != JobStatus.RUNNING or manifest.END in annotations:
                return  # already ended, or already being cancelled
            record = EndRecord(
                JobStatus.CANCELLED, self._clock.now(), started_at=state.started_at, grace_s=grace_s
            )
            # parallelism 0 in the same write: the Job controller starts no replacement pod.
            if self._annotate(job, {manifest.END: record.to_json()}, stop=True):
                grace = max(1, math.ceil(grace_s))  # 0 would force-delete without the kubelet
                for pod in pods:
                    self._delete_pod(pod, grace)
                return
            # The Job changed meanwhile (a poll recorded something): decide again.
        raise EngineError(f"could not cancel Job {engine_job_id}: it kept changing.")

    def _delete_pod(self, pod: Obj, grace: int) -> None:
        name = str((pod.get("metadata") or {}).get("name", ""))
        try:
            self._call(
                f"delete Pod {name}",
                self._core.delete_namespaced_pod,
                name,
                self._namespace,
                grace_period_seconds=grace,
            )
        except _NotFound:
            return  # already gone (the Job controller scaled it down)

    # ---- logs ---------------------------------------------------------------------------

    def _read_log(self, engine_job_id: str, stream: str, offset: int, limit: int) -> bytes:
        job = self._read_job(engine_job_id)
        if limit <= 0 or (stream == "stderr" and not self._split_log_streams):
            return b""  # Kubernetes interleaves stderr into the one container log
        pods = [p for p in self._pods_of(job) if (p.get("spec") or {}).get("nodeName")]
        if not pods:
            return b""
        pod = max(pods, key=lambda p: str(p["metadata"].get("creationTimestamp", "")))
        extra: dict[str, Any] = {}
        if self._split_log_streams:
            extra["stream"] = "Stdout" if stream == "stdout" else "Stderr"
        try:
            response = self._core.read_namespaced_pod_log(
                pod["metadata"]["name"],
                self._namespace,
                container=manifest.CONTAINER,
                limit_bytes=offset + limit,
                _preload_content=False,
                _request_timeout=self._timeout,
                **extra,
            )
        except ApiException as exc:
            # 400: the container is waiting to start; 404: the pod went meanwhile.
            if exc.status in (400, 404):
                return b""
            raise _engine_error(f"read the log of Job {engine_job_id}", exc) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _engine_error(f"read the log of Job {engine_job_id}", exc) from None
        data = bytes(response.data)
        return data[offset : offset + limit]

    # ---- adoption, cleanup --------------------------------------------------------------

    def _known(self) -> list[EngineState]:
        selector = (
            f"{manifest.MANAGED_BY}={manifest.MANAGED_BY_VALUE},"
            f"{manifest.INSTANCE}={manifest.label_value(self._instance)}"
        )
        jobs = self._get(
            "list Jobs",
            self._batch.list_namespaced_job,
            self._namespace,
            label_selector=selector,
        )
        states: list[EngineState] = []
        for job in jobs.get("items") or []:
            name = str((job.get("metadata") or {}).get("name", ""))
            try:
                states.append(self._poll(name))
            except EngineError as exc:
                log.warning("%s: skipping Job %s: %s", self.name, name, exc)
        return states

    def _forget(self, engine_job_id: str) -> None:
        """Delete the Job; the garbage collector deletes its pods (a running one is killed:
        nobody would ever learn its outcome)."""
        try:
            self._call(
                f"delete Job {engine_job_id}",
                self._batch.delete_namespaced_job,
                engine_job_id,
                self._namespace,
                propagation_policy="Background",
            )
        except _NotFound:
            return

    # ---- detect -------------------------------------------------------------------------

    def detect(self) -> list[DetectedNode]:
        """Schedulable, Ready nodes with their allocatable cpu, memory and GPUs (the model from the
        GPU label; GPUs of a label naming no known model are left out, with a warning)."""
        nodes: list[DetectedNode] = []
        for node in self._nodes(cached=False):
            if (node.get("spec") or {}).get("unschedulable") or not _ready(node):
                continue
            detected = self._detected(node)
            if detected is not None:
                nodes.append(detected)
        return nodes

    def _detected(self, node: Obj) -> DetectedNode | None:
        meta = node.get("metadata") or {}
        name = str(meta.get("name", ""))
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        try:
            cpu_milli = parse_cpu_milli(str(allocatable.get("cpu", "0")))
            memory_mb = parse_memory_mib(str(allocatable.get("memory", "0")))
            gpu_count = int(str(allocatable.get(self._gpu_resource, "0")))
        except ValueError as exc:
            log.warning("%s: skipping node %s: %s", self.name, name, exc)
            return None
        gpus: dict[str, int] = {}
        labels = meta.get("labels") or {}
        if gpu_count:
            model = _model_of(str(labels.get(self._gpu_label, "")))
            if model is None:
                log.warning(
                    "%s: node %s has %d %s but its label %s=%r names no known GPU model; "
                    "its GPUs are not offered",
                    self.name,
                    name,
                    gpu_count,
                    self._gpu_resource,
                    self._gpu_label,
                    labels.get(self._gpu_label),
                )
            else:
                gpus[model] = gpu_count
        gpu_memory = _int_or_zero(labels.get("nvidia.com/gpu.memory"))  # GPU feature discovery
        return DetectedNode(name, Resources(cpu_milli, memory_mb, gpus, gpu_memory if gpus else 0))

    def _nodes(self, *, cached: bool) -> list[Obj]:
        with self._lock:
            if (
                cached
                and self._nodes_cache
                and time.monotonic() - self._nodes_cache[0] < _NODE_CACHE_S
            ):
                return self._nodes_cache[1]
        items = list(self._get("list Nodes", self._core.list_node).get("items") or [])
        with self._lock:
            self._nodes_cache = (time.monotonic(), items)
        return items

    # ---- API plumbing -------------------------------------------------------------------

    def _read_job(self, engine_job_id: str) -> Obj:
        if not engine_job_id or "/" in engine_job_id:
            raise EngineError(f"{engine_job_id!r} is not a Kubernetes engine job id.")
        try:
            job = self._get(
                f"read Job {engine_job_id}",
                self._batch.read_namespaced_job,
                engine_job_id,
                self._namespace,
            )
        except _NotFound:
            raise EngineError(
                f"the Kubernetes engine knows no Job {engine_job_id!r} in namespace "
                f"{self._namespace!r}."
            ) from None
        labels = (job.get("metadata") or {}).get("labels") or {}
        if labels.get(manifest.MANAGED_BY) != manifest.MANAGED_BY_VALUE:
            raise EngineError(f"Job {self._namespace}/{engine_job_id} was not made by suanli.")
        return job

    def _pods_of(self, job: Obj) -> list[Obj]:
        uid = (job.get("metadata") or {}).get("uid")
        name = (job.get("metadata") or {}).get("name")
        pods = self._get(
            f"list the pods of Job {name}",
            self._core.list_namespaced_pod,
            self._namespace,
            label_selector=f"controller-uid={uid}",
        )
        return list(pods.get("items") or [])

    def _annotate(self, job: Obj, annotations: Mapping[str, str], *, stop: bool = False) -> bool:
        """Add `annotations` to the Job (and set its parallelism to 0 if `stop`) unless it
        changed since it was read (False then). One merge patch, conditional on the
        resourceVersion read, so that concurrent pollers and cancels never both win."""
        meta = job.get("metadata") or {}
        patch: Obj = {
            "metadata": {
                "annotations": dict(annotations),
                "resourceVersion": meta.get("resourceVersion"),
            }
        }
        if stop:
            patch["spec"] = {"parallelism": 0}
        try:
            self._call(
                f"update Job {meta.get('name')}",
                self._batch.patch_namespaced_job,
                meta.get("name"),
                self._namespace,
                patch,
                _content_type="application/merge-patch+json",
            )
        except _Conflict:
            return False
        return True

    def _get(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Obj:
        """Call a read/list method and return the JSON object of its answer."""
        response = self._call(what, method, *args, **kwargs)
        try:
            data = json.loads(response.data)
        except (ValueError, AttributeError) as exc:
            raise EngineError(f"Kubernetes API: {what}: unreadable answer: {exc}") from None
        if not isinstance(data, dict):
            raise EngineError(f"Kubernetes API: {what}: unexpected answer {str(data)[:200]}")
        return data

    def _call(self, what: str, method: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Call the API with a timeout and raw answers; failures become EngineError (404 and
        409 as their subclasses, for the callers that handle them)."""
        try:
            return method(*args, _preload_content=False, _request_timeout=self._timeout, **kwargs)
        except ApiException as exc:
            if exc.status == 404:
                raise _NotFound(str(_engine_error(what, exc))) from None
            if exc.status == 409:
                raise _Conflict(str(_engine_error(what, exc))) from None
            raise _engine_error(what, exc) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise _engine_error(what, exc) from None


class _NotFound(EngineError):
    pass


class _Conflict(EngineError):
    pass


def _api_client(kubeconfig: str | None, context: str | None) -> Any:
    """An API client from the kubeconfig, else in-cluster, else ~/.kube/config."""
    load_incluster: Callable[..., None] = k8s_config.load_incluster_config
    from_kubeconfig: Callable[..., Any] = k8s_config.new_client_from_config
    try:
        if kubeconfig is None and context is None:
            try:
                configuration = k8s.Configuration()
                load_incluster(client_configuration=configuration)
                return k8s.ApiClient(configuration)
            except k8s_config.ConfigException:
                pass  # not in a pod: fall back to ~/.kube/config
        return from_kubeconfig(config_file=kubeconfig, context=context)
    except (k8s_config.ConfigException, OSError, ValueError) as exc:
        where = kubeconfig or "~/.kube/config or the in-cluster service account"
        raise EngineError(f"cannot configure the Kubernetes client from {where}: {exc}") from None


def _engine_error(what: str, exc: BaseException) -> EngineError:
    if isinstance(exc, ApiException):
        detail = f"HTTP {exc.status} {exc.reason or ''}".strip()
        message = ""
        try:
            body = exc.body.decode() if isinstance(exc.body, bytes) else exc.body
            message = str(json.loads(body).get("message") or "") if body else ""
        except (ValueError, AttributeError):
            message = str(exc.body or "")[:300]
        return EngineError(
            f"Kubernetes API: {what} failed: {detail}{f': {message}' if message else ''}"
        )
    return EngineError(f"Kubernetes API: {what} failed: cannot reach the API server: {exc}")


def _ready(node: Obj) -> bool:
    for condition in (node.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready":
            return bool(condition.get("status") == "True")
    return False


def _model_of(label: str) -> str | None:
    if not label:
        return None
    try:
        return canonical_gpu_model(label)
    except InvalidInput:
        return None


def _int_or_zero(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0
