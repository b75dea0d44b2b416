"""The engine contract (tests/engines/contract.py) on the local engine."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.engines.contract import EngineContract, python_every_user_can_run, wait_for

from suanli.adapters.clock import SystemClock
from suanli.adapters.engines import local_shim as shim
from suanli.adapters.engines.local import LocalEngine
from suanli.ports.engine import Engine


@pytest.fixture
def engine(tmp_path: Path, jobs_root: Path) -> LocalEngine:
    """The engine as `suanli up` makes it: isolating jobs when the tests run as root."""
    return LocalEngine(tmp_path / "engine", SystemClock(), timeout_grace_s=0.5, jobs_root=jobs_root)


@pytest.fixture
def gpu_model(engine: LocalEngine) -> str | None:
    """This machine's GPUs, if any (the local engine runs on what it detects)."""
    for node in engine.detect():
        for model in node.capacity.gpus:
            return model
    return None


@pytest.fixture
def fail_node(tmp_path: Path) -> Callable[[Engine, str], None]:
    """The local node 'fails' as a machine dies: the supervisor and the job vanish."""

    def kill(engine: Engine, key: str) -> None:
        def record() -> dict[str, object] | None:
            state = shim.read_json(tmp_path / "engine" / key / shim.STATE_FILE)
            return state if state and state.get("pgid") else None

        state = wait_for(record, 10.0, f"{key}'s supervisor record")
        os.kill(int(str(state["shim_pid"])), signal.SIGKILL)
        os.killpg(int(str(state["pgid"])), signal.SIGKILL)

    return kill


class TestLocalEngineContract(EngineContract):
    timeout_s = 20.0
    limit_timeout_s = 20.0
    time_limit_s = 1
    job_python = python_every_user_can_run()
