"""Job use cases for users: submit, list, show, cancel, read logs.

Tenant isolation: a caller without SEE_ALL_TENANTS sees only its own tenant's jobs; a job
of another tenant is reported as not found (its existence is not revealed).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from suanli.domain.audit import AuditAction
from suanli.domain.errors import Conflict, DomainError, InvalidInput, NotFound
from suanli.domain.geo import places
from suanli.domain.ids import JOB_PREFIX, JobId, TenantId
from suanli.domain.job_links import ARRAY_PREFIX, ArraySpec, ArrayTask
from suanli.domain.jobs import MAX_LOG_OFFSET, Attempt, Job, JobEvent, JobSpec, JobStatus
from suanli.domain.permissions import Permission, allows, require
from suanli.domain.tenancy import Principal
from suanli.domain.usage import UsageRecord
from suanli.ports.clock import Clock
from suanli.ports.ids import IdGenerator
from suanli.ports.signals import Wakeup
from suanli.ports.store import JobFilter, Store, UnitOfWork
from suanli.services.audit import record
from suanli.services.billing import release_hold
from suanli.services.job_links import named_jobs
from suanli.services.lifecycle import move

STREAMS = ("stdout", "stderr")
IDEMPOTENCY_WINDOW = timedelta(days=1)
"""How long a submission's Idempotency-Key is remembered."""
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]{1,200}")
MAX_PAGE = 1000
MAX_LOG_READ = 4 * 1024 * 1024
"""Most log bytes one read returns."""
MAX_REPLICAS = 1000
_SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


@dataclass(frozen=True, slots=True)
class JobDetail:
    job: Job
    attempts: list[Attempt]
    events: list[JobEvent]
    usage: list[UsageRecord]


