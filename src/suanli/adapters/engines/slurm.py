"""The Slurm engine: runs tasks as Slurm batch jobs, through Slurm's command-line tools.

Contract:

- ``submit`` runs ``sbatch --parsable`` (an argv list, never a shell) on a fixed wrapper
  script whose only command is ``exec "$@"``; the task's argv goes as the script's
  arguments, so it runs exactly as given. The engine job id is Slurm's job id. Jobs are
  named ``suanli-<task key>`` and never requeued by Slurm (``--no-requeue``): the platform
  requeues. Mapped from the task: CPUs (``--cpus-per-task``, rounded up), memory
  (``--mem``, MiB per node), GPUs by model (``--gres=gpu:<type>:N``, the catalog model
  mapped to the cluster's GRES type by `gres_types`, default `default_gres_type`; GPUs of
  model ``any`` ask for ``gpu:N``), the time limit (``--time``, whole minutes rounded up),
  a gang (``--nodes`` = its placements, one task per node holding that node's resources;
  one node when the task names none), the working directory (``--chdir``, default
  ``<task dir>/work``), the partition, and the environment: ``--export`` of the task's
  variables, SUANLI_JOB_ID, SUANLI_ATTEMPT, SUANLI_GANG_SIZE, SUANLI_NODES (when the task
  names nodes) and PATH. Slurm adds its SLURM_* variables and, as ``--export`` of names
  does, the user's login environment.
- Files: ``state_dir/tasks/<key>/`` holds the job's ``stdout.log`` and ``stderr.log``
  (Slurm writes them: on a multi-node cluster `state_dir` must be on a file system the
  nodes share), ``meta.json`` (what was asked) and ``cancel.json`` (a cancel request);
  ``state_dir/jobs/<slurm job id>`` holds the key (the index `poll` and `known` read).
- ``poll`` asks ``squeue`` while the controller holds the job (finished jobs stay there
  for MinJobAge) and ``sacct`` after. Slurm's states map to: PENDING, CONFIGURING,
  RUNNING, COMPLETING, SUSPENDED, REQUEUED... -> RUNNING (``started_at`` set once it
  runs); COMPLETED -> SUCCEEDED; FAILED -> FAILED; TIMEOUT, DEADLINE -> FAILED
  ``TIMEOUT: ...``; OUT_OF_MEMORY, or a step killed by Slurm's memory enforcement (its
  ``slurmstepd`` message in stderr) -> FAILED ``OOM: ...``; NODE_FAIL, BOOT_FAIL -> LOST
  ``NODE_FAIL: ...``; PREEMPTED -> LOST ``PREEMPTED: ...``; CANCELLED by anyone but this
  engine -> LOST (the platform did not ask for it, so the job is requeued). A task this
  engine was asked to cancel ends CANCELLED, whatever its exit. A job Slurm no longer knows
  (or whose id now names another job: the cluster was reset) -> LOST. Exit codes are the
  program's, or 128+N when signal N killed it; times are Slurm's (UTC, whole seconds).
- ``cancel`` sends SIGTERM (``scancel --signal=TERM --full``: the batch step is the
  program itself) and SIGKILL after the grace, from a timer and, should the agent have
  restarted meanwhile, from the next ``poll``. A pending job is cancelled at once.
- ``known`` lists the tasks of the index plus any job of this user that Slurm runs with
  its output under this state dir (submitted by an agent that died before it indexed it);
  such jobs are indexed and so adopted.
- ``forget`` deletes the task's files and index entry; a job still running is killed
  first (nobody would ever learn its outcome).
- Every Slurm command runs with a timeout; a failure raises EngineError with the command's
  stderr. The commands read ``SLURM_CONF`` (`slurm_conf`, else the agent's environment).
  Text output (``-O``/``-o`` fields, ``SLURM_TIME_FORMAT=%s``) is parsed rather than
  ``--json``: Slurm 22.05's ``squeue --json`` ignores ``-j`` and dumps every job, and the
  JSON schemas change between Slurm releases while these fields have not.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import re
import shlex
import shutil
import subprocess
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from suanli.adapters.engines.local_shim import read_json, write_json_atomic
from suanli.domain.catalog import default_catalog
from suanli.domain.devices import ANY_GPU, canonical_gpu_model
from suanli.domain.errors import InvalidInput
from suanli.domain.ids import JobId
from suanli.domain.jobs import JobStatus
from suanli.domain.resources import Resources
from suanli.ports.clock import Clock
from suanli.ports.engine import (
    Capability,
    DetectedNode,
    Engine,
    EngineError,
    EngineState,
    EngineTask,
)

log = logging.getLogger("suanli.engine.slurm")

JOB_PREFIX = "suanli-"
"""Job names of this engine's jobs: the prefix, then the task key."""
WRAPPER = '#!/bin/sh\n# suanli: run the task argv (this script\'s arguments) as given.\nexec "$@"\n'
STDOUT_LOG, STDERR_LOG, META_FILE, CANCEL_FILE = (
    "stdout.log",
    "stderr.log",
    "meta.json",
    "cancel.json",
)
_STREAMS = {"stdout": STDOUT_LOG, "stderr": STDERR_LOG}
PASSED_ENV = ("PATH",)
"""The agent's variables every job gets besides the task's own (so that a job finds the
programs the agent finds)."""

