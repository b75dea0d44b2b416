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
import os
import shlex
import shutil
import subprocess
import threading
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path

from suanli.adapters.engines.local_shim import read_json, read_time, write_json_atomic
from suanli.adapters.engines.slurm_output import (
    SACCT_FIELDS,
    SQUEUE_FIELDS,
    SlurmJob,
    classify,
    describe_exit,
    parse_gres,
    parse_sacct,
    parse_squeue,
    rows,
)
from suanli.adapters.engines.slurm_request import (
    JOB_PREFIX,
    PASSED_ENV,
    STDERR_LOG,
    STDOUT_LOG,
    sbatch_argv,
    task_env,
)
from suanli.domain.catalog import default_catalog
from suanli.domain.devices import canonical_gpu_model
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

WRAPPER = '#!/bin/sh\n# suanli: run the task argv (this script\'s arguments) as given.\nexec "$@"\n'
META_FILE, CANCEL_FILE = "meta.json", "cancel.json"
_STREAMS = {"stdout": STDOUT_LOG, "stderr": STDERR_LOG}

SINFO_FIELDS = ("NodeList", "CPUs", "Memory", "Gres", "StateLong")

NOT_STARTED = frozenset({"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_FED", "REQUEUE_HOLD"})
UNUSABLE_NODE_STATES = ("down", "drain", "fail", "future", "inval", "maint", "unk", "power")
_OOM_MARKERS = ("exceeded memory limit", "exceeded job memory limit", "oom-kill")
# Variables that would change what the Slurm tools do or print: never passed to them.
_TOOL_ENV = ("SLURM_", "SBATCH_", "SQUEUE_", "SACCT_", "SINFO_", "SCANCEL_")


# ---- what Slurm says about a job ------------------------------------------------------------


# ---- what the engine asks of Slurm --------------------------------------------------------


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
        requested = read_time(cancel.get("requested_at"))
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
            return JobStatus.CANCELLED, f"cancelled ({describe_exit(job.exit_code)})"
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
        for name, cpus, memory, gres, state in rows(self._run(argv).stdout, len(SINFO_FIELDS)):
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


def _split_key(key: str, meta: Mapping[str, object]) -> tuple[JobId, int]:
    job_id, _, attempt = key.rpartition(".")
    recorded_job, recorded_attempt = meta.get("job_id"), meta.get("attempt")
    if isinstance(recorded_job, str) and isinstance(recorded_attempt, int):
        return JobId(recorded_job), recorded_attempt
    return JobId(job_id), int(attempt) if attempt.isdigit() else 0


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
