"""Background runs of the policy lab, for the API (`/v1/lab/runs`) and the dashboard: a
trace (a bundled sample or an upload) and some policies, checked at once, then simulated
one run at a time on a worker thread with progress per policy; the outcome JSON and the
HTML report are kept in memory.

Contracts:
- `LabRuns.start` checks everything before anything is queued: the trace is loaded and
  the pool sized (`prepare`) in the caller's thread, so a bad trace, policy or job count
  is an `InvalidInput` with a hint and leaves no run behind. An upload is written to a
  private temporary folder only while it is read, then deleted: `prepare` keeps all it
  needs in memory.
- Limits: uploads of at most 1 MiB, at most 2,000 jobs a run (the first rows of the
  trace), at most 3 runs queued or running per user (`Conflict` past that), at most 20
  runs kept per process (the oldest finished one is dropped to make room; `Conflict` when
  all are still queued or running).
- One worker runs the queue in order (a simulation is CPU-bound Python: several at once
  would only share the interpreter). A failure marks the run FAILED with a message, never
  a traceback (that goes to the server's log).
- Runs are visible to their owner, and to roles with `SEE_ALL_TENANTS` (operators);
  anyone else gets `NotFound`, as for a run that does not exist.
- Runs live in this process only: a restart forgets them, and with several API workers
  each has its own.

A shell component like the rest of `lab/`: the API composes it; no service imports it.
"""

from __future__ import annotations

import logging
import re
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from functools import partial
from pathlib import Path
from typing import TypeVar

from suanli.adapters.report import render_html
from suanli.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from suanli.domain.ids import TenantId, UserId
from suanli.domain.permissions import Permission, allows, require
from suanli.domain.tenancy import Principal
from suanli.domain.validation import check_text
from suanli.lab.sample_traces import sample
from suanli.lab.simulation import (
    DEFAULT_POLICIES,
    PolicyRun,
    Prepared,
    SimOutcome,
    SimRequest,
    prepare,
    run_policy,
)
from suanli.logic.scheduling.policies import policy_names
from suanli.ports.clock import Clock
from suanli.ports.ids import IdGenerator

log = logging.getLogger("suanli.lab")
T = TypeVar("T")

MAX_UPLOAD_BYTES = 1024 * 1024
MAX_JOBS = 2000
MAX_KEPT = 20
MAX_ACTIVE_PER_USER = 3
MAX_POLICIES = 16
_DEFAULT_UPLOAD_NAME = "upload.csv"


class RunState(StrEnum):
    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"

    def finished(self) -> bool:
        return self in (RunState.SUCCEEDED, RunState.FAILED)


@dataclass(frozen=True, slots=True)
class Upload:
    """A trace sent by the caller: its file name (the format may be guessed from it, and
    the report names it) and its content (UTF-8 text)."""

    filename: str
    data: bytes | str
    trace_format: str | None = None
    """A job-trace format of docs/traces.md; None: guessed from the name and header."""


@dataclass(frozen=True, slots=True)
class LabRun:
    """One run as it stands (a snapshot: the registry replaces it as the run moves on)."""

    id: str
    owner: UserId
    tenant_id: TenantId | None
    created_at: datetime
    state: RunState
    trace: str
    """The sample's name, or the upload's (cleaned) file name."""
    trace_format: str
    jobs: int
    """Jobs simulated (trace rows with a run time and GPUs, at most the limit asked)."""
    policies: tuple[str, ...]
    """As asked (`default` stays `default`), each once."""
    progress: Mapping[str, tuple[int, int]]
    """Policy -> (jobs finished, jobs in all); never mutated (replaced)."""
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: Mapping[str, object] | None = None
    """`SimOutcome.to_json()` once SUCCEEDED (what `suanli sim --json` prints)."""
    error: str | None = None
    """What went wrong, once FAILED."""
    report_html: str | None = field(default=None, repr=False)


