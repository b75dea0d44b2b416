"""The README's tour, run as written: every command of its two shell blocks, in order,
by bash with `set -e`, against a real `suanli up` (the first block) and a real `suanli up
--demo` (the second). The lines that start the server are what the harness runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import Server

REPO = Path(__file__).resolve().parents[2]
SERVER_LINES = ("scripts/run.sh", "suanli up --demo")


def tour_blocks() -> list[str]:
    """The shell blocks of the README's tour section, in order."""
    text = (REPO / "README.md").read_text()
    section = text.split("## A two-minute tour", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, re.S)


def script_of(block: str) -> str:
    """The block as a bash script: the server lines left out (the harness started it)."""
    lines = [line for line in block.splitlines() if not line.strip().startswith(SERVER_LINES)]
    return "set -euo pipefail\n" + "\n".join(lines) + "\n"


def run_block(server: Server, block: str) -> None:
    work = server.workdir / "tour"  # the harness's workdir: every user may enter it
    work.mkdir(mode=0o777)
    work.chmod(0o777)  # as root, jobs run as the tenant's own user and write here
    for name in ("src", "scripts"):
        (work / name).symlink_to(REPO / name)
    env = {
        **server.env,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{server.env.get('PATH', '')}",
    }
    done = subprocess.run(
        ["bash", "-x", "-c", script_of(block)],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, (
        f"the README's tour stopped ({done.returncode}); its trace:\n{done.stderr[-6000:]}\n"
        f"stdout:\n{done.stdout[-2000:]}"
    )


def test_the_readme_has_the_two_tour_blocks() -> None:
    blocks = tour_blocks()
    assert len(blocks) == 2
    assert blocks[0].startswith("scripts/run.sh") and "suanli up --demo" in blocks[1]


def test_the_tour_runs_as_written(server: Server) -> None:
    run_block(server, tour_blocks()[0])


@pytest.mark.timeout(600)
def test_the_demo_part_runs_as_written(make_server: object) -> None:
    srv = make_server()  # type: ignore[operator]
    srv.start("--demo")
    srv.wait_ready()
    run_block(srv, tour_blocks()[1])