SQUEUE_FIELDS = (
    "JobID",
    "Name",
    "State",
    "Reason",
    "StartTime",
    "EndTime",
    "exit_code",
    "tres-alloc",
    "NodeList",
    "STDOUT",
)
SACCT_FIELDS = (
    "JobID",
    "JobName",
    "State",
    "Reason",
    "Start",
    "End",
    "ExitCode",
    "AllocTRES",
    "NodeList",
    "TotalCPU",
)
SINFO_FIELDS = ("NodeList", "CPUs", "Memory", "Gres", "StateLong")

LIVE_STATES = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "SUSPENDED",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESIZING",
        "SIGNALING",
        "STAGE_OUT",
        "SPECIAL_EXIT",
        "RESV_DEL_HOLD",
        "STOPPED",
    }
)
NOT_STARTED = frozenset({"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD"})
UNUSABLE_NODE_STATES = ("down", "drain", "fail", "future", "inval", "maint", "unk", "power")
_OOM_MARKERS = ("exceeded memory limit", "exceeded job memory limit", "oom-kill")
_GRES_SUFFIX = re.compile(r"-(\d+GB|PCIE|SXM\d*|NVL)$", re.IGNORECASE)
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_RESERVED_ENV = ("SLURM_", "SBATCH_")
# Variables that would change what the Slurm tools do or print: never passed to them.
_TOOL_ENV = ("SLURM_", "SBATCH_", "SQUEUE_", "SACCT_", "SINFO_", "SCANCEL_")


# ---- what Slurm says about a job ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SlurmJob:
    """One job as squeue or sacct describe it."""

    job_id: str
    name: str
    state: str
    """Slurm's base state, e.g. RUNNING, TIMEOUT, CANCELLED (sacct's "by <uid>" dropped)."""
    reason: str = ""
    start: datetime | None = None
    end: datetime | None = None
    exit_code: int | None = None
    """The program's exit code, or 128+N when signal N killed it."""
    gpus: int | None = None
    """gres/gpu of the allocation; None when Slurm does not account GPUs (or none yet)."""
    nodes: str = ""
    stdout: str = ""
    cpu_s: float | None = None
    """sacct's TotalCPU (known once steps end); None from squeue."""

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES


def parse_squeue(text: str) -> list[SlurmJob]:
    """Jobs from ``squeue --noheader -O <SQUEUE_FIELDS, each with suffix '|'>`` output
    printed with ``SLURM_TIME_FORMAT=%s``. squeue's exit_code is the raw wait status."""
    jobs: list[SlurmJob] = []
    for row in _rows(text, len(SQUEUE_FIELDS)):
        job_id, name, state, reason, start, end, status, tres, nodes, stdout = row
        jobs.append(
            SlurmJob(
                job_id=job_id,
                name=name,
                state=_base_state(state),
                reason=_clean(reason),
                start=_epoch(start),
                end=_epoch(end),
                exit_code=_from_wait_status(status),
                gpus=parse_tres(tres).get("gres/gpu"),
                nodes=_clean(nodes),
                stdout=stdout,
            )
        )
    return jobs


def parse_sacct(text: str) -> list[SlurmJob]:
    """Jobs (not their steps) from ``sacct --noheader --parsable2 -o <SACCT_FIELDS>``
    output printed with ``SLURM_TIME_FORMAT=%s``. sacct's ExitCode is ``code:signal``."""
    jobs: list[SlurmJob] = []
    for row in _rows(text, len(SACCT_FIELDS)):
        job_id, name, state, reason, start, end, code, tres, nodes, total_cpu = row
        if not job_id.isdigit():
            continue  # a step (123.batch, 123.0) or an array/het part: not a job of ours
        jobs.append(
            SlurmJob(
                job_id=job_id,
                name=name,
                state=_base_state(state),
                reason=_clean(reason),
                start=_epoch(start),
                end=_epoch(end),
                exit_code=_from_code_signal(code),
                gpus=parse_tres(tres).get("gres/gpu"),
                nodes=_clean(nodes),
                cpu_s=parse_duration(total_cpu),
            )
        )
    return jobs


