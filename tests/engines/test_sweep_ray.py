"""`bench/sia_results.py --ray ADDRESS`: the (workload, policy) runs as tasks on a real Ray
cluster (the head scripts/ensure-ray.sh starts), giving the rows local processes give.
A missing or broken Ray fails here, as in the Ray engine's tests."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.engines.test_contract_ray import ray_address

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data" / "traces" / "sia"
__all__ = ["ray_address"]  # the fixture, shared with the Ray engine's tests
GCS = f"127.0.0.1:{os.environ.get('SUANLI_RAY_GCS_PORT', '6389')}"


@pytest.fixture(scope="module")
def ray_head(ray_address: str) -> str:
    """The GCS address of the head the Ray engine's tests start (scripts/ensure-ray.sh)."""
    del ray_address  # started (or found running) by that fixture
    return GCS


def _traces(tmp: Path) -> Path:
    """A traces folder with the committed cifar10 goodput profiles and a workload of the
    first eight cifar10 jobs of philly workload 1."""
    root = tmp / "sia-workloads"
    shutil.copytree(DATA / "goodput", root / "throughput_profiles")
    lines = (DATA / "philly-workload-1-first40.csv").read_text().splitlines()
    rows = [line for line in lines[1:] if ",cifar10," in line][:8]
    (root / "tiny").mkdir()
    (root / "tiny" / "workload-1.csv").write_text("\n".join([lines[0], *rows]) + "\n")
    return tmp


def _rows(traces: Path, *extra: str) -> list[dict[str, object]]:
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "sia_results.py"),
            "--traces",
            str(traces),
            "--workloads",
            "tiny:1",
            "--policy",
            "sia",
            "--policy",
            "suanli",
            *extra,
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    for row in rows:
        row.pop("wall_s", None)
    return rows


def test_a_sweep_on_ray_gives_the_rows_local_processes_give(ray_head: str, tmp_path: Path) -> None:
    traces = _traces(tmp_path)
    here = _rows(traces, "--jobs", "1")
    there = _rows(traces, "--ray", ray_head)
    assert [r.get("policy") for r in here[:2]] == ["sia", "suanli"]
    assert all(r["jobs"] == 8 and r["unfinished"] == 0 for r in here[:2])
    assert there[:2] == here[:2]
    assert there[2]["avg_jct_s"] == here[2]["avg_jct_s"]  # the summary line


def test_an_address_where_no_cluster_answers_is_a_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "sia_results.py"),
            "--traces",
            str(_traces(tmp_path)),
            "--workloads",
            "tiny:1",
            "--policy",
            "sia",
            "--ray",
            "127.0.0.1:1",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 1
    assert "error:" in done.stderr and "Traceback" not in done.stderr