class JobService:
    def __init__(self, store: Store, clock: Clock, ids: IdGenerator, wakeup: Wakeup) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids
        self._wakeup = wakeup

    def submit(self, principal: Principal, spec: JobSpec) -> Job:
        """Queue a job for the caller's tenant. Durable before it returns."""
        (result,) = self.submit_many([(principal, spec)])
        if isinstance(result, DomainError):
            raise result
        return result

    def submit_many(
        self, items: Sequence[tuple[Principal, JobSpec]], *, all_or_none: bool = False
    ) -> list[Job | DomainError]:
        """Queue several jobs in one transaction (group commit). Each item succeeds or
        gets its own error (no permission, unknown region); the valid ones are durable
        together before this returns. A database failure fails them all (raised). With
        `all_or_none`, one error means nothing is queued (the others are returned unsaved)."""
        now = self._clock.now()
        results: list[Job | DomainError] = []
        with self._store.unit_of_work() as uow:
            known: set[str] | None = None
            accepted: list[Job] = []
            for principal, spec in items:
                try:
                    require(principal, Permission.JOB_SUBMIT)
                    tenant_id = principal.own_tenant()
                    if (
                        spec.placement.regions
                        or spec.placement.data_region
                        or spec.placement.client_region
                    ):
                        known = known or {r.id for r in uow.pool.list_regions()}
                        _check_regions(spec, known)
                    if spec.dependencies:
                        _check_dependencies(uow, tenant_id, spec)
                except DomainError as exc:
                    results.append(exc)
                    continue
                job = self._new_job(principal, tenant_id, spec, now)
                accepted.append(job)
                results.append(job)
            if all_or_none and len(accepted) < len(items):
                accepted = []
            if accepted:
                saved = iter(uow.jobs.add_many(accepted))
                results = [r if isinstance(r, DomainError) else next(saved) for r in results]
                uow.jobs.add_events(
                    [JobEvent(j.id, now, None, JobStatus.PENDING, "Submitted", 0) for j in accepted]
                )
                uow.commit()
        if accepted:
            self._wakeup.notify()
        return results

    def _new_job(
        self, principal: Principal, tenant_id: TenantId, spec: JobSpec, now: datetime
    ) -> Job:
        return Job(
            id=JobId(self._ids.new(JOB_PREFIX)),
            tenant_id=tenant_id,
            user_id=principal.user_id,
            spec=spec,
            status=JobStatus.PENDING,
            submitted_at=now,
            reason="Submitted; waiting for the next scheduling cycle.",
            updated_at=now,
        )

    def submit_idempotent(
        self, principal: Principal, spec: JobSpec, *, key: str, request_hash: str
    ) -> tuple[Job, bool]:
        """Queue a job unless the tenant used `key` in the last `IDEMPOTENCY_WINDOW`:
        then return the job that use made (and False), so a retried submission makes one
        job. The same key with a different request is a Conflict. Returns (job, created)."""
        require(principal, Permission.JOB_SUBMIT)
        tenant_id = principal.own_tenant()
        if not _IDEMPOTENCY_KEY.fullmatch(key):
            raise InvalidInput(
                "Idempotency-Key must be 1-200 printable ASCII characters.",
                field="Idempotency-Key",
                hint="use a random UUID per logical submission.",
            )
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            if _names_places(spec):
                _check_regions(spec, {r.id for r in uow.pool.list_regions()})
            if spec.dependencies:
                _check_dependencies(uow, tenant_id, spec)
            uow.jobs.forget_idempotency_keys(now - IDEMPOTENCY_WINDOW)
            job = self._new_job(principal, tenant_id, spec, now)
            prior = uow.jobs.reserve_idempotency_key(tenant_id, key, request_hash, job.id, now)
            if prior is not None:
                first_hash, first_job = prior
                if first_hash != request_hash:
                    raise Conflict(
                        "This Idempotency-Key was used for a different submission.",
                        field="Idempotency-Key",
                        hint="use a new key for a new job; resend the same body to get "
                        "the job the key made.",
                    )
                found = uow.jobs.get(first_job)
                if found is None:  # pragma: no cover - keys are written with their job
                    raise NotFound(f"No job {first_job!r}.", field="Idempotency-Key")
                return found, False
            (saved,) = uow.jobs.add_many([job])
            uow.jobs.add_events([JobEvent(saved.id, now, None, JobStatus.PENDING, "Submitted", 0)])
            uow.commit()
        self._wakeup.notify()
        return saved, True

    def submit_service(self, principal: Principal, spec: JobSpec, replicas: int) -> list[Job]:
        """Queue `replicas` jobs of `spec` as the replicas of the inference service
        `spec.service`, named SERVICE-0 .. SERVICE-{R-1}, in one transaction: all are
        queued or none (raises the first error)."""
        name = spec.service
        if not _SERVICE_NAME.fullmatch(name):
            raise InvalidInput(
                f"A service needs a name of 1-64 letters, digits, '_', '.' or '-' "
                f"(starting with a letter or digit), got {name!r}.",
                field="service",
                hint="e.g. --service chat-api.",
            )
        if spec.name:
            raise InvalidInput(
                "The replicas of a service are named after it (SERVICE-0, SERVICE-1, ...).",
                field="name",
                hint="drop the name, or submit one job without replicas.",
            )
        if not 1 <= replicas <= MAX_REPLICAS:
            raise InvalidInput(
                f"replicas must be between 1 and {MAX_REPLICAS}, got {replicas}.",
                field="replicas",
                hint="e.g. --replicas 3.",
            )
        items = [(principal, replace(spec, name=f"{name}-{i}")) for i in range(replicas)]
        results = self.submit_many(items, all_or_none=True)
        for result in results:
            if isinstance(result, DomainError):
                raise result
        return [r for r in results if isinstance(r, Job)]

    def submit_array(
        self, principal: Principal, spec: JobSpec, array: ArraySpec
    ) -> tuple[str, list[Job]]:
        """Queue a job array: one job of `spec` per index, in one transaction (all or
        none; raises the first error), each knowing its array (id `a-...`), index and
        throttle, with Slurm's array variables in its environment
        (SLURM_ARRAY_JOB_ID, SLURM_ARRAY_TASK_ID, ..._COUNT, ..._MIN, ..._MAX, and the
        same as SUANLI_ARRAY_ID / SUANLI_ARRAY_INDEX). Returns (array id, jobs)."""
        if spec.service:
            raise InvalidInput(
                "An inference service's replicas are not an array.",
                field="array",
                hint="drop --array, or submit the service with --replicas.",
            )
        array_id = self._ids.new(ARRAY_PREFIX)
        shared = {
            "SLURM_ARRAY_JOB_ID": array_id,
            "SLURM_ARRAY_TASK_COUNT": str(len(array.indices)),
            "SLURM_ARRAY_TASK_MIN": str(min(array.indices)),
            "SLURM_ARRAY_TASK_MAX": str(max(array.indices)),
            "SUANLI_ARRAY_ID": array_id,
        }
        items = [
            (
                principal,
                replace(
                    spec,
                    env={
                        **spec.env,
                        **shared,
                        "SLURM_ARRAY_TASK_ID": str(i),
                        "SUANLI_ARRAY_INDEX": str(i),
                    },
                    array=ArrayTask(array_id, i, array.limit),
                ),
            )
            for i in array.indices
        ]
        results = self.submit_many(items, all_or_none=True)
        for result in results:
            if isinstance(result, DomainError):
                raise result
        return array_id, [r for r in results if isinstance(r, Job)]

    def _visible(
        self, uow: UnitOfWork, principal: Principal, job_id: JobId, *, for_update: bool = False
    ) -> Job:
        job = uow.jobs.get_for_update(job_id) if for_update else uow.jobs.get(job_id)
        if job is None or (
            job.tenant_id != principal.tenant_id
            and not allows(principal.role, Permission.SEE_ALL_TENANTS)
        ):
            raise NotFound(
                f"No job {job_id!r}.", field="job_id", hint="check the id with `suanli jobs`."
            )
        return job

    def get(self, principal: Principal, job_id: JobId) -> JobDetail:
        require(principal, Permission.JOB_READ)
        with self._store.unit_of_work(readonly=True) as uow:
            job = self._visible(uow, principal, job_id)
            return JobDetail(
                job,
                uow.jobs.list_attempts(job_id),
                uow.jobs.events(job_id),
                uow.usage.for_job(job_id),
            )

    def search(self, principal: Principal, flt: JobFilter) -> list[Job]:
        require(principal, Permission.JOB_READ)
        if not 1 <= flt.limit <= MAX_PAGE:
            raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}.", field="limit")
        if not allows(principal.role, Permission.SEE_ALL_TENANTS):
            if flt.tenant_id not in (None, principal.tenant_id):
                raise NotFound(f"No tenant {flt.tenant_id!r}.", field="tenant")
            flt = replace(flt, tenant_id=principal.own_tenant())
        with self._store.unit_of_work(readonly=True) as uow:
            return uow.jobs.search(flt)

    def usage_of(
        self, principal: Principal, job_ids: list[JobId]
    ) -> dict[JobId, list[UsageRecord]]:
        """Usage records of jobs the caller may see (for list views)."""
        require(principal, Permission.JOB_READ)
        with self._store.unit_of_work(readonly=True) as uow:
            usage = uow.usage.for_jobs(job_ids)
        return {
            j: r
            for j, r in usage.items()
            if allows(principal.role, Permission.SEE_ALL_TENANTS)
            or all(x.tenant_id == principal.tenant_id for x in r)
        }

    def cancel(self, principal: Principal, job_id: JobId) -> Job:
        """Cancel at once if the job has not reached an agent; otherwise ask its agent to
        stop it (SIGTERM, then SIGKILL after the grace period) and return RUNNING with
        `cancel_requested` set. Cancelling a cancelled job is a no-op."""
        require(principal, Permission.JOB_CANCEL)
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            job = self._visible(uow, principal, job_id, for_update=True)
            if job.status is JobStatus.CANCELLED:
                return job
            if job.status.is_terminal():
                raise Conflict(f"Job {job_id} already ended {job.status.value}; nothing to cancel.")
            attempt = uow.jobs.get_attempt(job.id, job.attempt) if job.attempt else None
            if attempt is not None and attempt.dispatched_at and job.status.holds_resources():
                job = replace(
                    job,
                    cancel_requested=True,
                    reason="Cancel requested; waiting for the agent to stop it.",
                    updated_at=now,
                )
                uow.jobs.save(job)
            else:
                if attempt is not None and attempt.status is JobStatus.SCHEDULED:
                    uow.jobs.save_attempt(
                        replace(
                            attempt, status=JobStatus.CANCELLED, reason="Cancelled before dispatch."
                        )
                    )
                    release_hold(uow, attempt.job_id, attempt.number, now, "cancelled")
                job = move(
                    uow,
                    job,
                    JobStatus.CANCELLED,
                    reason="Cancelled by user.",
                    at=now,
                    ended_at=now,
                    cluster_id=job.cluster_id,
                )
            if job.tenant_id != principal.tenant_id:
                record(
                    uow,
                    principal,
                    AuditAction.JOB_CANCEL_OTHER,
                    job.id,
                    at=now,
                    tenant_id=job.tenant_id,
                    status=job.status.value,
                )
            uow.commit()
        self._wakeup.notify()
        return job

    def logs(
        self,
        principal: Principal,
        job_id: JobId,
        *,
        stream: str,
        offset: int,
        limit: int,
        attempt: int | None,
    ) -> tuple[bytes, int, Job]:
        """Bytes of one output stream of one attempt (default: the latest) from `offset`.
        Returns the data, the attempt number read, and the job (so followers know when
        to stop). Needs JOB_LOGS: output may hold the tenant's data, which auditors do
        not read."""
        require(principal, Permission.JOB_LOGS)
        if stream not in STREAMS:
            raise InvalidInput(
                f"Unknown stream {stream!r}.", field="stream", hint="use stdout or stderr."
            )
        if not 0 <= offset <= MAX_LOG_OFFSET:
            raise InvalidInput(
                f"offset must be between 0 and {MAX_LOG_OFFSET}.",
                field="offset",
                hint="start at 0, then pass the X-Suanli-Next-Offset of the previous read.",
            )
        if not 1 <= limit <= MAX_LOG_READ:
            raise InvalidInput(
                f"limit must be between 1 and {MAX_LOG_READ} bytes (4 MiB).",
                field="limit",
                hint="read a long log in pages: pass the next offset each time.",
            )
        with self._store.unit_of_work(readonly=True) as uow:
            job = self._visible(uow, principal, job_id)
            number = job.attempt if attempt is None else attempt
            if attempt is not None and not 1 <= attempt <= max(job.attempt, 1):
                raise InvalidInput(
                    f"Job {job_id} has no attempt {attempt}.",
                    field="attempt",
                    hint=f"attempts run 1..{job.attempt}.",
                )
            return uow.logs.read(job.id, number, stream, offset, limit), number, job