class LabRuns:
    """The runs of one process. Thread-safe: requests start and read runs while the worker
    updates them.

    `worker=False` runs nothing by itself: `run_pending()` runs the queue in the caller's
    thread (tests that need runs to stay QUEUED, or to finish deterministically)."""

    def __init__(
        self,
        clock: Clock,
        ids: IdGenerator,
        *,
        max_upload_bytes: int = MAX_UPLOAD_BYTES,
        max_jobs: int = MAX_JOBS,
        max_kept: int = MAX_KEPT,
        max_active_per_user: int = MAX_ACTIVE_PER_USER,
        worker: bool = True,
    ) -> None:
        self._clock = clock
        self._ids = ids
        self.max_upload_bytes = max_upload_bytes
        self.max_jobs = max_jobs
        self.max_kept = max_kept
        self.max_active_per_user = max_active_per_user
        self._use_worker = worker
        self._lock = threading.Lock()
        self._runs: dict[str, LabRun] = {}  # insertion order = creation order
        self._queued: dict[str, Prepared] = {}  # the queue, in order: inputs of QUEUED runs
        self._worker: threading.Thread | None = None
        """Alive while the queue has runs; it ends when the queue is empty (so an idle
        registry holds no thread)."""

    # --- starting ----------------------------------------------------------------------

    def start(
        self,
        principal: Principal,
        trace: str | Upload,
        policies: Sequence[str] = DEFAULT_POLICIES,
        jobs: int | None = None,
    ) -> LabRun:
        """Check and queue a run of `policies` on `trace` (a sample's name, or an upload),
        its first `jobs` jobs (None: up to the limit). Raises InvalidInput (bad input),
        Conflict (too many runs), Forbidden (a role without `lab:run`)."""
        require(principal, Permission.LAB_RUN)
        asked = self._check_policies(policies)
        limit = self._check_jobs(jobs)
        with self._lock:  # refuse early, before the work of loading the trace
            self._check_room(principal)
        label, prepared = self._prepare(trace, asked, limit)
        scenario = prepared.scenario
        labels = tuple(p.asked_as for p in scenario.policies)
        run = LabRun(
            id=self._ids.new("lab-"),
            owner=principal.user_id,
            tenant_id=principal.tenant_id,
            created_at=self._clock.now(),
            state=RunState.QUEUED,
            trace=label,
            trace_format=scenario.trace_format,
            jobs=scenario.jobs,
            policies=labels,
            progress={name: (0, scenario.jobs) for name in labels},
        )
        with self._lock:  # again: another request may have started one meanwhile
            self._check_room(principal)
            self._make_room()
            self._runs[run.id] = run
            self._queued[run.id] = prepared
            if self._use_worker and (self._worker is None or not self._worker.is_alive()):
                # A daemon: a process that exits does not wait for queued simulations.
                self._worker = threading.Thread(target=self._work, name="suanli-lab", daemon=True)
                self._worker.start()
        return run

    def _check_policies(self, policies: Sequence[str]) -> tuple[str, ...]:
        known = ("default", *policy_names())
        hint = f'send "policies": a list of one or more of {", ".join(known)}.'
        if not policies:
            raise InvalidInput("No policy to simulate.", field="policies", hint=hint)
        if len(policies) > MAX_POLICIES:
            raise InvalidInput(
                f"{len(policies)} policies asked for; at most {MAX_POLICIES} a run.",
                field="policies",
                hint=hint,
            )
        for index, name in enumerate(policies):
            check_text(name, "policies", what=f"policies[{index}]", name=True, max_chars=64)
            if name not in known:
                raise InvalidInput(
                    f"Unknown scheduling policy {name!r}.", field="policies", hint=hint
                )
        return tuple(policies)

    def _check_jobs(self, jobs: int | None) -> int:
        hint = (
            f"send jobs from 1 to {self.max_jobs} (the first rows of the trace), or leave "
            f"it out for up to {self.max_jobs}; for more, run `suanli sim` on the command "
            "line."
        )
        if jobs is None:
            return self.max_jobs
        if jobs < 1:
            raise InvalidInput(f"jobs must be at least 1, got {jobs}.", field="jobs", hint=hint)
        if jobs > self.max_jobs:
            raise InvalidInput(
                f"At most {self.max_jobs} jobs a run in the policy lab, asked for {jobs}.",
                field="jobs",
                hint=hint,
            )
        return jobs

    def _check_room(self, principal: Principal) -> None:
        """Conflict when the caller already has its share of active runs (lock held)."""
        active = sum(
            1
            for r in self._runs.values()
            if r.owner == principal.user_id and not r.state.finished()
        )
        if active >= self.max_active_per_user:
            raise Conflict(
                f"You have {active} lab runs queued or running; at most "
                f"{self.max_active_per_user} at a time.",
                hint="wait for one to finish (GET /v1/lab/runs), then start the next.",
            )

    def _make_room(self) -> None:
        """Drop the oldest finished runs until one more fits (lock held)."""
        while len(self._runs) >= self.max_kept:
            oldest = next((r for r in self._runs.values() if r.state.finished()), None)
            if oldest is None:
                raise Conflict(
                    f"The policy lab is busy: {len(self._runs)} runs are queued or running.",
                    hint="try again when some have finished.",
                )
            del self._runs[oldest.id]

    def _prepare(
        self, trace: str | Upload, policies: tuple[str, ...], jobs: int
    ) -> tuple[str, Prepared]:
        """(label, prepared) of the trace; the scenario names the label, not a path."""
        if isinstance(trace, str):
            check_text(trace, "sample", name=True, max_chars=100)
            found = sample(trace)
            prepared = _api_errors(
                lambda: prepare(SimRequest(found.path(), policies, jobs=jobs)), None
            )
            label = found.name
        else:
            text = self._upload_text(trace)
            if trace.trace_format is not None:
                check_text(trace.trace_format, "format", name=True, max_chars=40)
            label = _safe_name(trace.filename)
            # Private (mode 0700) and gone once read: nothing of an upload stays on disk.
            with tempfile.TemporaryDirectory(prefix="suanli-lab-") as folder:
                path = Path(folder) / label
                path.write_text(text, encoding="utf-8")
                request = SimRequest(path, policies, trace_format=trace.trace_format, jobs=jobs)
                prepared = _api_errors(lambda: prepare(request), "trace_text")
        scenario = replace(prepared.scenario, trace=label)
        return label, replace(prepared, scenario=scenario)

    def _upload_text(self, upload: Upload) -> str:
        check_text(upload.filename, "filename", name=True, max_chars=255)
        hint = (
            f"upload at most {self.max_upload_bytes // 1024} KiB of trace (cut it to its "
            "first rows), or run `suanli sim` on the command line for a larger one."
        )
        if isinstance(upload.data, str):
            size = check_text(upload.data, "trace_text")
            text = upload.data
        else:
            size = len(upload.data)
            try:
                text = upload.data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InvalidInput(
                    f"The trace is not UTF-8 text (byte {exc.start}).",
                    field="trace_text",
                    hint="upload a CSV or text trace in UTF-8.",
                ) from None
        if size > self.max_upload_bytes:
            raise InvalidInput(
                f"The trace is {size:,} bytes; the policy lab takes at most "
                f"{self.max_upload_bytes:,}.",
                field="trace_text",
                hint=hint,
            )
        if not text.strip():
            raise InvalidInput(
                "The trace is empty.",
                field="trace_text",
                hint="upload a trace file's text (formats: docs/traces.md), or pick a sample.",
            )
        if "\x00" in text:
            raise InvalidInput(
                "The trace holds NUL characters: it is not a text trace.",
                field="trace_text",
                hint="upload a CSV or text trace (formats: docs/traces.md).",
            )
        return text

    # --- running -----------------------------------------------------------------------

    def _work(self) -> None:
        while (taken := self._take(worker=True)) is not None:
            self._execute(*taken)

    def run_pending(self) -> int:
        """Run every queued run now, in this thread (for `worker=False`); how many ran."""
        ran = 0
        while (taken := self._take(worker=False)) is not None:
            self._execute(*taken)
            ran += 1
        return ran

    def _take(self, *, worker: bool) -> tuple[str, Prepared] | None:
        """The next queued run, now RUNNING; None when the queue is empty (and then the
        worker, if that is who asks, is gone: `start` makes a new one)."""
        with self._lock:
            if not self._queued:
                if worker:
                    self._worker = None
                return None
            run_id = next(iter(self._queued))
            prepared = self._queued.pop(run_id)
            self._update(run_id, state=RunState.RUNNING, started_at=self._clock.now())
            return run_id, prepared

    def _execute(self, run_id: str, prepared: Prepared) -> None:
        """Run one run to SUCCEEDED or FAILED. Never raises."""
        try:
            runs: list[PolicyRun] = []
            for policy in prepared.scenario.policies:
                runs.append(run_policy(prepared, policy, partial(self._progress, run_id)))
            outcome = SimOutcome(prepared.scenario, tuple(runs))
            document = outcome.to_json()
            page = render_html(
                prepared.scenario, [(r.policy.asked_as, r.report) for r in runs], document
            )
        except Exception as exc:
            log.exception("policy lab run %s failed", run_id)
            with self._lock:
                self._update(
                    run_id,
                    state=RunState.FAILED,
                    finished_at=self._clock.now(),
                    error=_failure(exc),
                )
            return
        with self._lock:
            self._update(
                run_id,
                state=RunState.SUCCEEDED,
                finished_at=self._clock.now(),
                result=document,
                report_html=page,
            )

    def _progress(self, run_id: str, policy: str, finished: int, total: int) -> None:
        with self._lock:
            run = self._runs.get(run_id)
            if run is not None:
                progress = {**run.progress, policy: (finished, total)}
                self._runs[run_id] = replace(run, progress=progress)

    def _update(self, run_id: str, **changes: object) -> None:
        """Replace the run's snapshot (lock held); a dropped run is left dropped."""
        run = self._runs.get(run_id)
        if run is not None:
            self._runs[run_id] = replace(run, **changes)  # type: ignore[arg-type]

    # --- reading -----------------------------------------------------------------------

    def visible(self, principal: Principal) -> list[LabRun]:
        """The runs `principal` may see, newest first."""
        require(principal, Permission.LAB_RUN)
        with self._lock:
            runs = list(self._runs.values())
        return [r for r in reversed(runs) if _visible(principal, r)]

    def get(self, principal: Principal, run_id: str) -> LabRun:
        """The run, or NotFound (also for another user's run)."""
        require(principal, Permission.LAB_RUN)
        with self._lock:
            run = self._runs.get(run_id)
        if run is None or not _visible(principal, run):
            raise NotFound(
                f"No lab run {run_id!r}.",
                field="run_id",
                hint="list yours with GET /v1/lab/runs (a process keeps its last "
                f"{self.max_kept} runs, and forgets them when it restarts).",
            )
        return run

    def report(self, principal: Principal, run_id: str) -> str:
        """The HTML report of a SUCCEEDED run; Conflict before then or after a failure."""
        run = self.get(principal, run_id)
        if run.state is RunState.FAILED:
            raise Conflict(
                f"Lab run {run.id} failed, so it has no report: {run.error}",
                hint="fix what the message says and start a new run.",
            )
        if run.report_html is None:
            raise Conflict(
                f"Lab run {run.id} is {run.state.value}: its report is not ready yet.",
                hint=f"poll GET /v1/lab/runs/{run.id} until its state is SUCCEEDED.",
            )
        return run.report_html


