"""Gangs and preemption with real processes: the environment a gang's command gets from
the local engine, and the whole preemption path through the agent (claim answer ->
SIGTERM with the preemption grace -> the job checkpoints -> requeued)."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from tests.engines.contract import python_every_user_can_run
from tests.inprocess import InProcessClient

from suanli.adapters.clock import SystemClock
from suanli.adapters.engines.local import LocalEngine
from suanli.adapters.ids import RandomIds
from suanli.agent.runner import Agent, AgentSettings
from suanli.api.app import create_app
from suanli.domain.ids import JobId, NodeId
from suanli.domain.jobs import Attempt, JobSpec, JobStatus, Placement
from suanli.domain.resources import Resources
from suanli.platform import Platform, PlatformConfig
from suanli.ports.engine import EngineState, EngineTask
from suanli.services.bootstrap import LocalTokens, bootstrap_local
from suanli.services.lifecycle import move
from suanli.services.preemption import request_preemption

PY = python_every_user_can_run()  # jobs may run as a tenant's user (tests run as root)


def wait_for(probe: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not probe():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def final(engine: LocalEngine, key: str) -> EngineState:
    wait_for(lambda: engine.poll(key).status is not JobStatus.RUNNING, 10.0, f"{key} to end")
    return engine.poll(key)


def stdout_of(engine: LocalEngine, key: str) -> str:
    return engine.read_log(key, "stdout", 0, 1 << 20).decode()


ENV_SCRIPT = (
    "import os; e = os.environ; "
    "print(e['SUANLI_JOB_ID'], e['SUANLI_GANG_SIZE'], e['SUANLI_NODES'], e['FOO'])"
)


def test_a_gang_runs_once_with_its_members_nodes_in_the_environment(
    tmp_path: Path, jobs_root: Path
) -> None:
    engine = LocalEngine(tmp_path / "engine", SystemClock(), jobs_root=jobs_root)
    placements = (
        Placement(NodeId("n1"), Resources(2000, 2048)),
        Placement(NodeId("n2"), Resources(1000, 1024)),
    )
    key = engine.submit(
        EngineTask(
            JobId("j-gang"),
            1,
            (PY, "-c", ENV_SCRIPT),
            Resources(3000, 3072),
            env={"FOO": "bar"},
            placements=placements,
            nodes=(NodeId("n1"), NodeId("n1"), NodeId("n2")),
        )
    )
    assert final(engine, key).status is JobStatus.SUCCEEDED
    assert stdout_of(engine, key) == "j-gang 3 n1,n1,n2 bar\n"  # one process, once


def test_an_ordinary_job_is_a_gang_of_one(tmp_path: Path, jobs_root: Path) -> None:
    engine = LocalEngine(tmp_path / "engine", SystemClock(), jobs_root=jobs_root)
    script = "import os; e = os.environ; print(e['SUANLI_GANG_SIZE'], e['SUANLI_NODES'])"
    task = EngineTask(
        JobId("j-one"), 1, (PY, "-c", script), Resources(1000, 1), nodes=(NodeId("n1"),)
    )
    key = engine.submit(task)
    assert final(engine, key).status is JobStatus.SUCCEEDED
    assert stdout_of(engine, key) == "1 n1\n"


# --- the agent, in process, against the real API and a real engine --------------------


@pytest.fixture
def plat(tmp_path: Path) -> Iterator[Platform]:
    platform = Platform(
        PlatformConfig(database_url=f"sqlite:///{tmp_path / 'suanli.db'}"),
        clock=SystemClock(),
        ids=RandomIds(random.Random(11)),
    )
    yield platform
    platform.close()


CHECKPOINTING_JOB = """
import os, signal, sys, time
def on_term(signum, frame):
    e = os.environ
    print("checkpoint", e["SUANLI_PREEMPTION_GRACE_S"], e["SUANLI_CHECKPOINT_SIGNAL"], flush=True)
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
print("ready", os.environ["SUANLI_GANG_SIZE"], flush=True)
time.sleep(60)
"""


def test_a_preempted_job_checkpoints_on_sigterm_and_is_requeued(
    plat: Platform, tmp_path: Path, jobs_root: Path
) -> None:
    tokens: LocalTokens = bootstrap_local(
        plat.store, plat.clock, plat.ids, user="alice", previous=None
    )
    app = create_app(plat)
    engine = LocalEngine(tmp_path / "engine", SystemClock(), jobs_root=jobs_root)
    settings = AgentSettings(calibrate_on_register=False, preemption_grace_s=7)
    agent = Agent(InProcessClient(app, tokens.agent), engine, SystemClock(), settings)
    agent.register()
    user = plat.auth.authenticate(tokens.user)
    job = plat.jobs.submit(
        user,
        JobSpec.create(
            command=[PY, "-c", CHECKPOINTING_JOB],
            resources=Resources.request(cpus=0.1, memory_mb=64),
            max_attempts=1,
        ),
    )
    with plat.store.unit_of_work() as uow:  # placed as the scheduler would
        (node,) = uow.pool.list_nodes()
        cluster = uow.pool.get_cluster(node.cluster_id)
        assert cluster is not None
        now = plat.clock.now()
        alloc = job.spec.resources
        uow.jobs.add_attempt(
            Attempt(
                job.id, 1, cluster.id, node.id, alloc, cluster.region_id, JobStatus.SCHEDULED, now
            )
        )
        move(
            uow,
            job,
            JobStatus.SCHEDULED,
            reason="placed",
            at=now,
            attempt=1,
            cluster_id=node.cluster_id,
            node_id=node.id,
            allocation=alloc,
        )
        uow.commit()
    key = f"{job.id}.1"

    def step_until(done: Callable[[], bool], what: str) -> None:
        def probe() -> bool:
            agent.run_once()
            return done()

        wait_for(probe, 20.0, what)

    step_until(lambda: "ready" in stdout_of(engine, key), "the job to start")
    assert stdout_of(engine, key) == "ready 1\n"
    with plat.store.unit_of_work() as uow:
        current = uow.jobs.get(job.id)
        assert current is not None
        request_preemption(uow, current, reason="for job j-vip", at=plat.clock.now())
        uow.commit()
    began = time.monotonic()
    step_until(lambda: plat.jobs.get(user, job.id).job.status is JobStatus.PENDING, "the requeue")
    assert time.monotonic() - began < 5  # SIGTERM, not the 7 s grace's SIGKILL
    detail = plat.jobs.get(user, job.id)
    assert detail.job.seq == job.seq and not detail.job.preempt_requested
    assert detail.attempts[0].status is JobStatus.PREEMPTED
    logs, _, _ = plat.jobs.logs(user, job.id, stream="stdout", offset=0, limit=1000, attempt=1)
    assert logs == b"ready 1\ncheckpoint 7 SIGTERM\n"
    assert len([r for r in detail.usage if r.dimension == "cpu"]) == 1
