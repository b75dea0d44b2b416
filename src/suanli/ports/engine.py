"""The engine port: how an agent runs work on whatever its provider already operates.

Public methods log and time once, then call the private hooks each engine implements
(`_submit`, `_poll`, `_cancel`, `_read_log`, `_known`), after SkyPilot's Backend. Engines
declare their capabilities; callers ask instead of checking types.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from suanli.domain.calibration import NodeCalibration
from suanli.domain.ids import JobId, NodeId
from suanli.domain.jobs import JobStatus, Placement
from suanli.domain.pool import Capability as Capability  # re-exported: engines declare theirs
from suanli.domain.resources import Resources

log = logging.getLogger("suanli.engine")


LOG_STREAMS = ("stdout", "stderr")


@dataclass(frozen=True, slots=True)
class EngineTask:
    """One attempt of one job, as handed to an engine."""

    job_id: JobId
    attempt: int
    argv: tuple[str, ...]
    allocation: Resources
    env: Mapping[str, str] = field(default_factory=dict)
    working_dir: str | None = None
    time_limit_s: int | None = None
    placements: tuple[Placement, ...] = ()
    """Per-node allocations of the attempt (a gang's nodes); empty: `allocation` on one node."""
    nodes: tuple[NodeId, ...] = ()
    """One node id per gang member. Engines run the command once, on the first node (like
    Slurm's batch script), with SUANLI_GANG_SIZE and SUANLI_NODES set; the command starts
    the other members itself."""
    tenant_id: str = ""
    """The job's tenant. Engines that isolate tenants from each other (the local engine as
    root) run its jobs as that tenant's own user; others ignore it."""

    @property
    def key(self) -> str:
        return f"{self.job_id}.{self.attempt}"

    @property
    def gang_size(self) -> int:
        return max(1, len(self.nodes))

    def job_env(self) -> dict[str, str]:
        """The task's environment plus what every engine passes to the job:
        SUANLI_JOB_ID, SUANLI_ATTEMPT, SUANLI_GANG_SIZE and (for a gang) SUANLI_NODES."""
        env = {
            **self.env,
            "SUANLI_JOB_ID": str(self.job_id),
            "SUANLI_ATTEMPT": str(self.attempt),
            "SUANLI_GANG_SIZE": str(self.gang_size),
        }
        if self.nodes:
            env["SUANLI_NODES"] = ",".join(self.nodes)
        return env


@dataclass(frozen=True, slots=True)
class EngineState:
    """What the engine knows of one task. `status` is one of RUNNING (incl. starting),
    SUCCEEDED, FAILED, CANCELLED, LOST. While RUNNING, `started_at` is None until the
    job's own process runs (queued in Slurm, a pod pending, a shim still spawning): the
    agent reports the start only then, so a job the platform shows RUNNING has a process."""

    engine_job_id: str
    job_id: JobId
    attempt: int
    status: JobStatus
    started_at: datetime | None = None
    ended_at: datetime | None = None
    exit_code: int | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class EngineUsage:
    """What one task consumed, as its engine saw it: wall time from start to end (or to
    now while it runs), the GPUs it held, and CPU time where the engine measures it."""

    wall_s: float
    gpus: int
    cpu_s: float | None = None

    @property
    def gpu_s(self) -> float:
        return self.gpus * self.wall_s


END_REASONS = ("TIMEOUT", "OOM", "NODE_FAIL", "PREEMPTED")
"""Prefixes of `EngineState.reason` for engine-side kills, followed by ': ' and the
details (e.g. "TIMEOUT: time limit of 60 s exceeded"), so that users and the scheduler see
why the engine ended a task, whatever the engine."""


@dataclass(frozen=True, slots=True)
class DetectedNode:
    hostname: str
    capacity: Resources


class Engine(ABC):
    """Base class of all engines. Subclasses implement the underscored hooks."""

    name: str = "engine"
    capabilities: frozenset[Capability] = frozenset()

    def supports(self, capability: Capability) -> bool:
        return capability in self.capabilities

    def submit(self, task: EngineTask) -> str:
        """Start `task`; return the engine's id for it. Raises EngineError on refusal,
        among others for a gang on an engine that cannot start one (no GANG capability:
        the scheduler never places one there, this guards the agent's side)."""
        if task.gang_size > 1 and not self.supports(Capability.GANG):
            raise EngineError(
                f"{self.name} cannot start a gang of {task.gang_size} members together; "
                "run gangs on a cluster whose engine supports them (local, slurm)."
            )
        began = time.perf_counter()
        engine_job_id = self._submit(task)
        log.info(
            "%s: submitted %s as %s in %.1f ms",
            self.name,
            task.key,
            engine_job_id,
            (time.perf_counter() - began) * 1000,
        )
        return engine_job_id

    def poll(self, engine_job_id: str) -> EngineState:
        """Current state of one task."""
        return self._poll(engine_job_id)

    def cancel(self, engine_job_id: str, grace_s: float) -> None:
        """Ask the task to stop (SIGTERM or the engine's equivalent), kill after `grace_s`.
        Returns at once; the final state shows in `poll`."""
        log.info("%s: cancelling %s (grace %.1f s)", self.name, engine_job_id, grace_s)
        self._cancel(engine_job_id, grace_s)

    def read_log(self, engine_job_id: str, stream: str, offset: int, limit: int) -> bytes:
        """Up to `limit` bytes of `stream` ('stdout' or 'stderr') from byte `offset`.
        Raises EngineError for another stream or a negative offset (checked here, once
        for every engine)."""
        if stream not in LOG_STREAMS:
            raise EngineError(f"unknown log stream {stream!r}; use 'stdout' or 'stderr'.")
        if offset < 0:
            raise EngineError(f"log offset must not be negative, got {offset}.")
        return self._read_log(engine_job_id, stream, offset, limit)

    def usage(self, engine_job_id: str, now: datetime) -> EngineUsage | None:
        """What the task consumed until `now` (all of it once it ended); None before it
        starts. Engines that measure more (CPU time, from their accounting) say so."""
        state = self._poll(engine_job_id)
        if state.started_at is None:
            return None
        end = state.ended_at or now
        wall = max(0.0, (end - state.started_at).total_seconds())
        return EngineUsage(wall, self._gpus_of(engine_job_id), self._cpu_s(engine_job_id))

    def _gpus_of(self, engine_job_id: str) -> int:
        """GPUs the task holds (engines that remember the task's allocation say)."""
        return 0

    def _cpu_s(self, engine_job_id: str) -> float | None:
        """CPU seconds the task used, where the engine's accounting has them."""
        return None

    def known(self) -> list[EngineState]:
        """Every task this engine still knows of (for re-adoption after a restart)."""
        return self._known()

    def forget(self, engine_job_id: str) -> None:
        """Drop bookkeeping of a task whose final state has been recorded upstream."""
        self._forget(engine_job_id)

    @abstractmethod
    def detect(self) -> list[DetectedNode]:
        """The nodes and resources this engine offers."""

    def calibrate(self) -> dict[str, NodeCalibration]:
        """Measure the nodes (by hostname) for the metering standard. Engines that cannot
        run a measurement on their nodes return {} and their hardware is rated from the
        catalog's reference efficiency alone."""
        return {}

    @abstractmethod
    def _submit(self, task: EngineTask) -> str: ...

    @abstractmethod
    def _poll(self, engine_job_id: str) -> EngineState: ...

    @abstractmethod
    def _cancel(self, engine_job_id: str, grace_s: float) -> None: ...

    @abstractmethod
    def _read_log(self, engine_job_id: str, stream: str, offset: int, limit: int) -> bytes: ...

    @abstractmethod
    def _known(self) -> list[EngineState]: ...

    def _forget(self, engine_job_id: str) -> None:  # noqa: B027 - optional hook
        """Optional: engines with local bookkeeping clean it up here."""


class EngineError(Exception):
    """The engine refused or failed an operation; the message says why."""