def _visible(principal: Principal, run: LabRun) -> bool:
    return run.owner == principal.user_id or allows(principal.role, Permission.SEE_ALL_TENANTS)


def _safe_name(filename: str) -> str:
    """The upload's base name in safe characters (it becomes a file name, and the report's
    title); its extension and prefix are kept, since `guess_format` reads them."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", base).lstrip(".")[:100]
    return cleaned or _DEFAULT_UPLOAD_NAME


def _api_errors(load: Callable[[], T], field_name: str | None) -> T:
    """Run `load`, rewording its InvalidInput for API callers: the hints of `prepare` name
    command-line options; `field_name` replaces a trace column as the offending input."""
    try:
        return load()
    except InvalidInput as exc:
        if field_name is not None and exc.field not in ("format", "policy", "jobs"):
            exc.field = field_name
        if exc.hint is not None:
            for cli, api in (
                ("pass --format", 'send "format"'),
                ("name the format explicitly:", 'send "format",'),
            ):
                exc.hint = exc.hint.replace(cli, api)
            if "--" in exc.hint:
                exc.hint = (
                    f"run `suanli sim` on the command line for this trace and "
                    f"{exc.hint.rstrip('.')} (the policy lab takes a trace, its format, "
                    "policies and a job count only)."
                )
        raise


def _failure(exc: Exception) -> str:
    """What a FAILED run shows: a domain error's own words, else only the kind of error
    (the traceback is in the server's log)."""
    if isinstance(exc, DomainError):
        return str(exc)
    return (
        f"The simulation failed unexpectedly ({type(exc).__name__}); the server's log has "
        "the details."
    )