def _check_regions(spec: JobSpec, known: set[str]) -> None:
    """Allowed regions must be pool regions; where data or clients are may also be any
    place of the latency table (a city without a cluster)."""
    unknown = [r for r in spec.placement.regions if r not in known]
    if unknown:
        raise InvalidInput(
            f"Unknown region(s): {', '.join(unknown)}.",
            field="regions",
            hint=f"use one of {', '.join(sorted(known)) or '(none registered)'}."
            " Hint: `suanli pool`.",
        )
    for label, value in (
        ("data_region", spec.placement.data_region),
        ("client_region", spec.placement.client_region),
    ):
        if value is not None and value not in known and value not in places():
            raise InvalidInput(
                f"Unknown {label.replace('_', ' ')} {value!r}.",
                field=label,
                hint="use a pool region (`suanli pool`) or a city of the latency table, "
                "e.g. zhengzhou, beijing, guiyang (see docs/latency.md).",
            )


def _check_dependencies(uow: UnitOfWork, tenant_id: TenantId, spec: JobSpec) -> None:
    """Every job or array named must exist and be the tenant's (a dependency on a job
    that is not there could never be met; another tenant's is not revealed)."""
    ids = sorted({i for d in spec.dependencies for i in d.jobs})
    seen = {
        ref
        for ref, jobs in named_jobs(uow, ids).items()
        if any(j.tenant_id == tenant_id for j in jobs)
    }
    missing = [i for i in ids if i not in seen]
    if missing:
        raise InvalidInput(
            f"No job or array {', '.join(missing)} to depend on.",
            field="dependency",
            hint="name jobs or arrays of your own, as `suanli jobs` lists them "
            "(e.g. --dependency afterok:j-abc123).",
        )


def _names_places(spec: JobSpec) -> bool:
    """Whether the spec names regions that must exist (allowed, data or clients')."""
    p = spec.placement
    return bool(p.regions or p.data_region or p.client_region)
