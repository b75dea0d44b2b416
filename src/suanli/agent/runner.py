"""The agent loop. One agent serves one cluster with one engine.

Start: register the cluster's nodes (detected by the engine) and every attempt the engine
still knows (so a restarted agent re-adopts running work). Then each step: claim new
assignments and submit them; poll every tracked attempt, push new log bytes, report state
changes; heartbeat on its period and obey the answer (cancel, preempt, abandon). A
preempted attempt is stopped like a cancelled one but with its own, longer grace
(`preemption_grace_s`); every job is told the grace (SUANLI_PREEMPTION_GRACE_S) and the
signal that announces it (SUANLI_CHECKPOINT_SIGNAL=SIGTERM), so it can checkpoint. Logs are pushed
before a final state is reported, so a finished job's logs are complete when it shows as
finished. Every call is idempotent on the server, so a step that fails half-way is simply
repeated.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import suanli
from suanli.domain.calibration import NodeCalibration
from suanli.domain.ids import JobId, NodeId
from suanli.domain.jobs import JobStatus, Placement
from suanli.domain.resources import Resources
from suanli.ports.clock import Clock
from suanli.ports.engine import Engine, EngineError, EngineState, EngineTask
from suanli.sdk.client import ApiError, Client

log = logging.getLogger("suanli.agent")
LOG_CHUNK = 256 * 1024
STREAMS = ("stdout", "stderr")


@dataclass
class Tracked:
    engine_job_id: str
    job_id: JobId
    attempt: int
    reported: JobStatus | None = None
    cancel_sent: bool = False
    preempt_sent: bool = False
    abandoned: bool = False
    """The API gave up on this attempt: stop it, report nothing, forget it once ended."""
    offsets: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STREAMS, 0))


@dataclass(frozen=True, slots=True)
class AgentSettings:
    poll_s: float = 0.5
    heartbeat_s: float = 2.0
    cancel_grace_s: float = 5.0
    preemption_grace_s: float = 30.0
    """SIGTERM-to-SIGKILL grace of a preempted job: its time to checkpoint."""
    claim_limit: int = 50
    calibrate_on_register: bool = True
    """Measure the nodes when the cluster registers (a few seconds of full load)."""


class Agent:
    def __init__(
        self, client: Client, engine: Engine, clock: Clock, settings: AgentSettings | None = None
    ) -> None:
        self._client = client
        self._engine = engine
        self._clock = clock
        self.settings = settings or AgentSettings()
        self.tracked: dict[tuple[str, int], Tracked] = {}
        self._last_heartbeat = -1e9

    def _known(self) -> list[dict[str, Any]]:
        return [
            {"job_id": t.job_id, "attempt": t.attempt}
            for t in self.tracked.values()
            if not t.abandoned
        ]

    def register(self) -> None:
        """Report nodes and re-adopt whatever the engine still runs."""
        for state in self._engine.known():
            self.tracked[(state.job_id, state.attempt)] = Tracked(
                state.engine_job_id, state.job_id, state.attempt
            )
        measured = self._measure() if self.settings.calibrate_on_register else {}
        nodes = [
            {
                "calibration": measured[n.hostname].to_json() if n.hostname in measured else None,
                "hostname": n.hostname,
                "cpus": n.capacity.cpus,
                "memory_mb": n.capacity.memory_mb,
                "gpus": dict(n.capacity.gpus),
                "gpu_memory_mb": n.capacity.gpu_memory_mb,
            }
            for n in self._engine.detect()
        ]
        answer = self._client.agent_register(
            nodes,
            version=suanli.__version__,
            known=self._known(),
            capabilities=sorted(c.value for c in self._engine.capabilities),
        )
        self._last_heartbeat = self._clock.monotonic()
        self._obey(answer)
        log.info("registered %d node(s); re-adopted %d attempt(s)", len(nodes), len(self.tracked))

    def run_once(self) -> None:
        """One step: heartbeat when due, claim, poll and report."""
        if self._clock.monotonic() - self._last_heartbeat >= self.settings.heartbeat_s:
            self._obey(self._client.agent_heartbeat(self._known()))
            self._last_heartbeat = self._clock.monotonic()
        claim = self._client.agent_claim(self.settings.claim_limit)
        for assignment in claim["assignments"]:
            self._isolated(
                f"start {assignment['job_id']}.{assignment['attempt']}", self._start, assignment
            )
        self._obey({"cancel": claim["cancel"], "preempt": claim.get("preempt", [])})
        for key, tracked in list(self.tracked.items()):
            self._isolated(f"follow {key[0]}.{key[1]}", self._follow, key, tracked)

    def _isolated(self, what: str, step: Callable[..., None], *args: Any) -> None:
        """One attempt's failure (a refused report, an engine error) must not stop the
        others: log it and go on; the next step retries it, and the server reconciles an
        attempt the agent never manages to start (it is LOST after two heartbeats)."""
        try:
            step(*args)
        except (ApiError, EngineError, OSError) as exc:
            log.warning("%s failed: %s; retrying next step", what, exc)

    def run_forever(self, stop: threading.Event) -> None:
        """Register, then step until `stop`; API outages are logged and retried."""
        while not stop.is_set():
            try:
                self.register()
                break
            except ApiError as exc:
                log.warning("register failed (%s); retrying", exc.detail)
                stop.wait(self.settings.heartbeat_s)
        while not stop.is_set():
            try:
                self.run_once()
            except ApiError as exc:
                log.warning("agent step failed (%s); retrying", exc.detail)
            except Exception:
                log.exception("agent step failed; retrying")
            stop.wait(self.settings.poll_s)

    def _start(self, a: dict[str, Any]) -> None:
        env = {
            **a["env"],
            "SUANLI_PREEMPTION_GRACE_S": f"{self.settings.preemption_grace_s:g}",
            "SUANLI_CHECKPOINT_SIGNAL": "SIGTERM",
        }
        task = EngineTask(
            job_id=JobId(a["job_id"]),
            attempt=int(a["attempt"]),
            argv=tuple(a["argv"]),
            allocation=_resources(a["allocation"]),
            env=env,
            working_dir=a["working_dir"],
            time_limit_s=a["time_limit_s"],
            placements=tuple(
                Placement(NodeId(p["node_id"]), _resources(p["allocation"]))
                for p in a.get("placements", [])
            ),
            nodes=tuple(NodeId(n) for n in a.get("nodes", [])),
            tenant_id=str(a.get("tenant_id") or ""),
        )
        try:
            engine_job_id = self._engine.submit(task)
        except EngineError as exc:
            now = self._clock.now().isoformat()
            self._client.agent_report(
                task.job_id,
                task.attempt,
                {
                    "status": JobStatus.FAILED.value,
                    "started_at": now,
                    "ended_at": now,
                    "reason": f"The {self._engine.name} engine refused the job: {exc}",
                },
            )
            return
        self.tracked[(task.job_id, task.attempt)] = Tracked(
            engine_job_id, task.job_id, task.attempt
        )

    def _follow(self, key: tuple[str, int], t: Tracked) -> None:
        state = self._engine.poll(t.engine_job_id)
        if t.abandoned:
            if state.status is not JobStatus.RUNNING:
                self._engine.forget(t.engine_job_id)
                del self.tracked[key]
            return
        self._ship_logs(t)
        if state.status is t.reported:
            return
        if state.status is JobStatus.RUNNING and state.started_at is None:
            # Handed to the engine, not started (queued, pending, spawning): the platform
            # keeps it SCHEDULED, so RUNNING always means the job's process exists and
            # billing starts when it does.
            return
        body = _state_body(state)
        if state.status is not JobStatus.RUNNING:
            body["cpu_s"] = self._cpu_s(t.engine_job_id)
        forget = self._client.agent_report(t.job_id, t.attempt, body)
        t.reported = state.status
        if forget:
            self._engine.forget(t.engine_job_id)
            del self.tracked[key]

    def _cpu_s(self, engine_job_id: str) -> float | None:
        """The ended task's CPU seconds from the engine's accounting, if it has them
        now (best effort: a final state is never held back for them)."""
        try:
            usage = self._engine.usage(engine_job_id, self._clock.now())
        except EngineError as exc:
            log.warning("no CPU time for %s: %s", engine_job_id, exc)
            return None
        return usage.cpu_s if usage is not None else None

    def _ship_logs(self, t: Tracked) -> None:
        for stream in STREAMS:
            while True:
                data = self._engine.read_log(t.engine_job_id, stream, t.offsets[stream], LOG_CHUNK)
                if not data:
                    break
                self._client.agent_log(t.job_id, t.attempt, stream, t.offsets[stream], data)
                t.offsets[stream] += len(data)

    def _measure(self) -> dict[str, NodeCalibration]:
        try:
            return self._engine.calibrate()
        except Exception:  # a failed measurement must not keep the cluster out of the pool
            log.exception("calibration failed; the nodes are rated from the catalog")
            return {}

    def _recalibrate(self) -> None:
        measured = self._measure()
        if measured:
            self._client.agent_calibration(
                [{"hostname": h, "calibration": c.to_json()} for h, c in measured.items()]
            )
            log.info("calibrated %d node(s) on the operator's request", len(measured))

    def _obey(self, answer: dict[str, Any]) -> None:
        if answer.get("calibrate"):
            self._recalibrate()
        for ref in answer.get("cancel", []):
            tracked = self.tracked.get((ref["job_id"], ref["attempt"]))
            if tracked is not None and not tracked.cancel_sent:
                tracked.cancel_sent = True
                self._engine.cancel(tracked.engine_job_id, self.settings.cancel_grace_s)
        for ref in answer.get("preempt", []):
            tracked = self.tracked.get((ref["job_id"], ref["attempt"]))
            if tracked is not None and not (tracked.cancel_sent or tracked.preempt_sent):
                log.info(
                    "preempting %s.%s (grace %g s)",
                    tracked.job_id,
                    tracked.attempt,
                    self.settings.preemption_grace_s,
                )
                tracked.preempt_sent = True
                self._engine.cancel(tracked.engine_job_id, self.settings.preemption_grace_s)
        for ref in answer.get("abandon", []):
            tracked = self.tracked.get((ref["job_id"], ref["attempt"]))
            if tracked is not None and not tracked.abandoned:
                log.warning(
                    "abandoning %s.%s: the API no longer expects it",
                    tracked.job_id,
                    tracked.attempt,
                )
                tracked.abandoned = True
                self._engine.cancel(tracked.engine_job_id, self.settings.cancel_grace_s)


def _resources(r: dict[str, Any]) -> Resources:
    return Resources(round(r["cpus"] * 1000), r["memory_mb"], r["gpus"])


def _state_body(state: EngineState) -> dict[str, Any]:
    return {
        "status": state.status.value,
        "engine_job_id": state.engine_job_id,
        "started_at": state.started_at.isoformat() if state.started_at else None,
        "ended_at": state.ended_at.isoformat() if state.ended_at else None,
        "exit_code": state.exit_code,
        "reason": state.reason,
    }
