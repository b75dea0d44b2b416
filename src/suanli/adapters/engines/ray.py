"""The Ray engine: runs each task as a Ray job through Ray's Job Submission API.

Contract:

- ``submit`` submits a job with submission id ``suanli-<instance>-<task key>`` (so a second
  submission of an attempt is refused: EngineError), metadata ``suanli_job_id``,
  ``suanli_attempt``, ``suanli_instance``, ``suanli_gpus``, and the entrypoint
  ``<python> -m suanli_ray_runner --id SID [--time-limit S] --grace G [--cwd DIR] -- ARGV``
  quoted with `shlex.join`: Ray runs entrypoints through ``/bin/sh -c``, and POSIX single
  quoting hands the job exactly its argv. The runner package is shipped with the job
  (``runtime_env.py_modules``; Ray uploads it once per content hash), so nodes need only a
  ``python3`` (option ``python``) and Ray. The job asks for ``entrypoint_num_cpus``,
  ``entrypoint_memory``, ``entrypoint_num_gpus`` and, for a GPU model, the custom resource
  ``GPU_<MODEL>`` (``gpu_resource_prefix``) that nodes declare, e.g. ``ray start
  --num-gpus 4 --resources '{"GPU_H100": 4}'``. Environment: ``runtime_env.env_vars`` =
  the task's env plus ``SUANLI_JOB_ID``, ``SUANLI_ATTEMPT``, ``SUANLI_GANG_SIZE``
  (``SUANLI_NODES`` when set) and ``RAY_JOB_STOP_WAIT_TIME_S``. ``working_dir`` is a path
  on the node that runs the job (default: a fresh directory in the node's Ray session).
- What the runner (`suanli_ray_runner`) adds to Ray: separate stdout and stderr (Ray keeps
  one combined log; the runner also writes each stream to a file in the node's Ray logs
  dir, read here through the dashboard's log API, while Ray's log keeps the combined
  output), the time limit (Ray has none: SIGTERM at the limit, SIGKILL ``timeout_grace_s``
  later, reason ``TIMEOUT: ...``) and a record of the job's real start, end and exit.
- ``poll`` maps Ray's job record and the runner's record with `ray_status.verdict`
  (PENDING/RUNNING -> RUNNING, SUCCEEDED, FAILED with the exit code, STOPPED -> CANCELLED,
  a dead supervisor actor -> LOST ``NODE_FAIL: ...``). Final states are cached. A job this
  engine submitted or listed that the cluster no longer knows (a head restarted without
  GCS fault tolerance) is LOST; any other unknown id is an EngineError.
- ``cancel`` calls Ray's stop: Ray SIGTERMs the job's process tree and SIGKILLs it after
  ``RAY_JOB_STOP_WAIT_TIME_S``, which the engine sets at submission to
  ``ceil(timeout_grace_s)``: Ray offers no per-stop grace, so ``grace_s`` of `cancel` is
  not used. A job still PENDING (its supervisor actor not scheduled) keeps that status in
  Ray, for ever if its resources never appear (Ray queues the stop and applies it if the
  job ever starts): the engine notes the cancel in ``state_dir/cancels/<id>.json`` and
  reports such a job CANCELLED.
- ``read_log``: the runner's ``stdout.log`` / ``stderr.log`` from the job's driver node,
  through ``GET /api/v0/logs/file`` (which serves whole files; the engine cuts the byte
  range). Empty before the job starts.
- ``known`` lists this instance's jobs (``GET /api/jobs/``, submission-id prefix and
  metadata): re-adoption after an agent restart. ``forget`` stops a job that still runs and
  deletes Ray's record of it once it has ended (the runner's files stay in the node's Ray
  logs, like Ray's own job logs).
- ``detect`` lists the alive nodes (``GET /api/v0/nodes``): CPUs, Ray's logical memory and
  GPUs by model from the ``GPU_<MODEL>`` resources (at most the node's ``GPU`` count). GPUs
  without a model resource are not offered.
- Every call to Ray has a timeout (``request_timeout_s``); failures raise EngineError.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import re
import shlex
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from suanli.adapters.engines import ray_status
from suanli.adapters.engines import suanli_ray_runner as runner
from suanli.domain.devices import ANY_GPU, canonical_gpu_model
from suanli.domain.errors import InvalidInput
from suanli.domain.ids import JobId
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

log = logging.getLogger("suanli.engine.ray")

RUNNER_DIR = Path(runner.__file__).parent
"""Shipped to the nodes as a py_module: importable there as ``suanli_ray_runner``."""
ID_PREFIX = "suanli-"
DEFAULT_GPU_RESOURCE_PREFIX = "GPU_"
MIB = 1024 * 1024
_STREAMS = {"stdout": runner.STDOUT_LOG, "stderr": runner.STDERR_LOG}
_INSTANCE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_SAFE_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_NOT_FOUND = "not found"
_ENDED = ("SUCCEEDED", "FAILED", "STOPPED")
DELETE_AFTER_S = 10.0
"""Ray's job monitor notices a job's end up to about a second late; a record deleted before
that is written again (FAILED, "supervisor actor died"). Forgotten jobs are deleted once
they ended at least this long ago."""


# ---- pure helpers (unit-tested without Ray) ------------------------------------------------


def submission_id(instance: str, task_key: str) -> str:
    """The Ray submission id of a task: derived from its key, so re-submission is seen."""
    if not _SAFE_KEY.match(task_key):
        raise EngineError(
            f"task key {task_key!r} cannot name a Ray job (letters, digits, '.', '_', '-')."
        )
    return f"{ID_PREFIX}{instance}-{task_key}"


def entrypoint(task: EngineTask, sid: str, *, python: str, grace_s: float) -> str:
    """The shell command Ray runs: the runner, its options, then the task's argv, quoted so
    that ``/bin/sh -c`` hands the job exactly `task.argv`."""
    if not task.argv or not task.argv[0]:
        raise EngineError(f"task {task.key} has an empty command.")
    words = [python, "-m", runner.MODULE, "--id", sid, "--grace", f"{grace_s:g}"]
    if task.time_limit_s is not None:
        words += ["--time-limit", str(task.time_limit_s)]
    if task.working_dir is not None:
        words += ["--cwd", task.working_dir]
    return shlex.join([*words, "--", *task.argv])


def job_env(task: EngineTask, stop_wait_s: int) -> dict[str, str]:
    env = task.job_env()
    # Read by the job's supervisor (it runs in the job's runtime env): Ray's grace
    # between SIGTERM and SIGKILL on stop.
    env["RAY_JOB_STOP_WAIT_TIME_S"] = str(stop_wait_s)
    return env


def gpu_request(task: EngineTask, prefix: str) -> tuple[int, dict[str, float]]:
    """GPUs of the task and the custom resources that pin their model."""
    gpus = task.allocation.gpu_count
    models = [m for m, n in task.allocation.gpus.items() if n]
    if len(models) > 1:
        raise EngineError(f"task {task.key} asks for several GPU models: {', '.join(models)}.")
    if not models or models[0] == ANY_GPU:
        return gpus, {}
    return gpus, {f"{prefix}{models[0]}": float(gpus)}


def node_of(entry: Mapping[str, Any], prefix: str) -> DetectedNode | None:
    """A node from the state API's node entry (None unless it is alive)."""
    if entry.get("state") != "ALIVE":
        return None
    total = entry.get("resources_total") or {}
    gpus: dict[str, int] = {}
    for name, value in total.items():
        if not str(name).startswith(prefix) or not isinstance(value, int | float):
            continue
        raw = str(name)[len(prefix) :]
        try:
            model = canonical_gpu_model(raw)
        except InvalidInput:
            log.warning("ray: node resource %s names no known GPU model; ignored", name)
            continue
        gpus[model] = gpus.get(model, 0) + int(value)
    # A job asks for both `GPU` and the model's resource: a node offers the lesser.
    plain = int(total.get("GPU") or 0)
    gpus = {model: min(count, plain) for model, count in gpus.items() if min(count, plain)}
    if plain != sum(gpus.values()):
        log.warning(
            "ray: node %s has %d GPUs and %s<MODEL> resources for %d: it offers %d (declare "
            "one model resource per GPU, e.g. ray start --num-gpus 4 --resources "
            "'{\"%sH100\": 4}')",
            entry.get("node_name"),
            plain,
            prefix,
            sum(int(v) for k, v in total.items() if str(k).startswith(prefix)),
            sum(gpus.values()),
            prefix,
        )
    cpus = float(total.get("CPU") or 0)
    memory = int(float(total.get("memory") or 0) // MIB)
    name = str(entry.get("node_name") or entry.get("node_ip") or entry.get("node_id"))
    return DetectedNode(name, Resources(int(cpus * 1000), memory, gpus))


# ---- the engine ----------------------------------------------------------------------------


class RayEngine(Engine):
    """Runs tasks as Ray jobs; see the module docstring for the contract."""

    name = "ray"
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
        address: str,
        state_dir: Path,
        clock: Clock,
        *,
        instance: str = "default",
        python: str = "python3",
        gpu_resource_prefix: str = DEFAULT_GPU_RESOURCE_PREFIX,
        timeout_grace_s: float = 10.0,
        request_timeout_s: float = 15.0,
        delete_after_s: float = DELETE_AFTER_S,
    ) -> None:
        """`address`: the dashboard's URL (the Job API), e.g. http://127.0.0.1:8265.
        `instance` tells this agent's jobs from other agents' on a shared cluster. `python`
        runs the runner on the nodes. Connects lazily: a cluster that is down shows as
        EngineError on the first call, not here."""
        if not _INSTANCE.match(instance):
            raise EngineError(
                f"Ray engine instance {instance!r}: use 1-63 lower-case letters, digits, "
                "'-' or '_'."
            )
        if timeout_grace_s < 0 or request_timeout_s <= 0:
            raise EngineError("timeout_grace_s must be >= 0 and request_timeout_s > 0.")
        self._address = address.rstrip("/")
        self._instance = instance
        self._prefix = f"{ID_PREFIX}{instance}-"
        self._python = python
        self._gpu_prefix = gpu_resource_prefix
        self._grace_s = timeout_grace_s
        self._timeout = request_timeout_s
        self._delete_after_s = delete_after_s
        self._clock = clock
        self._cancels = Path(state_dir).absolute() / "cancels"
        self._cancels.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._client_obj: Any = None
        self._mine: set[str] = set()
        """Jobs this instance submitted or listed: one Ray forgets is LOST, not unknown."""
        self._final: dict[str, EngineState] = {}
        """Ended tasks: their state no longer changes."""
        self._tasks: dict[str, _Task] = {}
        self._started: dict[str, dict[str, Any]] = {}
        """Runner records of running tasks that show a start: polls need not fetch it again."""
        self._to_delete: set[str] = set()
        self._sweeper: threading.Timer | None = None

    @property
    def instance(self) -> str:
        return self._instance

    # ---- submit -------------------------------------------------------------------------

    def _submit(self, task: EngineTask) -> str:
        sid = submission_id(self._instance, task.key)
        gpus, resources = gpu_request(task, self._gpu_prefix)
        stop_wait = math.ceil(self._grace_s)
        runtime_env = {
            "env_vars": job_env(task, stop_wait),
            "py_modules": [str(RUNNER_DIR)],
            "excludes": ["__pycache__"],
        }
        metadata = {
            "suanli_job_id": str(task.job_id),
            "suanli_attempt": str(task.attempt),
            "suanli_instance": self._instance,
            "suanli_gpus": str(gpus),
        }
        cpus = task.allocation.cpu_milli / 1000
        memory = task.allocation.memory_mb * MIB
        try:
            self._client().submit_job(
                entrypoint=entrypoint(task, sid, python=self._python, grace_s=self._grace_s),
                submission_id=sid,
                runtime_env=runtime_env,
                metadata=metadata,
                entrypoint_num_cpus=cpus or None,
                entrypoint_num_gpus=gpus or None,
                entrypoint_memory=memory or None,
                entrypoint_resources=resources or None,
            )
        except Exception as exc:  # the SDK raises RuntimeError, OSError, RayError, ValueError...
            if "already exists" in str(exc) or "already been used" in str(exc):
                raise EngineError(
                    f"task {task.key} was already submitted to Ray (job {sid} exists); "
                    "forget it first or submit a new attempt."
                ) from None
            raise EngineError(f"Ray refused task {task.key} (job {sid}): {exc}") from None
        with self._lock:
            self._mine.add(sid)
            self._tasks[sid] = _Task(task.job_id, task.attempt, gpus)
        return sid

    def _gpus_of(self, engine_job_id: str) -> int:
        with self._lock:
            known = self._tasks.get(engine_job_id)
        if known is not None:
            return known.gpus
        info = self._info(engine_job_id)
        return _Task.of(info).gpus if info is not None else 0

    # ---- poll ---------------------------------------------------------------------------

    def _poll(self, engine_job_id: str) -> EngineState:
        with self._lock:
            cached = self._final.get(engine_job_id)
        if cached is not None:
            return cached
        info = self._info(engine_job_id)
        if info is None:
            return self._vanished(engine_job_id)
        return self._state(engine_job_id, info)

    def _state(self, sid: str, info: Mapping[str, Any]) -> EngineState:
        status = str(info.get("status") or "")
        with self._lock:
            record: dict[str, Any] | None = self._started.get(sid)
        definitive = True
        if (
            status != "PENDING"
            and info.get("driver_node_id")
            and not (status == "RUNNING" and record is not None)
        ):
            try:
                record = self._record(sid, str(info["driver_node_id"]))
            except EngineError as exc:
                # The node may be gone with the job: map what Ray says, cache nothing.
                log.warning("ray: cannot read the runner's record of %s: %s", sid, exc)
                definitive = False
        cancel = self._cancel_note(sid) if status == "PENDING" else None
        v = ray_status.verdict(info, record, cancel)
        task = _Task.of(info)
        state = EngineState(
            engine_job_id=sid,
            job_id=task.job_id,
            attempt=task.attempt,
            status=v.status,
            started_at=v.started_at,
            ended_at=v.ended_at,
            exit_code=v.exit_code,
            reason=v.reason,
        )
        with self._lock:
            self._tasks[sid] = task
            if v.status == JobStatus.RUNNING:
                if record is not None and record.get("started_at"):
                    self._started[sid] = record
            elif definitive:
                self._final[sid] = state
                self._started.pop(sid, None)
        return state

    def _vanished(self, sid: str) -> EngineState:
        with self._lock:
            mine = sid in self._mine
            task = self._tasks.get(sid, _Task(JobId(""), 0, 0))
        if not mine:
            raise EngineError(f"the Ray cluster at {self._address} knows no job {sid!r}.")
        state = EngineState(
            engine_job_id=sid,
            job_id=task.job_id,
            attempt=task.attempt,
            status=JobStatus.LOST,
            ended_at=self._clock.now(),
            reason=(
                "NODE_FAIL: the Ray cluster no longer knows the job (its head restarted "
                "without GCS fault tolerance?); its outcome is unknown"
            ),
        )
        with self._lock:
            self._final[sid] = state
        return state

    # ---- cancel -------------------------------------------------------------------------

    def _cancel(self, engine_job_id: str, grace_s: float) -> None:
        info = self._info(engine_job_id)
        if info is None:
            self._vanished(engine_job_id)
            return
        status = str(info.get("status") or "")
        if status in _ENDED:
            return
        self._stop(engine_job_id)
        if status == "PENDING":
            note = {"requested_at": self._clock.now().isoformat(), "grace_s": grace_s}
            runner.write_json_atomic(self._cancel_path(engine_job_id), note)

    def _stop(self, sid: str) -> None:
        self._request("POST", f"/api/jobs/{quote(sid, safe='')}/stop", f"stop job {sid}", ok=(200,))

    def _cancel_path(self, sid: str) -> Path:
        # The id names a file: refuse anything that could step outside the state dir.
        if not _SAFE_KEY.match(sid):
            raise EngineError(f"{sid!r} is not a Ray engine job id.")
        return self._cancels / f"{sid}.json"

    def _cancel_note(self, sid: str) -> dict[str, Any] | None:
        try:
            data = json.loads(self._cancel_path(sid).read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    # ---- logs ---------------------------------------------------------------------------

    def _read_log(self, engine_job_id: str, stream: str, offset: int, limit: int) -> bytes:
        info = self._info(engine_job_id)
        if info is None:
            self._vanished(engine_job_id)
            return b""
        node = info.get("driver_node_id")
        if limit <= 0 or not node:
            return b""
        data = self._file(str(node), f"{engine_job_id}/{_STREAMS[stream]}")
        return (data or b"")[offset : offset + limit]

    def _record(self, sid: str, node: str) -> dict[str, Any] | None:
        data = self._file(node, f"{sid}/{runner.RECORD_FILE}")
        if data is None:
            return None
        try:
            record = json.loads(data)
        except ValueError:
            return None
        return record if isinstance(record, dict) else None

    def _file(self, node: str, name: str) -> bytes | None:
        """A file of the runner's directory on `node` (None if it does not exist)."""
        params = {
            "node_id": node,
            "filename": f"{runner.FILES_SUBDIR}/{name}",
            "lines": -1,  # the whole file
            "timeout": max(1, int(self._timeout)),
        }
        r = self._request("GET", "/api/v0/logs/file", f"read {name}", params=params)
        if r.status_code == 200:
            return bytes(r.content)
        if _NOT_FOUND in r.text.lower():
            return None
        raise EngineError(f"Ray's log API failed to read {name}: {r.status_code} {r.text[:300]}")

    # ---- adoption, cleanup --------------------------------------------------------------

    def _known(self) -> list[EngineState]:
        r = self._request("GET", "/api/jobs/", "list jobs", ok=(200,))
        jobs = _json(r, "list jobs")
        if not isinstance(jobs, list):
            raise EngineError("Ray's job list is not a list.")
        states: list[EngineState] = []
        for info in jobs:
            if not isinstance(info, dict) or not self._is_mine(info):
                continue
            sid = str(info["submission_id"])
            with self._lock:
                self._mine.add(sid)
                cached = self._final.get(sid)
            states.append(cached or self._state(sid, info))
        self._sweep_deletes()
        return states

    def _is_mine(self, info: Mapping[str, Any]) -> bool:
        sid = str(info.get("submission_id") or "")
        metadata = info.get("metadata") or {}
        with self._lock:
            if sid in self._to_delete:
                return False
        return sid.startswith(self._prefix) and metadata.get("suanli_instance") == self._instance

    def _forget(self, engine_job_id: str) -> None:
        """Stop the job if it still runs (nobody would learn its outcome) and delete Ray's
        record of it once it has ended (`delete_after_s` later)."""
        with self._lock:
            self._final.pop(engine_job_id, None)
            self._tasks.pop(engine_job_id, None)
            self._started.pop(engine_job_id, None)
            self._mine.discard(engine_job_id)
        with contextlib.suppress(OSError):
            self._cancel_path(engine_job_id).unlink()
        info = self._info(engine_job_id)
        if info is None:
            return
        if str(info.get("status")) not in _ENDED:
            self._stop(engine_job_id)
        with self._lock:
            self._to_delete.add(engine_job_id)
        self._sweep_deletes()

    def _sweep_deletes(self) -> None:
        """Delete Ray's records of forgotten jobs that ended at least `delete_after_s` ago;
        come back later (a daemon timer) for the others."""
        with self._lock:
            pending = sorted(self._to_delete)
        now_ms = self._clock.now().timestamp() * 1000
        later = False
        for sid in pending:
            try:
                info = self._info(sid)
                if info is None:
                    done = True
                elif _ended_before(info, now_ms - self._delete_after_s * 1000):
                    path = f"/api/jobs/{quote(sid, safe='')}"
                    r = self._request("DELETE", path, f"delete job {sid}")
                    done = r.status_code in (200, 404)
                else:
                    done = False
            except EngineError as exc:
                log.warning("ray: cannot delete forgotten job %s yet: %s", sid, exc)
                done = False
            if done:
                with self._lock:
                    self._to_delete.discard(sid)
            later = later or not done
        if later:
            self._sweep_later()

    def _sweep_from_timer(self) -> None:
        with self._lock:
            self._sweeper = None
        self._sweep_deletes()

    def _sweep_later(self) -> None:
        with self._lock:
            if self._sweeper is not None and self._sweeper.is_alive():
                return
            self._sweeper = threading.Timer(self._delete_after_s, self._sweep_from_timer)
            self._sweeper.daemon = True  # dies with the agent; `known` sweeps again
            self._sweeper.start()

    # ---- detect -------------------------------------------------------------------------

    def detect(self) -> list[DetectedNode]:
        params = {"limit": 10000, "timeout": max(1, int(self._timeout))}
        r = self._request("GET", "/api/v0/nodes", "list nodes", params=params, ok=(200,))
        body = _json(r, "list nodes")
        try:
            entries = body["data"]["result"]["result"]
        except (KeyError, TypeError):
            raise EngineError("Ray's node list has an unexpected shape.") from None
        nodes = [node_of(e, self._gpu_prefix) for e in entries if isinstance(e, dict)]
        return [n for n in nodes if n is not None]

    # ---- Ray's API --------------------------------------------------------------------------

    def _info(self, sid: str) -> dict[str, Any] | None:
        """Ray's record of job `sid`; None if the cluster knows no such job."""
        if not sid:
            raise EngineError("an empty Ray engine job id.")
        r = self._request("GET", f"/api/jobs/{quote(sid, safe='')}", f"read job {sid}")
        if r.status_code == 404:
            return None
        if r.status_code != 200:
            raise EngineError(f"Ray failed to read job {sid}: {r.status_code} {r.text[:300]}")
        info = _json(r, f"read job {sid}")
        if not isinstance(info, dict):
            raise EngineError(f"Ray's record of job {sid} is not an object.")
        return info

    def _request(
        self,
        method: str,
        endpoint: str,
        what: str,
        *,
        ok: tuple[int, ...] | None = None,
        **kwargs: Any,
    ) -> Any:
        """One HTTP call to the dashboard, with the client's auth and our timeout."""
        try:
            r = self._client()._do_request(method, endpoint, **kwargs)
        except EngineError:
            raise
        except Exception as exc:  # requests' errors (OSError), Ray's AuthenticationError...
            raise EngineError(f"cannot {what} at Ray {self._address}: {exc}") from None
        if ok is not None and r.status_code not in ok:
            raise EngineError(f"Ray failed to {what}: {r.status_code} {r.text[:300]}")
        return r

    def _client(self) -> Any:
        with self._lock:
            if self._client_obj is None:
                self._client_obj = _make_client(self._address, self._timeout)
            return self._client_obj


def _make_client(address: str, timeout: float) -> Any:
    """Ray's JobSubmissionClient, every request of which has `timeout` (the SDK sets none;
    its requests all go through `_do_request`, which passes keywords to `requests`)."""
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError as exc:
        raise EngineError(
            f"the Ray engine needs Ray's job SDK: pip install 'suanli[ray]' (ray[default]); {exc}"
        ) from None

    def _do_request(self: Any, method: str, endpoint: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", timeout)
        return JobSubmissionClient._do_request(self, method, endpoint, **kwargs)

    # The SDK logs every package check at INFO on Ray's own handler; the engine logs its
    # submissions itself.
    logging.getLogger("ray.dashboard.modules.dashboard_sdk").setLevel(logging.WARNING)
    # Built with type(): Ray is optional, and its classes are Any where it is missing.
    client_class = type(
        "TimedJobSubmissionClient", (JobSubmissionClient,), {"_do_request": _do_request}
    )
    try:
        return client_class(address)
    except Exception as exc:  # the version check raises ConnectionError, RuntimeError...
        raise EngineError(f"cannot reach Ray's Job API at {address}: {exc}") from None


def _ended_before(info: Mapping[str, Any], limit_ms: float) -> bool:
    end = info.get("end_time")
    return (
        str(info.get("status")) in _ENDED
        and isinstance(end, int | float)
        and not isinstance(end, bool)
        and 0 < end <= limit_ms
    )


def _json(r: Any, what: str) -> Any:
    try:
        return r.json()
    except ValueError:
        raise EngineError(f"Ray answered {what} with something that is not JSON.") from None


@dataclass(frozen=True, slots=True)
class _Task:
    """What the engine remembers of a task (also kept in the job's metadata)."""

    job_id: JobId
    attempt: int
    gpus: int

    @classmethod
    def of(cls, info: Mapping[str, Any]) -> _Task:
        metadata = info.get("metadata") or {}
        return cls(
            JobId(str(metadata.get("suanli_job_id", ""))),
            _int(metadata.get("suanli_attempt")),
            _int(metadata.get("suanli_gpus")),
        )


def _int(value: object) -> int:
    try:
        return int(str(value))
    except ValueError:
        return 0