def parse_tres(text: str) -> dict[str, int]:
    """Counts of a TRES string such as ``cpu=1,mem=100M,node=1,gres/gpu=2`` (memory and
    other suffixed sizes are left out)."""
    counts: dict[str, int] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if sep and value.isdigit():
            counts[name.strip()] = int(value)
    return counts


def parse_duration(text: str) -> float | None:
    """Seconds of a Slurm duration: ``MM:SS.mmm``, ``HH:MM:SS`` or ``D-HH:MM:SS``."""
    text = text.strip()
    days, _, clock = text.rpartition("-")
    if not clock:
        return None
    try:
        seconds = 0.0
        for part in clock.split(":"):
            seconds = seconds * 60 + float(part)
        return seconds + (int(days) * 86400 if days else 0)
    except ValueError:
        return None


def classify(job: SlurmJob, *, time_limit_s: int | None = None) -> tuple[JobStatus, str]:
    """The port's status and reason for what Slurm says of a job (cancel requests and
    memory kills seen in the job's stderr are the engine's to add)."""
    state, where = job.state, f" on {job.nodes}" if job.nodes else ""
    slurm_reason = f" (Slurm: {job.reason})" if job.reason and job.reason != "None" else ""
    if job.live:
        return JobStatus.RUNNING, "" if state == "RUNNING" else f"Slurm: {state}{slurm_reason}"
    if state == "COMPLETED":
        return JobStatus.SUCCEEDED, ""
    if state in ("TIMEOUT", "DEADLINE"):
        limit = f" of {time_limit_s} s" if time_limit_s else ""
        what = "deadline" if state == "DEADLINE" else f"time limit{limit}"
        return JobStatus.FAILED, f"TIMEOUT: Slurm's {what} was exceeded{where}"
    if state == "OUT_OF_MEMORY":
        return JobStatus.FAILED, f"OOM: the job ran out of memory{where}{slurm_reason}"
    if state in ("NODE_FAIL", "BOOT_FAIL"):
        what = "failed to boot" if state == "BOOT_FAIL" else "failed"
        return JobStatus.LOST, f"NODE_FAIL: the node{where or 's'} {what}{slurm_reason}"
    if state == "PREEMPTED":
        return JobStatus.LOST, f"PREEMPTED: Slurm preempted the job{where}{slurm_reason}"
    if state in ("CANCELLED", "REVOKED"):
        return JobStatus.LOST, f"Slurm says {state}, but not at suanli's request{slurm_reason}"
    return JobStatus.FAILED, f"{_describe_exit(job.exit_code)}{where}{slurm_reason}"


# ---- what the engine asks of Slurm --------------------------------------------------------


def default_gres_type(model: str) -> str:
    """The GRES type a cluster most likely calls a catalog model: lowercased, memory and
    form-factor suffixes dropped (A100-80GB -> a100, H100-PCIE -> h100, H100 -> h100)."""
    name = model
    while (stripped := _GRES_SUFFIX.sub("", name)) != name:
        name = stripped
    return name.lower()


def gres_request(gpus: Mapping[str, int], gres_types: Mapping[str, str]) -> str | None:
    """``--gres`` value for GPUs by canonical model (None without GPUs)."""
    parts = []
    for model, count in sorted(gpus.items()):
        if count <= 0:
            continue
        if model == ANY_GPU:
            parts.append(f"gpu:{count}")
        else:
            parts.append(f"gpu:{gres_types.get(model) or default_gres_type(model)}:{count}")
    return ",".join(parts) or None


def task_env(task: EngineTask) -> dict[str, str]:
    """The variables a task's job gets from the engine: its own and SUANLI_*."""
    for name in task.env:
        if not _ENV_NAME.match(name) or name.startswith(_RESERVED_ENV):
            raise EngineError(
                f"task {task.key}: environment variable {name!r} cannot be passed to Slurm "
                "(names are letters, digits and '_'; SLURM_* and SBATCH_* are Slurm's own)."
            )
    env = task.job_env()
    return env


