"""What the agent tells the API about an attempt's progress.

An engine answers RUNNING from the moment it holds a task (queued in Slurm, a pod pending,
the local shim still spawning) and sets `started_at` once the job's own process runs. The
agent reports the start only then: a job the platform shows RUNNING has a process, and its
billed time starts when that process does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from suanli.adapters.clock import ManualClock
from suanli.agent.runner import Agent, AgentSettings
from suanli.domain.ids import JobId
from suanli.domain.jobs import JobStatus
from suanli.ports.engine import DetectedNode, Engine, EngineState, EngineTask
from suanli.sdk.client import Client

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
STARTED = datetime(2026, 12, 4, 9, 0, 7, tzinfo=UTC)


class _Scripted(Engine):
    """An engine whose answer to `poll` the test sets."""

    name = "scripted"

    def __init__(self) -> None:
        self.answer = EngineState("j.1", JobId("j"), 1, JobStatus.RUNNING)

    def detect(self) -> list[DetectedNode]:
        return []

    def _submit(self, task: EngineTask) -> str:
        return task.key

    def _poll(self, engine_job_id: str) -> EngineState:
        return self.answer

    def _cancel(self, engine_job_id: str, grace_s: float) -> None:
        return None

    def _read_log(self, engine_job_id: str, stream: str, offset: int, limit: int) -> bytes:
        return b""

    def _known(self) -> list[EngineState]:
        return [self.answer]

    def _forget(self, engine_job_id: str) -> None:
        return None


@dataclass
class _Api:
    """The agent's side of the API: records the reports, assigns nothing."""

    reports: list[dict[str, Any]] = field(default_factory=list)

    def agent_register(self, nodes: list[Any], **_: Any) -> dict[str, Any]:
        return {}

    def agent_heartbeat(self, known: list[Any]) -> dict[str, Any]:
        return {}

    def agent_claim(self, limit: int = 50) -> dict[str, Any]:
        return {"assignments": [], "cancel": [], "preempt": []}

    def agent_report(self, job_id: str, attempt: int, state: dict[str, Any]) -> bool:
        self.reports.append(state)
        return bool(state["status"] != JobStatus.RUNNING.value)


def _agent(engine: _Scripted, api: _Api) -> Agent:
    settings = AgentSettings(calibrate_on_register=False)
    agent = Agent(cast(Client, api), engine, ManualClock(NOW), settings)
    agent.register()
    return agent


def test_a_task_the_engine_holds_but_has_not_started_is_not_reported_running() -> None:
    engine, api = _Scripted(), _Api()
    agent = _agent(engine, api)
    agent.run_once()
    agent.run_once()
    assert api.reports == []

    engine.answer = EngineState("j.1", JobId("j"), 1, JobStatus.RUNNING, started_at=STARTED)
    agent.run_once()
    agent.run_once()
    assert [(r["status"], r["started_at"]) for r in api.reports] == [
        ("RUNNING", STARTED.isoformat())
    ]


def test_a_task_that_ends_before_it_was_seen_running_is_reported_once_ended() -> None:
    engine, api = _Scripted(), _Api()
    agent = _agent(engine, api)
    agent.run_once()
    engine.answer = EngineState(
        "j.1", JobId("j"), 1, JobStatus.SUCCEEDED, STARTED, STARTED, exit_code=0
    )
    agent.run_once()
    assert [r["status"] for r in api.reports] == ["SUCCEEDED"]
    assert agent.tracked == {}
