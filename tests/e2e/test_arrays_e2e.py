"""Issue 16's acceptance, through the whole platform on the local engine: an sbatch
array of 100 tasks and a reduce job that depends on it, submitted with `suanli sbatch`
and `suanli submit --wait` as a Slurm user would, every task a real process."""

from __future__ import annotations

import time
from pathlib import Path

from tests.e2e.harness import Server

ARRAY = """#!/bin/bash
#SBATCH --job-name=square
#SBATCH --array=0-99%25
#SBATCH --mem=64M
#SBATCH --time=5
#SBATCH --output=logs/%x-%A_%a.out
n=$SLURM_ARRAY_TASK_ID
echo $((n * n)) > parts/$n.txt
echo "task $n of $SLURM_ARRAY_TASK_COUNT in $SLURM_ARRAY_JOB_ID"
"""

REDUCE = """#!/bin/bash
#SBATCH --job-name=reduce
#SBATCH --mem=64M
#SBATCH --time=5
count=$(ls parts | wc -l)
total=$(cat parts/*.txt | paste -sd+ | bc)
echo "$count $total" > total.txt
[ "$count" -eq 100 ]
"""


def shared_dir(path: Path) -> Path:
    """A directory every job may write, as a shared scratch directory is: as root, the
    local engine runs each tenant's jobs as a user of its own (docs/engines.md)."""
    path.mkdir(exist_ok=True)
    path.chmod(0o777)
    return path


def test_an_array_of_100_tasks_then_a_dependent_reduce(server: Server) -> None:
    work = shared_dir(server.workdir / "run")
    shared_dir(work / "parts")
    shared_dir(work / "logs")
    (work / "array.sbatch").write_text(ARRAY)
    (work / "reduce.sbatch").write_text(REDUCE)
    array_script = str(work / "array.sbatch")
    t0 = time.monotonic()
    # the flag overrides the script's one CPU per task, as sbatch's flags do
    rc, out, err = server.cli("sbatch", "--cpus", "0.05", "--workdir", str(work), array_script)
    assert rc == 0, err
    array_id = out.strip()
    assert array_id.startswith("a-"), out
    rc, out, err = server.cli(
        "submit",
        "--dependency",
        f"afterok:{array_id}",
        "--workdir",
        str(work),
        "--wait",
        str(work / "reduce.sbatch"),
        timeout=300,
    )
    assert rc == 0, (err, server.diagnostics())
    reduce_id = out.strip()
    assert (work / "total.txt").read_text().split() == ["100", str(sum(n * n for n in range(100)))]
    tasks = server.cli_json("jobs", "--array", array_id, "--limit", "200")
    assert len(tasks) == 100 and {t["status"] for t in tasks} == {"SUCCEEDED"}
    assert sorted(t["array_index"] for t in tasks) == list(range(100))
    assert all(t["array_limit"] == 25 for t in tasks)
    # the reduce started only once the last task had ended
    reduce = server.cli_json("job", reduce_id)
    last_end = max(t["ended_at"] for t in tasks)
    assert reduce["started_at"] >= last_end and reduce["dependency"] == f"afterok:{array_id}"
    # every task's output went to its -o file (and to `suanli logs`)
    out_file = work / "logs" / f"square-{array_id}_7.out"
    assert out_file.read_text() == f"task 7 of 100 in {array_id}\n"
    # `suanli jobs` shows the array as one row
    rc, out, _ = server.cli("jobs", "--limit", "200")
    assert rc == 0 and f"{array_id} [100]" in out and "100 SUCCEEDED" in out
    print(f"100 tasks + reduce: {time.monotonic() - t0:.1f} s")


def test_a_reduce_on_a_failed_array_is_cancelled_with_the_reason(server: Server) -> None:
    script = server.workdir / "fails.sbatch"
    script.write_text("#!/bin/bash\n#SBATCH --array=0-2\n#SBATCH --mem=64M\nexit 3\n")
    rc, out, err = server.cli("sbatch", "--cpus", "0.05", str(script))
    assert rc == 0, err
    array_id = out.strip()
    rc, out, err = server.cli(
        "submit",
        "--cpus",
        "0.05",
        "--memory",
        "64M",
        "--dependency",
        f"afterok:{array_id}",
        "--wait",
        "--",
        "true",
        timeout=120,
    )
    assert rc == 1, (out, err)
    job = server.cli_json("job", out.strip())
    assert job["status"] == "CANCELLED" and "can never be met" in job["reason"]