def sbatch_argv(
    task: EngineTask,
    *,
    wrapper: Path,
    task_dir: Path,
    working_dir: str,
    partition: str | None = None,
    gres_types: Mapping[str, str] | None = None,
) -> list[str]:
    """The sbatch command line for `task` (values of the exported variables go in sbatch's
    own environment: ``--export`` names them, so commas in values are safe)."""
    per_node = _per_node(task)
    argv = [
        "sbatch",
        "--parsable",
        f"--job-name={JOB_PREFIX}{task.key}",
        f"--output={task_dir / STDOUT_LOG}",
        f"--error={task_dir / STDERR_LOG}",
        f"--chdir={working_dir}",
        "--no-requeue",
        f"--nodes={max(1, len(task.placements))}",
        "--ntasks-per-node=1",
        f"--cpus-per-task={max(1, math.ceil(per_node.cpu_milli / 1000))}",
    ]
    if per_node.memory_mb > 0:  # --mem=0 would mean "all of the node's memory"
        argv.append(f"--mem={per_node.memory_mb}M")
    gres = gres_request(per_node.gpus, gres_types or {})
    if gres:
        argv.append(f"--gres={gres}")
    if task.time_limit_s is not None:
        argv.append(f"--time={max(1, math.ceil(task.time_limit_s / 60))}")
    if partition:
        argv.append(f"--partition={partition}")
    names = [*PASSED_ENV, *sorted(n for n in task_env(task) if n not in PASSED_ENV)]
    argv.append(f"--export={','.join(names)}")
    argv += [str(wrapper), *task.argv]
    return argv


# ---- the engine -------------------------------------------------------------------------------


class SlurmCommandError(EngineError):
    """A Slurm command failed; `stderr` is what it said."""

    def __init__(self, message: str, stderr: str) -> None:
        super().__init__(message)
        self.stderr = stderr


