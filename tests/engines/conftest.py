"""Fixtures shared by the engine tests."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A temporary dir every user can enter (0755), unlike pytest's `tmp_path` (under a
    0700 dir when the tests run as root): for what jobs running as other users must reach,
    such as the local engine's jobs root or a working dir. Removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix="suanli-test-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def jobs_root(shared_tmp: Path) -> Path:
    """A jobs root for a local engine (scratch dirs of its tasks), reachable by job users."""
    return shared_tmp / "jobs"
