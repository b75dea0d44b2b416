"""How fast `suanli` answers (issue 16: `suanli --help` and `suanli jobs` in under 0.3 s).

Times, as a user's shell runs them (a new process each time, median of --repeat runs):
`suanli --help`, `suanli --version`, `suanli jobs` against a live `suanli up` (started
here on a temporary data dir), and the same commands of a baseline revision (default:
the last one before the CLI imported lazily), run from a temporary `git worktree` with
this Python; plus the floor (`python -c pass`) and, when Slurm's client is installed,
`squeue --version` (the peer the issue names). Prints one JSON line:

    {"bench": "cli_startup", "help_s": ..., "version_s": ..., "jobs_s": ...,
     "baseline": {"rev": ..., "help_s": ..., "jobs_s": ...}, "help_vs_baseline": ...,
     "python_floor_s": ..., "squeue_version_s": ..., "target_s": 0.3}

    .venv/bin/python bench/cli_startup.py [--repeat 15] [--baseline-rev 252dba4]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from submit import start_server, stop_server

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 0.3


def timed(argv: list[str], env: dict[str, str], repeat: int) -> float:
    """Median wall time of `argv` over `repeat` runs (one warm-up run first)."""
    times: list[float] = []
    for i in range(repeat + 1):
        t0 = time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, check=False)
        elapsed = time.perf_counter() - t0
        if done.returncode != 0:
            raise SystemExit(f"{argv} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
        if i:
            times.append(elapsed)
    return round(statistics.median(times), 4)


def _peer(env: dict[str, str], repeat: int) -> float | None:
    """`squeue --version`, when Slurm's client is installed and configured (it fails at
    once without a configuration, which would time nothing): None otherwise."""
    if shutil.which("squeue") is None:
        return None
    done = subprocess.run(["squeue", "--version"], env=env, capture_output=True, check=False)
    return timed(["squeue", "--version"], env, repeat) if done.returncode == 0 else None


def cli(src: Path | None) -> list[str]:
    """The `suanli` command, from this checkout or from `src` (another revision's)."""
    if src is None:
        return [str(Path(sys.executable).with_name("suanli"))]
    code = f"import sys; sys.path.insert(0, {str(src)!r}); from suanli.cli.main import app; app()"
    return [sys.executable, "-c", code]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--baseline-rev", default="252dba4")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="suanli-cli-bench-"))
    worktree = work / "baseline"
    server = start_server(work, None)
    try:
        env = {**os.environ, "SUANLI_URL": server.url, "SUANLI_TOKEN": server.token}
        subprocess.run(
            [
                "git",
                "-C",
                str(REPO),
                "worktree",
                "add",
                "--detach",
                str(worktree),
                args.baseline_rev,
            ],
            check=True,
            capture_output=True,
        )
        old = cli(worktree / "src")
        new = cli(None)
        out: dict[str, object] = {
            "bench": "cli_startup",
            "help_s": timed([*new, "--help"], env, args.repeat),
            "version_s": timed([*new, "--version"], env, args.repeat),
            "jobs_s": timed([*new, "jobs"], env, args.repeat),
            "baseline": {
                "rev": args.baseline_rev,
                "help_s": timed([*old, "--help"], env, args.repeat),
                "jobs_s": timed([*old, "jobs"], env, args.repeat),
            },
            "python_floor_s": timed([sys.executable, "-c", "pass"], env, args.repeat),
            "squeue_version_s": _peer(env, args.repeat),
            "target_s": TARGET_S,
            "repeat": args.repeat,
        }
        base = out["baseline"]
        assert isinstance(base, dict)
        out["help_vs_baseline"] = round(float(base["help_s"]) / float(out["help_s"]), 2)  # type: ignore[arg-type]
        out["jobs_vs_baseline"] = round(float(base["jobs_s"]) / float(out["jobs_s"]), 2)  # type: ignore[arg-type]
        print(json.dumps(out))
    finally:
        stop_server(server)
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "remove", "--force", str(worktree)],
            check=False,
            capture_output=True,
        )
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