class SlurmEngine(Engine):
    """Runs tasks as Slurm batch jobs; see the module docstring for the contract."""

    name = "slurm"
    capabilities = frozenset(
        {
            Capability.GANG,
            Capability.GPUS_BY_MODEL,
            Capability.PREEMPT_SIGNAL,
            Capability.LOG_STREAMING,
            Capability.ADOPT,
        }
    )

    def __init__(
        self,
        state_dir: Path,
        clock: Clock,
        *,
        partition: str | None = None,
        slurm_conf: str | None = None,
        gres_types: Mapping[str, str] | None = None,
        command_timeout_s: float = 30.0,
    ) -> None:
        """`partition`: submit there and offer only its nodes (default: Slurm's default
        partition, all nodes). `slurm_conf`: the SLURM_CONF the commands read (default:
        the agent's environment). `gres_types`: catalog GPU model -> the cluster's GRES type
        where `default_gres_type` guesses wrong. `command_timeout_s`: the limit on each
        Slurm command."""
        self._root = Path(state_dir).absolute()
        self._tasks = self._root / "tasks"
        self._jobs = self._root / "jobs"
        for d in (self._tasks, self._jobs):
            d.mkdir(parents=True, exist_ok=True)
        self._wrapper = self._root / "run-argv.sh"
        if not self._wrapper.is_file() or self._wrapper.read_text() != WRAPPER:
            tmp = self._wrapper.with_name(f".{self._wrapper.name}.{os.getpid()}.tmp")
            tmp.write_text(WRAPPER)
            tmp.chmod(0o755)
            tmp.replace(self._wrapper)
        self._clock = clock
        self._partition = partition
        self._gres_types = {canonical_gpu_model(m): t for m, t in (gres_types or {}).items()}
        self._timeout_s = command_timeout_s
        self._env = {k: v for k, v in os.environ.items() if not k.startswith(_TOOL_ENV)}
        conf = slurm_conf or os.environ.get("SLURM_CONF")
        if conf:
            self._env["SLURM_CONF"] = conf
        self._env["SLURM_TIME_FORMAT"] = "%s"  # times as epoch seconds, whatever the locale
        self._lock = threading.Lock()

    # ---- submit ---------------------------------------------------------------------------

    def _submit(self, task: EngineTask) -> str:
        if not task.argv or not task.argv[0]:
            raise EngineError(f"task {task.key} has an empty command.")
        env = task_env(task)  # refuses unusable names before anything is created
        task_dir = self._task_dir(task.key)
        try:
            task_dir.mkdir()
        except FileExistsError:
            raise EngineError(
                f"task {task.key} was already submitted to this engine (its files are in "
                f"{task_dir}); forget it first or submit a new attempt."
            ) from None
        try:
            working_dir = task.working_dir
            if working_dir is None:
                (task_dir / "work").mkdir()
                working_dir = str(task_dir / "work")
            meta = {
                "job_id": str(task.job_id),
                "attempt": task.attempt,
                "gpus": task.allocation.gpu_count,
                "time_limit_s": task.time_limit_s,
                "submitted_at": self._clock.now().isoformat(),
            }
            write_json_atomic(task_dir / META_FILE, meta)
            argv = sbatch_argv(
                task,
                wrapper=self._wrapper,
                task_dir=task_dir,
                working_dir=working_dir,
                partition=self._partition,
                gres_types=self._gres_types,
            )
            extra = {n: os.environ[n] for n in PASSED_ENV if n in os.environ}
            out = self._run(argv, env={**extra, **env}).stdout.strip()
        except (EngineError, OSError) as exc:
            shutil.rmtree(task_dir, ignore_errors=True)
            if isinstance(exc, EngineError):
                raise
            raise EngineError(f"could not submit task {task.key}: {exc}") from exc
        slurm_id = out.split(";", 1)[0].strip()  # "<id>" or "<id>;<cluster>"
        if not slurm_id.isdigit():
            raise EngineError(f"sbatch printed {out!r}, not a job id (task {task.key}).")
        self._index(slurm_id, task.key)
        return slurm_id

    def _index(self, slurm_id: str, key: str) -> None:
        entry = self._jobs / slurm_id
        tmp = entry.with_name(f".{slurm_id}.{os.getpid()}.{threading.get_ident()}.tmp")
        tmp.write_text(key)
        tmp.replace(entry)

    # ---- poll -----------------------------------------------------------------------------

    def _poll(self, engine_job_id: str) -> EngineState:
        key = self._key_of(engine_job_id)
        return self._state(engine_job_id, key, self._lookup([engine_job_id]).get(engine_job_id))

    def _lookup(self, ids: Sequence[str]) -> dict[str, SlurmJob]:
        """What Slurm knows of `ids`: the controller first, accounting for the rest."""
        found = {j.job_id: j for j in self._squeue(ids) if j.job_id in ids}
        rest = [i for i in ids if i not in found]
        if rest:
            found.update((j.job_id, j) for j in self._sacct(rest) if j.job_id in rest)
        return found

    def _state(self, engine_job_id: str, key: str, job: SlurmJob | None) -> EngineState:
        meta = read_json(self._task_dir(key) / META_FILE) or {}
        job_id, attempt = _split_key(key, meta)
        cancel = read_json(self._task_dir(key) / CANCEL_FILE)
        if job is None or job.name != JOB_PREFIX + key:
            reason = (
                f"Slurm knows no job {engine_job_id} any more"
                if job is None
                else f"Slurm's job {engine_job_id} is now another job ({job.name!r})"
            )
            reason += ": the cluster's state was reset or purged; the outcome is unknown"
            return EngineState(engine_job_id, job_id, attempt, JobStatus.LOST, reason=reason)
        limit = meta.get("time_limit_s")
        status, reason = classify(job, time_limit_s=limit if isinstance(limit, int) else None)
        if status is JobStatus.FAILED and self._killed_for_memory(key):
            reason = f"OOM: Slurm killed the job for exceeding its memory limit ({reason})"
        if cancel is not None:
            status, reason = self._after_cancel(engine_job_id, job, cancel, status, reason)
        # A job that never got nodes (cancelled while pending) never started.
        started = None if job.state in NOT_STARTED or not job.nodes else job.start
        ended = None if status is JobStatus.RUNNING else job.end
        if started is not None and ended is not None and ended < started:
            ended = started
        return EngineState(
            engine_job_id=engine_job_id,
            job_id=job_id,
            attempt=attempt,
            status=status,
            started_at=started,
            ended_at=ended,
            exit_code=None if job.live else job.exit_code,
            reason=reason,
        )

    def _after_cancel(
        self,
        engine_job_id: str,
        job: SlurmJob,
        cancel: Mapping[str, object],
        status: JobStatus,
        reason: str,
    ) -> tuple[JobStatus, str]:
        requested = _opt_time(cancel.get("requested_at"))
        grace = cancel.get("grace_s")
        grace_s = float(grace) if isinstance(grace, int | float) else 0.0
        if status is JobStatus.RUNNING:
            # The kill after the grace is due and no timer of this process sent it (the
            # agent restarted, or the job was still pending): send it now.
            overdue = requested is None or self._clock.now() >= requested + timedelta(
                seconds=grace_s
            )
            if overdue and not cancel.get("killed"):
                self._kill_quietly(engine_job_id)
            return status, reason
        # Slurm's times are whole seconds: a job that ended within the second of the
        # request may have ended by it.
        if requested is None or job.end is None or job.end >= requested - timedelta(seconds=1):
            if not job.nodes:
                return JobStatus.CANCELLED, "cancelled before the job started"
            return JobStatus.CANCELLED, f"cancelled ({_describe_exit(job.exit_code)})"
        return status, reason

    def _killed_for_memory(self, key: str) -> bool:
        """Whether slurmstepd wrote that it killed the job for its memory (Slurm's
        accounting-based enforcement; with cgroups the state is OUT_OF_MEMORY instead)."""
        tail = _tail(self._task_dir(key) / STDERR_LOG, 8192).lower()
        return any(
            "slurmstepd" in line and any(m in line for m in _OOM_MARKERS)
            for line in tail.splitlines()
        )

    # ---- cancel -------------------------------------------------------------------------

    def _cancel(self, engine_job_id: str, grace_s: float) -> None:
        key = self._key_of(engine_job_id)
        job = self._lookup([engine_job_id]).get(engine_job_id)
        if job is None or not job.live:
            return
        grace = max(0.0, grace_s)
        marker = {"requested_at": self._clock.now().isoformat(), "grace_s": grace}
        write_json_atomic(self._task_dir(key) / CANCEL_FILE, marker)
        if job.state in NOT_STARTED:
            self._scancel(engine_job_id)
            return
        self._scancel(engine_job_id, "--signal=TERM", "--full")
        timer = threading.Timer(grace, self._kill_quietly, args=(engine_job_id,))
        timer.daemon = True  # dies with the agent; the next poll kills instead
        timer.start()

    def _kill_quietly(self, engine_job_id: str) -> None:
        """`_kill` if the job still runs, logging failures (from a timer or a poll, which
        must not fail for it: the next poll tries again)."""
        try:
            job = self._lookup([engine_job_id]).get(engine_job_id)
            if job is not None and job.live:
                self._kill(engine_job_id)
        except EngineError as exc:
            log.warning("%s: could not kill job %s: %s", self.name, engine_job_id, exc)

    def _kill(self, engine_job_id: str) -> None:
        """SIGKILL every process of the job now, then have Slurm end it."""
        log.info("%s: killing job %s", self.name, engine_job_id)
        self._scancel(engine_job_id, "--signal=KILL", "--full")
        self._scancel(engine_job_id)
        with contextlib.suppress(EngineError, OSError):
            key = self._key_of(engine_job_id)
            marker = read_json(self._task_dir(key) / CANCEL_FILE)
            if marker is not None:
                write_json_atomic(self._task_dir(key) / CANCEL_FILE, {**marker, "killed": True})

    def _scancel(self, engine_job_id: str, *options: str) -> None:
        try:
            self._run(["scancel", *options, engine_job_id])
        except SlurmCommandError as exc:
            # The job ended meanwhile: nothing left to stop.
            if "already completed" in exc.stderr.lower() or "invalid job id" in exc.stderr.lower():
                return
            raise

    # ---- logs, usage, adoption, cleanup --------------------------------------------------

    def _read_log(self, engine_job_id: str, stream: str, offset: int, limit: int) -> bytes:
        if stream not in _STREAMS:
            raise EngineError(f"unknown log stream {stream!r}; use 'stdout' or 'stderr'.")
        if offset < 0:
            raise EngineError(f"log offset must not be negative, got {offset}.")
        path = self._task_dir(self._key_of(engine_job_id)) / _STREAMS[stream]
        if limit <= 0:
            return b""
        try:
            with path.open("rb") as f:
                f.seek(offset)
                return f.read(limit)
        except FileNotFoundError:
            return b""  # Slurm creates the files when the job starts

    def _gpus_of(self, engine_job_id: str) -> int:
        job = self._lookup([engine_job_id]).get(engine_job_id)
        if job is not None and job.gpus is not None:
            return job.gpus
        # Slurm accounts GPUs only with AccountingStorageTRES=gres/gpu: else, what was asked.
        meta = read_json(self._task_dir(self._key_of(engine_job_id)) / META_FILE) or {}
        gpus = meta.get("gpus")
        return gpus if isinstance(gpus, int) else 0

    def _cpu_s(self, engine_job_id: str) -> float | None:
        jobs = [j for j in self._sacct([engine_job_id]) if j.job_id == engine_job_id]
        # TotalCPU is gathered when steps end: meaningless while the job runs.
        return jobs[0].cpu_s if jobs and not jobs[0].live else None

    def _known(self) -> list[EngineState]:
        self._adopt_unindexed()
        ids = sorted((p.name for p in self._jobs.iterdir() if p.name.isdigit()), key=int)
        found = self._lookup(ids) if ids else {}
        states = []
        for slurm_id in ids:
            try:
                key = self._key_of(slurm_id)
            except EngineError:
                continue  # forgotten meanwhile
            states.append(self._state(slurm_id, key, found.get(slurm_id)))
        return states

    def _adopt_unindexed(self) -> None:
        """Index this user's jobs whose output goes to this state dir: submitted by an agent
        that died between sbatch and indexing them."""
        tasks = f"{self._tasks}{os.sep}"
        for job in self._squeue(None):
            if not job.name.startswith(JOB_PREFIX) or not job.stdout.startswith(tasks):
                continue
            key = job.name[len(JOB_PREFIX) :]
            ours = job.stdout == str(self._task_dir(key) / STDOUT_LOG)
            if ours and not (self._jobs / job.job_id).exists():
                log.info("%s: adopting job %s (task %s)", self.name, job.job_id, key)
                self._index(job.job_id, key)

    def _forget(self, engine_job_id: str) -> None:
        key = self._key_of(engine_job_id)
        job = self._lookup([engine_job_id]).get(engine_job_id)
        if job is not None and job.live and job.name == JOB_PREFIX + key:
            self._kill(engine_job_id)
        (self._jobs / engine_job_id).unlink(missing_ok=True)
        shutil.rmtree(self._task_dir(key), ignore_errors=True)

    # ---- detect ---------------------------------------------------------------------------

    def detect(self) -> list[DetectedNode]:
        """The partition's usable nodes (not down, drained, failing or unresponsive): their
        CPUs and memory as Slurm schedules them, and their GPUs by model from the GRES
        types (`gres_types` reversed, else the catalog's names and aliases)."""
        argv = ["sinfo", "--noheader", "--Node", "-O", _format(SINFO_FIELDS)]
        if self._partition:
            argv.append(f"--partition={self._partition}")
        nodes: dict[str, DetectedNode] = {}
        for name, cpus, memory, gres, state in _rows(self._run(argv).stdout, len(SINFO_FIELDS)):
            usable = not state.endswith(("*", "~", "#", "!", "%", "$", "@", "^", "-"))
            if name in nodes or not usable or state.lower().startswith(UNUSABLE_NODE_STATES):
                continue
            try:
                capacity = Resources(int(cpus) * 1000, int(memory), {})
            except ValueError:
                log.warning("%s: skipping node %s: cannot read %r", self.name, name, cpus)
                continue
            gpus = self._gpus_by_model(name, gres)
            nodes[name] = DetectedNode(
                name,
                Resources(capacity.cpu_milli, capacity.memory_mb, gpus, _gpu_memory_mb(gpus)),
            )
        return list(nodes.values())

    def _gpus_by_model(self, node: str, gres: str) -> dict[str, int]:
        by_type = {t.lower(): m for m, t in self._gres_types.items()}
        gpus: dict[str, int] = {}
        for name, gres_type, count in parse_gres(gres):
            if name != "gpu" or count <= 0:
                continue
            model = by_type.get((gres_type or "").lower())
            if model is None and gres_type:
                with contextlib.suppress(InvalidInput):
                    model = canonical_gpu_model(gres_type)
            if model is None:
                log.warning(
                    "%s: node %s has %d GPU(s) of GRES type %r, which names no catalog model;"
                    " map it with the engine's gres_types option (model=type)",
                    self.name,
                    node,
                    count,
                    gres_type or "(none)",
                )
                continue
            gpus[model] = gpus.get(model, 0) + count
        return gpus

    # ---- helpers ------------------------------------------------------------------------

    def _squeue(self, ids: Sequence[str] | None) -> list[SlurmJob]:
        """Jobs the controller holds: `ids`, or all of this user's."""
        argv = ["squeue", "--noheader", "--states=all", "-O", _format(SQUEUE_FIELDS)]
        argv += [f"--jobs={','.join(ids)}"] if ids is not None else ["--me"]
        try:
            return parse_squeue(self._run(argv).stdout)
        except SlurmCommandError as exc:
            if "invalid job id" in exc.stderr.lower():
                return []  # purged from the controller (sacct has it) or never existed
            raise

    def _sacct(self, ids: Sequence[str]) -> list[SlurmJob]:
        argv = [
            "sacct",
            "--noheader",
            "--parsable2",
            f"--format={','.join(SACCT_FIELDS)}",
            f"--jobs={','.join(ids)}",
        ]
        return parse_sacct(self._run(argv).stdout)

    def _run(
        self, argv: Sequence[str], *, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        shown = _shown(argv)
        try:
            done = subprocess.run(
                list(argv),
                capture_output=True,
                text=True,
                timeout=self._timeout_s,
                env={**self._env, **(env or {})},
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except FileNotFoundError:
            raise EngineError(
                f"`{argv[0]}` is not installed or not on the PATH: the Slurm engine needs "
                "Slurm's client commands (Debian: slurm-client)."
            ) from None
        except subprocess.TimeoutExpired:
            raise EngineError(f"`{shown}` did not finish within {self._timeout_s:g} s.") from None
        except OSError as exc:
            raise EngineError(f"could not run `{shown}`: {exc}") from exc
        if done.returncode != 0:
            stderr = done.stderr.strip()
            raise SlurmCommandError(
                f"`{shown}` failed with exit code {done.returncode}: "
                f"{stderr[-2000:] or '(no error output)'}",
                stderr,
            )
        return done

    def _key_of(self, engine_job_id: str) -> str:
        if not engine_job_id.isdigit():
            raise EngineError(f"{engine_job_id!r} is not a Slurm job id.")
        try:
            key = (self._jobs / engine_job_id).read_text().strip()
        except FileNotFoundError:
            raise EngineError(f"the slurm engine knows no task {engine_job_id!r}.") from None
        except OSError as exc:
            raise EngineError(f"cannot read the index entry of job {engine_job_id}: {exc}") from exc
        return key

    def _task_dir(self, key: str) -> Path:
        # The key names a directory: refuse anything that could step outside state_dir.
        if not key or key.startswith(".") or {"/", "\x00"} & set(key):
            raise EngineError(f"{key!r} is not a task key of the slurm engine.")
        return self._tasks / key


# ---- helpers ------------------------------------------------------------------------------


def parse_gres(text: str) -> list[tuple[str, str | None, int]]:
    """(name, type or None, count) of a node's GRES such as ``gpu:h100:4(S:0-1),gpu:2``."""
    entries: list[tuple[str, str | None, int]] = []
    for entry in re.sub(r"\([^)]*\)", "", text).split(","):
        parts = [p for p in entry.strip().split(":") if p]
        if len(parts) < 2 or parts[0] == "(null)":
            continue
        count = re.match(r"\d+", parts[-1])
        if count is None:
            continue
        gres_type = parts[1] if len(parts) >= 3 else None
        entries.append((parts[0], gres_type, int(count.group())))
    return entries


def _per_node(task: EngineTask) -> Resources:
    """What each node of the task holds: its allocation, or the largest placement's."""
    if not task.placements:
        return task.allocation
    allocations = [p.allocation for p in task.placements]
    gpus: dict[str, int] = {}
    for a in allocations:
        for model, n in a.gpus.items():
            gpus[model] = max(gpus.get(model, 0), n)
    return Resources(
        max(a.cpu_milli for a in allocations), max(a.memory_mb for a in allocations), gpus
    )


def _gpu_memory_mb(gpus: Mapping[str, int]) -> int:
    """The least memory of the node's GPU models, from the catalog (0 if unknown)."""
    catalog = default_catalog()
    sizes = [
        int(spec.memory_gb * 1024)
        for spec in (catalog.get(m) for m in gpus)
        if spec is not None and spec.memory_gb
    ]
    return min(sizes, default=0)


def _format(fields: Iterable[str]) -> str:
    # "<field>:|" prints the whole value followed by '|', whatever its length.
    return ",".join(f"{f}:|" for f in fields)


def _rows(text: str, width: int) -> Iterable[list[str]]:
    """Rows of '|'-separated output with `width` fields (a trailing '|' is allowed)."""
    for line in text.splitlines():
        if not line.strip():
            continue
        cells = [c.strip() for c in line.rstrip("\n").split("|")]
        if len(cells) == width + 1 and cells[-1] == "":
            cells.pop()
        if len(cells) != width:
            log.warning("slurm: skipping unparseable line %r", line[:200])
            continue
        yield cells


def _base_state(text: str) -> str:
    # sacct writes "CANCELLED by 0"; squeue may append "+" to some states.
    return text.strip().split(" ", 1)[0].rstrip("+").upper()


def _clean(text: str) -> str:
    text = text.strip()
    return "" if text in ("(null)", "N/A", "None assigned") else text


def _epoch(text: str) -> datetime | None:
    text = text.strip()
    if not text.isdigit() or int(text) <= 0:
        return None  # N/A, Unknown, None, 0
    return datetime.fromtimestamp(int(text), UTC)


def _from_wait_status(text: str) -> int | None:
    if not text.strip().isdigit():
        return None
    status = int(text)
    signal = status & 0x7F
    return 128 + signal if signal else (status >> 8) & 0xFF


def _from_code_signal(text: str) -> int | None:
    code, _, signal = text.strip().partition(":")
    if not code.isdigit():
        return None
    return 128 + int(signal) if signal.isdigit() and int(signal) else int(code)


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "ended"
    if code > 128:
        return f"killed by signal {code - 128} (exit code {code})"
    return f"exited with code {code}"


def _split_key(key: str, meta: Mapping[str, object]) -> tuple[JobId, int]:
    job_id, _, attempt = key.rpartition(".")
    recorded_job, recorded_attempt = meta.get("job_id"), meta.get("attempt")
    if isinstance(recorded_job, str) and isinstance(recorded_attempt, int):
        return JobId(recorded_job), recorded_attempt
    return JobId(job_id), int(attempt) if attempt.isdigit() else 0


def _opt_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _tail(path: Path, size: int) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - size))
            return f.read(size).decode(errors="replace")
    except OSError:
        return ""


def _shown(argv: Sequence[str]) -> str:
    text = shlex.join(argv)
    return text if len(text) <= 300 else text[:297] + "..."
