"""The engine contract (tests/engines/contract.py) on the Slurm engine, against a real
single-node Slurm that scripts/ensure-slurm.sh installs and starts (this machine's CPUs,
four fake H100 GPUs, slurmdbd for sacct); plus what is particular to Slurm: the sbatch
command line, parsing what squeue and sacct print (recorded from this cluster), adoption by
a new engine instance, SIGTERM then SIGKILL after the grace (from a timer, or from a poll
after a restart), a pending job's cancel, memory kills, CPU time from accounting, choosing
the engine by name as `suanli agent --engine slurm` does.

A missing or broken Slurm fails the `slurm_conf` fixture with the script's output: these
tests never skip.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.engines.contract import PY, EngineContract, final, running, stdout_of, task, wait_for

from suanli.adapters.clock import ManualClock, SystemClock
from suanli.adapters.engines.factory import make_engine
from suanli.adapters.engines.slurm import SlurmEngine
from suanli.adapters.engines.slurm_output import (
    SlurmJob,
    classify,
    parse_duration,
    parse_gres,
    parse_sacct,
    parse_squeue,
)
from suanli.adapters.engines.slurm_request import default_gres_type, sbatch_argv
from suanli.domain.errors import InvalidInput
from suanli.domain.ids import JobId, NodeId
from suanli.domain.jobs import JobStatus, Placement
from suanli.domain.resources import Resources
from suanli.ports.engine import Engine, EngineError, EngineTask

REPO = Path(__file__).resolve().parents[2]
# A cold machine installs Slurm (~15 s, ~45 s with apt-get update) in the first fixture;
# the time-limit test waits for Slurm's 30-s limit check after a 1-minute limit.
pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="session")
def slurm_conf() -> str:
    """The SLURM_CONF of the cluster scripts/ensure-slurm.sh starts (or finds running)."""
    script = REPO / "scripts" / "ensure-slurm.sh"
    try:
        done = subprocess.run(
            [str(script), "start"], capture_output=True, text=True, timeout=280, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"{script} start could not run: {exc}")
    if done.returncode != 0:
        pytest.fail(f"{script} start failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return done.stdout.strip().splitlines()[-1]


def _slurm(conf: str, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SLURM_CONF": conf}
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env, check=False)


@pytest.fixture
def engine(slurm_conf: str, tmp_path: Path) -> Iterator[SlurmEngine]:
    """An engine with its own state dir. Afterwards whatever still runs is killed and
    forgotten: the node has 2 CPUs for every test."""
    eng = SlurmEngine(tmp_path / "engine", SystemClock(), slurm_conf=slurm_conf)
    yield eng
    for state in eng.known():
        eng.forget(state.engine_job_id)


@pytest.fixture
def gpu_model() -> str:
    return "H100"


def _node_ready(conf: str) -> bool:
    state = _slurm(conf, "sinfo", "--noheader", "--Node", "-o", "%T").stdout.strip()
    return state in ("idle", "mixed", "allocated")


@pytest.fixture
def fail_node(slurm_conf: str) -> Iterator[Callable[[Engine, str], None]]:
    """The job's node goes DOWN (`scontrol update State=DOWN`), as Slurm marks a node that
    stops answering; Slurm ends its jobs NODE_FAIL. Afterwards the node is resumed (if
    ReturnToService has not already) so that later tests run."""
    failed: list[str] = []

    def fail(engine: Engine, key: str) -> None:
        out = _slurm(slurm_conf, "squeue", "--noheader", "-j", key, "-o", "%N").stdout.strip()
        assert out, f"job {key} runs on no node"
        done = _slurm(
            slurm_conf,
            "scontrol",
            "update",
            f"NodeName={out}",
            "State=DOWN",
            "Reason=suanli contract test: node failure",
        )
        assert done.returncode == 0, done.stderr
        failed.append(out)

    yield fail
    for node in failed:
        # RESUME is refused ("Invalid node state") when the node is already back.
        _slurm(slurm_conf, "scontrol", "update", f"NodeName={node}", "State=RESUME")
        wait_for(lambda: _node_ready(slurm_conf), 30.0, f"node {node} to be idle again")


class TestSlurmEngineContract(EngineContract):
    timeout_s = 30.0
    # A 1-minute limit (Slurm's unit), checked by slurmctld every 30 s, then KillWait.
    limit_timeout_s = 150.0
    time_limit_s = 60


# ---- the sbatch command line (no Slurm needed) ---------------------------------------------


def _task(**kwargs: object) -> EngineTask:
    defaults: dict[str, object] = {
        "job_id": JobId("j-abc"),
        "attempt": 2,
        "argv": ("python", "-c", "print('a b')", "$HOME"),
        "allocation": Resources.request(cpus=1.5, memory_mb=2048, gpus={"h100": 2}),
    }
    return EngineTask(**{**defaults, **kwargs})  # type: ignore[arg-type]


def test_sbatch_argv_maps_cpus_memory_gpus_time_env_and_partition(tmp_path: Path) -> None:
    t = _task(env={"GREETING": "ni hao, world"}, time_limit_s=90, working_dir="/data/run")
    argv = sbatch_argv(
        t,
        wrapper=tmp_path / "run-argv.sh",
        task_dir=tmp_path / "j-abc.2",
        working_dir="/data/run",
        partition="gpu",
    )
    assert argv == [
        "sbatch",
        "--parsable",
        "--job-name=suanli-j-abc.2",
        f"--output={tmp_path}/j-abc.2/stdout.log",
        f"--error={tmp_path}/j-abc.2/stderr.log",
        "--chdir=/data/run",
        "--no-requeue",
        "--nodes=1",
        "--ntasks-per-node=1",
        "--cpus-per-task=2",
        "--mem=2048M",
        "--gres=gpu:h100:2",
        "--time=2",
        "--partition=gpu",
        "--export=PATH,GREETING,SUANLI_ATTEMPT,SUANLI_GANG_SIZE,SUANLI_JOB_ID",
        f"{tmp_path}/run-argv.sh",
        "python",
        "-c",
        "print('a b')",
        "$HOME",
    ]


def test_sbatch_argv_of_a_gang_asks_for_each_node_s_placement(tmp_path: Path) -> None:
    per_node = Resources(4000, 8192, {"A100-80GB": 4})
    t = _task(
        allocation=Resources(8000, 16384, {"A100-80GB": 8}),
        placements=(Placement(NodeId("n1"), per_node), Placement(NodeId("n2"), per_node)),
        nodes=(NodeId("n1"), NodeId("n2")),
    )
    argv = sbatch_argv(
        t,
        wrapper=tmp_path / "w",
        task_dir=tmp_path,
        working_dir="/w",
        gres_types={"A100-80GB": "a100_80g"},
    )
    assert "--nodes=2" in argv and "--cpus-per-task=4" in argv and "--mem=8192M" in argv
    assert "--gres=gpu:a100_80g:4" in argv
    assert not any(a.startswith("--time") for a in argv)  # no limit asked, none given
    export = next(a for a in argv if a.startswith("--export="))
    assert "SUANLI_NODES" in export


def test_gres_types_default_to_the_model_without_suffixes() -> None:
    assert default_gres_type("H100") == "h100"
    assert default_gres_type("A100-80GB") == "a100"
    assert default_gres_type("H100-PCIE") == "h100"
    assert default_gres_type("ASCEND-910B") == "ascend-910b"
    assert parse_gres("gpu:h100:4(S:0-1),gpu:2,nvme:1") == [
        ("gpu", "h100", 4),
        ("gpu", None, 2),
        ("nvme", None, 1),
    ]
    assert parse_gres("(null)") == []


def test_reserved_environment_names_are_refused(engine: SlurmEngine) -> None:
    with pytest.raises(EngineError, match="SLURM_"):
        engine.submit(task(PY, "-c", "pass", env={"SLURM_MEM_PER_NODE": "1"}))
    with pytest.raises(EngineError, match="empty command"):
        engine.submit(task())


# ---- what squeue and sacct print (recorded from this cluster) ------------------------------

# Recorded from this cluster (task paths shortened), with SLURM_TIME_FORMAT=%s.
# squeue --noheader --states=all -O 'JobID:|,Name:|,State:|,...,STDOUT:|'
SQUEUE = "".join(
    line + "\n"
    for line in (
        "12|suanli-c-1795332430-5.1|COMPLETED|None|1795332432|1795332432|0|"
        "cpu=1,mem=1G,node=1,billing=1,gres/gpu=2|vm|/s/tasks/c-1795332430-5.1/stdout.log|",
        "9|suanli-c-1795332420-2.1|FAILED|NonZeroExitCode|1795332423|1795332424|768|"
        "cpu=1,mem=1G,node=1,billing=1|vm|/s/o|",
        "28|suanli-c-1795332511-7.1|TIMEOUT|TimeLimit|1795332512|1795332593|15|"
        "cpu=1,mem=1G,node=1,billing=1|vm|/s/o|",
        "15|suanli-c-1795332441-8.1|NODE_FAIL|NodeDown|1795332443|1795332443|0|"
        "cpu=1,mem=1G,node=1,billing=1|vm|/s/o|",
        "20|suanli-oom-1795332452521493231.1|FAILED|JobLaunchFailure|1795332455|1795332457|9|"
        "cpu=1,mem=150M,node=1,billing=1|vm|/s/o|",
        "33|suanli-c-1795332603-13.1|CANCELLED|None|1795332603|1795332603|0|"
        "cpu=1,mem=1G,node=1,billing=1||/s/o|",
        "38|suanli-c-2.1|PENDING|Resources|N/A|N/A|0|"
        "cpu=1,mem=512M,node=1,billing=1,gres/gpu=1||/dev/null|",
        "37|suanli-c-1.1|RUNNING|None|1795332675|1795332735|0|cpu=2,mem=1G,node=1,billing=2|vm|"
        "/dev/null|",
    )
)
# sacct --noheader --parsable2 --format=JobID,JobName,State,...,TotalCPU
SACCT = "".join(
    line + "\n"
    for line in (
        "26|suanli-c-1795332503-5.1|COMPLETED|None|1795332506|1795332506|0:0|"
        "billing=1,cpu=1,gres/gpu=2,mem=1G,node=1|vm|00:00.018",
        "26.batch|batch|COMPLETED||1795332506|1795332506|0:0|cpu=1,gres/gpu=2,mem=1G,node=1|vm|"
        "00:00.018",
        "28|suanli-c-1795332511-7.1|TIMEOUT|None|1795332512|1795332593|0:0|"
        "billing=1,cpu=1,mem=1G,node=1|vm|00:00.018",
        "28.batch|batch|CANCELLED||1795332512|1795332593|0:15|cpu=1,mem=1G,node=1|vm|00:00.018",
        "30|suanli-c-1795332596-9.1|NODE_FAIL|None|1795332597|1795332597|0:0|"
        "billing=1,cpu=1,mem=1G,node=1|vm|00:00:00",
        "30.batch|batch|CANCELLED||1795332597|1795332597||cpu=1,mem=1G,node=1|vm|00:00:00",
        "33|suanli-c-1795332603-13.1|CANCELLED by 0|None|1795332603|1795332603|0:0||"
        "None assigned|00:00:00",
        "35|suanli-oom-1795332606760285761.1|FAILED|None|1795332609|1795332610|0:9|"
        "billing=1,cpu=1,mem=150M,node=1|vm|00:00.237",
        "35.batch|batch|CANCELLED by 0||1795332609|1795332610|0:9|cpu=1,mem=150M,node=1|vm|"
        "00:00.237",
        "36|suanli-c-1795332611-15.1|COMPLETED|None|1795332612|1795332614|0:0|"
        "billing=1,cpu=1,mem=1G,node=1|vm|00:01.013",
    )
)


def test_squeue_output_is_parsed_and_classified() -> None:
    jobs = {j.job_id: j for j in parse_squeue(SQUEUE)}
    assert len(jobs) == 8
    done = jobs["12"]
    assert (done.name, done.exit_code, done.gpus, done.nodes) == (
        "suanli-c-1795332430-5.1",
        0,
        2,
        "vm",
    )
    assert done.start == datetime.fromtimestamp(1795332432, UTC)
    assert done.stdout == "/s/tasks/c-1795332430-5.1/stdout.log"
    assert classify(done) == (JobStatus.SUCCEEDED, "")
    assert jobs["9"].exit_code == 3 and classify(jobs["9"]) == (
        JobStatus.FAILED,
        "exited with code 3 on vm (Slurm: NonZeroExitCode)",
    )
    status, reason = classify(jobs["28"], time_limit_s=60)
    assert status is JobStatus.FAILED and reason.startswith("TIMEOUT: ") and "60 s" in reason
    assert jobs["28"].exit_code == 128 + 15
    status, reason = classify(jobs["15"])
    assert status is JobStatus.LOST and reason.startswith("NODE_FAIL: ")
    assert jobs["20"].exit_code == 128 + 9  # the memory kill (the engine reads why in stderr)
    assert classify(jobs["33"])[0] is JobStatus.LOST  # cancelled, but not by suanli
    assert jobs["33"].nodes == ""  # cancelled while pending: never ran
    pending = jobs["38"]
    assert (pending.live, pending.start, pending.nodes) == (True, None, "")
    assert classify(pending) == (JobStatus.RUNNING, "Slurm: PENDING (Slurm: Resources)")
    assert classify(jobs["37"]) == (JobStatus.RUNNING, "")


def test_sacct_output_is_parsed_without_steps() -> None:
    jobs = {j.job_id: j for j in parse_sacct(SACCT)}
    assert sorted(jobs, key=int) == ["26", "28", "30", "33", "35", "36"]
    assert (jobs["26"].gpus, jobs["26"].exit_code) == (2, 0)
    assert classify(jobs["28"])[1].startswith("TIMEOUT: ")
    assert classify(jobs["30"])[0] is JobStatus.LOST
    assert (jobs["33"].state, jobs["33"].nodes) == ("CANCELLED", "")
    assert jobs["35"].exit_code == 137 and jobs["35"].cpu_s == pytest.approx(0.237)
    assert jobs["36"].cpu_s == pytest.approx(1.013)
    assert parse_duration("1-02:03:04") == 86400 + 2 * 3600 + 3 * 60 + 4
    assert parse_duration("") is None and parse_duration("12:00") == 720.0


def test_other_end_states_map_to_the_port_s_reasons() -> None:
    def reason_of(state: str) -> tuple[JobStatus, str]:
        return classify(SlurmJob("1", "suanli-x.1", state, nodes="n7"))

    assert reason_of("OUT_OF_MEMORY")[1].startswith("OOM: ")
    assert reason_of("PREEMPTED") == (JobStatus.LOST, "PREEMPTED: Slurm preempted the job on n7")
    assert reason_of("BOOT_FAIL")[1].startswith("NODE_FAIL: ")
    assert reason_of("DEADLINE")[1].startswith("TIMEOUT: ")
    assert reason_of("COMPLETING")[0] is JobStatus.RUNNING


# ---- against the real cluster ----------------------------------------------------------------


def test_detect_reports_the_node_with_its_gpus_by_model(engine: SlurmEngine) -> None:
    nodes = engine.detect()
    assert len(nodes) == 1
    capacity = nodes[0].capacity
    assert capacity.gpus == {"H100": 4} and capacity.gpu_memory_mb == 80 * 1024
    assert capacity.cpu_milli >= 1000 and capacity.memory_mb > 1024


def test_a_new_engine_instance_adopts_running_jobs(
    engine: SlurmEngine, slurm_conf: str, tmp_path: Path
) -> None:
    key = engine.submit(task(PY, "-c", "import time; time.sleep(600)"))
    running(engine, key, 30.0)
    # The agent restarts: a new instance over the same state dir knows the job...
    again = SlurmEngine(tmp_path / "engine", SystemClock(), slurm_conf=slurm_conf)
    assert [(s.engine_job_id, s.status) for s in again.known()] == [(key, JobStatus.RUNNING)]
    # ...even when the agent died between sbatch and indexing it.
    (tmp_path / "engine" / "jobs" / key).unlink()
    adopted = again.known()
    assert [s.engine_job_id for s in adopted] == [key]
    assert adopted[0].job_id.startswith("c-") and adopted[0].attempt == 1
    again.cancel(key, grace_s=0.5)
    assert final(again, key, 30.0).status is JobStatus.CANCELLED


def test_cancel_of_a_pending_job(engine: SlurmEngine) -> None:
    hog = Resources.request(cpus=_node_cpus(engine))
    blocker = engine.submit(EngineTask(JobId(f"hog-{time.time_ns()}"), 1, (PY, "-c", _SLEEP), hog))
    running(engine, blocker, 30.0)
    waiting = engine.submit(task(PY, "-c", "print('never')"))
    state = engine.poll(waiting)
    assert state.status is JobStatus.RUNNING and state.started_at is None, state
    engine.cancel(waiting, grace_s=5.0)
    state = final(engine, waiting, 30.0)
    assert state.status is JobStatus.CANCELLED and stdout_of(engine, waiting) == ""
    engine.forget(blocker)


_IGNORE_TERM = (
    "import signal, time\n"
    "def note(*_): print('got SIGTERM, carrying on', flush=True)\n"
    "signal.signal(signal.SIGTERM, note)\n"
    "print('ready', flush=True)\n"
    "time.sleep(600)\n"
)


def test_cancel_signals_first_and_kills_after_the_grace(engine: SlurmEngine) -> None:
    key = engine.submit(task(PY, "-c", _IGNORE_TERM))
    running(engine, key, 30.0)
    wait_for(lambda: stdout_of(engine, key) == "ready\n", 30.0, "the job's handler")
    engine.cancel(key, grace_s=2.0)
    state = final(engine, key, 30.0)
    assert state.status is JobStatus.CANCELLED, state
    assert "got SIGTERM" in stdout_of(engine, key)
    assert state.exit_code == 128 + 9 and "signal 9" in state.reason, state


def test_a_poll_kills_when_the_grace_ran_out_without_this_process_s_timer(
    slurm_conf: str, tmp_path: Path
) -> None:
    """As after an agent restart: the kill after the grace comes from the next poll."""
    clock = ManualClock(datetime.now(UTC))
    eng = SlurmEngine(tmp_path / "engine", clock, slurm_conf=slurm_conf)
    key = eng.submit(task(PY, "-c", _IGNORE_TERM))
    try:
        running(eng, key, 30.0)
        wait_for(lambda: stdout_of(eng, key) == "ready\n", 30.0, "the job's handler")
        eng.cancel(key, grace_s=300.0)  # this process's timer would wait 5 minutes
        wait_for(lambda: "got SIGTERM" in stdout_of(eng, key), 30.0, "SIGTERM")
        assert eng.poll(key).status is JobStatus.RUNNING
        clock.advance(301.0)
        assert final(eng, key, 30.0).status is JobStatus.CANCELLED
    finally:
        eng.forget(key)


def test_the_agent_chooses_the_slurm_engine_by_name(tmp_path: Path) -> None:
    eng = make_engine(
        "slurm",
        tmp_path,
        SystemClock(),
        options={"partition": "suanli", "gres_types": "A100-40GB:a100_40g,h100:hopper"},
    )
    assert isinstance(eng, SlurmEngine) and eng.name == "slurm"
    argv = sbatch_argv(
        _task(allocation=Resources.request(gpus={"A100-40GB": 1})),
        wrapper=tmp_path / "w",
        task_dir=tmp_path,
        working_dir="/w",
        gres_types={"A100-40GB": "a100_40g"},
    )
    assert "--gres=gpu:a100_40g:1" in argv
    with pytest.raises(InvalidInput, match="unknown option"):
        make_engine("slurm", tmp_path, SystemClock(), options={"queue": "x"})
    with pytest.raises(InvalidInput, match="MODEL:GRES_TYPE"):
        make_engine("slurm", tmp_path, SystemClock(), options={"gres_types": "h100"})
    with pytest.raises(InvalidInput, match="Unknown GPU model"):
        make_engine("slurm", tmp_path, SystemClock(), options={"gres_types": "B9000:b9"})


def test_forget_kills_a_running_job_and_drops_its_files(
    engine: SlurmEngine, slurm_conf: str, tmp_path: Path
) -> None:
    key = engine.submit(task(PY, "-c", _SLEEP))
    running(engine, key, 30.0)
    engine.forget(key)
    assert not (tmp_path / "engine" / "jobs" / key).exists()
    with pytest.raises(EngineError):
        engine.poll(key)

    def gone() -> bool:
        out = _slurm(slurm_conf, "squeue", "--noheader", "-t", "running", "-j", key)
        return key not in out.stdout

    wait_for(gone, 30.0, f"job {key} to stop")


def test_a_job_over_its_memory_is_killed_as_oom(engine: SlurmEngine) -> None:
    # 400 MiB touched page by page against a 150 MiB limit.
    code = "import time; b = bytearray(400 << 20); b[::4096] = b'1' * (400 << 8); time.sleep(60)"
    t = EngineTask(
        JobId(f"oom-{time.time_ns()}"), 1, (PY, "-c", code), Resources.request(memory_mb=150)
    )
    key = engine.submit(t)
    state = final(engine, key, 60.0)
    assert state.status is JobStatus.FAILED and state.reason.startswith("OOM: "), state


def test_usage_has_cpu_time_from_accounting(engine: SlurmEngine) -> None:
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 1.0: pass"
    key = engine.submit(task(PY, "-c", burn))
    assert final(engine, key, 30.0).status is JobStatus.SUCCEEDED

    def measured() -> float | None:
        usage = engine.usage(key, datetime.now(UTC))
        return usage.cpu_s if usage is not None and usage.cpu_s else None

    # slurmdbd records the step's CPU time a moment after the job ends.
    assert wait_for(measured, 15.0, "sacct's TotalCPU") >= 0.8


def test_a_slurm_command_failure_is_an_engine_error_with_its_stderr(tmp_path: Path) -> None:
    conf = tmp_path / "broken.conf"
    conf.write_text("NotAKey=1\n")
    broken = SlurmEngine(tmp_path / "e", SystemClock(), slurm_conf=str(conf))
    with pytest.raises(EngineError, match=r"sinfo.*Unable to process configuration file"):
        broken.detect()
    with pytest.raises(EngineError, match="not a Slurm job id"):
        broken.poll("../etc")
    # A controller that does not answer: the command's timeout, not a hang.
    conf.write_text("ClusterName=x\nSlurmctldHost=localhost\nSlurmctldPort=1\n")
    slow = SlurmEngine(tmp_path / "e", SystemClock(), slurm_conf=str(conf), command_timeout_s=1)
    with pytest.raises(EngineError, match="did not finish within 1 s"):
        slow.detect()


_SLEEP = "import time; time.sleep(600)"


def _node_cpus(engine: SlurmEngine) -> float:
    return engine.detect()[0].capacity.cpus
