"""The agent protocol, server side. Agents pull: they register their cluster's nodes,
heartbeat, claim assignments, report attempt states and push logs.

Preemption: attempts the scheduler asked to stop (`services/preemption.py`) are listed in
`preempt` next to `cancel` in the claim and heartbeat answers; when such an attempt ends,
however it exited, its job is requeued (`lifecycle.end_preempted`).

Reconciliation rule: at registration the agent lists every attempt its engine still
knows. An attempt this cluster was handed (dispatched) that the agent does not know is
LOST (requeued or failed by `requeue_or_fail`); an attempt the agent knows that the
server no longer considers active is returned in `abandon`, and the agent stops it.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import NamedTuple

from suanli.domain.calibration import NodeCalibration
from suanli.domain.errors import Conflict, Forbidden, InvalidInput, NotFound
from suanli.domain.ids import ClusterId, JobId, NodeId
from suanli.domain.jobs import (
    MAX_LOG_BYTES,
    MAX_LOG_OFFSET,
    Attempt,
    Job,
    JobSpec,
    JobStatus,
    Placement,
)
from suanli.domain.permissions import Permission, require
from suanli.domain.pool import Capability, Cluster, ClusterState, Node
from suanli.domain.resources import Resources
from suanli.domain.tenancy import Principal
from suanli.domain.validation import check_text, shown
from suanli.logic.scheduling.placement import placement_violation
from suanli.ports.clock import Clock
from suanli.ports.signals import Wakeup
from suanli.ports.store import Store, UnitOfWork
from suanli.services.jobs import STREAMS
from suanli.services.lifecycle import (
    end_attempt,
    end_lost_attempt,
    end_preempted,
    lose,
    move,
    withdraw,
)

AttemptKey = tuple[JobId, int]
_MAX_ATTEMPT_NO = 2**31 - 1
"""Attempt numbers are 32-bit in the store; a larger one names no attempt."""
REPORTABLE = (
    JobStatus.RUNNING,
    JobStatus.SUCCEEDED,
    JobStatus.FAILED,
    JobStatus.CANCELLED,
    JobStatus.LOST,
)


@dataclass(frozen=True, slots=True)
class NodeReport:
    hostname: str
    capacity: Resources
    calibration: NodeCalibration | None = None


@dataclass(frozen=True, slots=True)
class Assignment:
    job_id: JobId
    attempt: int
    argv: tuple[str, ...]
    env: dict[str, str]
    working_dir: str | None
    time_limit_s: int | None
    allocation: Resources
    node_id: NodeId
    placements: tuple[Placement, ...] = ()
    """Every (node, allocation) the attempt holds; one for an ordinary job."""
    nodes: tuple[NodeId, ...] = ()
    """One node id per gang member, in placement order (members sharing a node repeat
    it); the engine runs the command once, on the first (like Slurm's batch script)."""
    gang_size: int = 1
    tenant_id: str = ""
    """The job's tenant: engines that isolate tenants (the local engine as root) run the
    job as that tenant's own unprivileged user."""


@dataclass(frozen=True, slots=True)
class Instructions:
    cancel: list[AttemptKey]
    abandon: list[AttemptKey]
    calibrate: bool = False
    """The operator asked for a new measurement of the cluster's nodes."""
    preempt: list[AttemptKey] = field(default_factory=list)
    """Attempts to stop with the preemption grace; their jobs are requeued."""


class Claimed(NamedTuple):
    """The answer to a claim: new assignments, and the attempts to stop."""

    assignments: list[Assignment]
    cancel: list[AttemptKey]
    preempt: list[AttemptKey]


@dataclass(frozen=True, slots=True)
class StateReport:
    job_id: JobId
    attempt: int
    status: JobStatus
    engine_job_id: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    exit_code: int | None = None
    reason: str = ""
    cpu_s: float | None = None
    """CPU seconds the task used, where the engine's accounting measures it (Slurm's
    TotalCPU), reported with its final state."""


def member_nodes(spec: JobSpec, placements: tuple[Placement, ...]) -> tuple[NodeId, ...]:
    """One node id per gang member: each placement names how many members it holds
    (the scheduler merges members that share a node). If those do not add up to the gang
    size (placements written without counts), members are counted by the member
    request's CPUs, and failing that one member per placement is assumed."""
    counts = [p.members for p in placements]
    low, high = spec.gang_range
    # counts are trusted only where each placement holds that many members' resources
    # (the GPU model of a request for model 'any' is bound in the allocation)
    member = spec.resources
    counted = all(
        p.allocation.gpu_count == member.gpu_count * p.members
        and p.allocation.cpu_milli == member.cpu_milli * p.members
        for p in placements
    )
    if spec.elastic and counted and low <= sum(counts) <= high:
        # an elastic job runs with the members it was admitted with
        return tuple(p.node_id for p, n in zip(placements, counts, strict=True) for _ in range(n))
    if sum(counts) != spec.gang_size:
        per_member = max(1, spec.resources.cpu_milli)
        counts = [max(1, p.allocation.cpu_milli // per_member) for p in placements]
    if sum(counts) != spec.gang_size:
        counts = [1] * len(placements)
    return tuple(p.node_id for p, n in zip(placements, counts, strict=True) for _ in range(n))


def node_id_for(hostname: str, index: int) -> NodeId:
    text = re.sub(r"[^a-z0-9_-]+", "-", hostname.lower()).strip("-")[:60]
    return NodeId(text or f"node-{index}")


class AgentService:
    def __init__(
        self,
        store: Store,
        clock: Clock,
        scheduler_wakeup: Wakeup,
        *,
        max_log_bytes: int = MAX_LOG_BYTES,
    ) -> None:
        self._store = store
        self._clock = clock
        self._wakeup = scheduler_wakeup
        self.max_log_bytes = max_log_bytes
        """Cap of the stored log of each attempt's stream (see `LogRepo.append`)."""

    def _cluster_id(self, principal: Principal) -> ClusterId:
        require(principal, Permission.AGENT)
        if principal.cluster_id is None:
            raise Forbidden("This agent token is not bound to a cluster.")
        return principal.cluster_id

    def register(
        self,
        principal: Principal,
        nodes: Sequence[NodeReport],
        *,
        agent_version: str,
        known: Sequence[AttemptKey],
        capabilities: frozenset[Capability] | None = None,
    ) -> Instructions:
        """The agent (re)connects: its nodes replace the cluster's, the cluster is READY,
        attempts it no longer knows are lost. `capabilities`: what its engine can do
        (None from an agent too old to say; the last report is kept)."""
        cluster_id = self._cluster_id(principal)
        if not nodes:
            raise InvalidInput("An agent must report at least one node.", field="nodes")
        now = self._clock.now()
        known_set = set(known)
        node_ids = [node_id_for(n.hostname, i) for i, n in enumerate(nodes)]
        if len(set(node_ids)) != len(node_ids):
            raise InvalidInput(
                "Two nodes have the same name once normalised (lower case, [a-z0-9_-]).",
                field="nodes",
                hint="give every node a distinct hostname.",
            )
        with self._store.unit_of_work() as uow:
            before = uow.pool.get_cluster(cluster_id)
            last_seen = before.last_heartbeat_at if before else None
            # a node re-registered without a fresh measurement keeps its last one
            previous = {n.hostname: n.calibration for n in uow.pool.list_nodes(cluster_id)}
            uow.pool.replace_nodes(
                cluster_id,
                [
                    Node(
                        cluster_id,
                        node_id_for(n.hostname, i),
                        n.capacity,
                        n.hostname,
                        n.calibration or previous.get(n.hostname),
                    )
                    for i, n in enumerate(nodes)
                ],
            )
            uow.pool.set_cluster_state(
                cluster_id,
                ClusterState.READY,
                heartbeat_at=now,
                agent_version=agent_version,
                capabilities=capabilities,
            )
            uow.pool.close_outage(cluster_id, now)
            self._lose_unlisted(
                uow,
                cluster_id,
                known_set,
                now=now,
                dispatched_before=None,
                last_seen=last_seen,
                why="its agent restarted and its engine no longer knows it",
            )
            instructions = self._instructions(uow, cluster_id, known)
            uow.commit()
        self._wakeup.notify()
        return instructions

    def heartbeat(self, principal: Principal, known: Sequence[AttemptKey]) -> Instructions:
        cluster_id = self._cluster_id(principal)
        with self._store.unit_of_work() as uow:
            cluster = uow.pool.get_cluster(cluster_id)
            if cluster is None or cluster.state is ClusterState.REGISTERED:
                raise Conflict(
                    "This cluster's agent has not registered yet.",
                    hint="call POST /v1/agent/register first.",
                )
            state = (
                ClusterState.DRAINED
                if cluster.state is ClusterState.DRAINED
                else (ClusterState.READY)
            )
            now = self._clock.now()
            uow.pool.set_cluster_state(cluster_id, state, heartbeat_at=now)
            if cluster.state is ClusterState.UNREACHABLE:
                uow.pool.close_outage(cluster_id, now)
            # Handed out before the previous heartbeat and still not listed: it never
            # reached the engine (a lost claim answer, a failed start). Attempts claimed
            # since then may still be starting.
            if cluster.last_heartbeat_at is not None:
                self._lose_unlisted(
                    uow,
                    cluster_id,
                    set(known),
                    now=now,
                    dispatched_before=cluster.last_heartbeat_at,
                    last_seen=None,
                    why="it never reached the engine (its agent does not list it)",
                )
            instructions = self._instructions(uow, cluster_id, known)
            uow.commit()
        if cluster.state is ClusterState.UNREACHABLE:
            self._wakeup.notify()
        return instructions

    def _instructions(
        self, uow: UnitOfWork, cluster_id: ClusterId, known: Sequence[AttemptKey]
    ) -> Instructions:
        active = {(a.job_id, a.number) for a in uow.jobs.dispatched_active_on(cluster_id)}
        abandon = [k for k in known if k not in active]
        return Instructions(
            uow.jobs.cancel_requested_on(cluster_id),
            abandon,
            uow.pool.calibration_requested(cluster_id),
            uow.jobs.preempt_requested_on(cluster_id),
        )

    def calibrated(self, principal: Principal, measurements: Mapping[str, NodeCalibration]) -> int:
        """Store new measurements (by node hostname) and clear the operator's request.
        Returns how many nodes were updated; an unknown hostname is an error."""
        cluster_id = self._cluster_id(principal)
        with self._store.unit_of_work() as uow:
            nodes = uow.pool.list_nodes(cluster_id)
            known = {n.hostname for n in nodes}
            unknown = sorted(set(measurements) - known)
            if unknown:
                raise InvalidInput(
                    f"Unknown node(s) {', '.join(unknown)} in cluster {cluster_id}.",
                    field="nodes",
                    hint="register the nodes first (POST /v1/agent/register).",
                )
            uow.pool.replace_nodes(
                cluster_id,
                [
                    replace(n, calibration=measurements.get(n.hostname, n.calibration))
                    for n in nodes
                ],
            )
            uow.pool.set_calibration_requested(cluster_id, False)
            uow.commit()
        return len(measurements)

    def _lose_unlisted(
        self,
        uow: UnitOfWork,
        cluster_id: ClusterId,
        known: set[AttemptKey],
        *,
        now: datetime,
        dispatched_before: datetime | None,
        last_seen: datetime | None,
        why: str,
    ) -> None:
        """Attempts this cluster was handed (before `dispatched_before`, when given) that
        its agent does not list are LOST and requeued or failed. They are metered up to
        `last_seen`; None means up to their hand-out (they never ran)."""
        for attempt in uow.jobs.dispatched_active_on(cluster_id):
            if (attempt.job_id, attempt.number) in known or attempt.dispatched_at is None:
                continue
            if dispatched_before is not None and attempt.dispatched_at >= dispatched_before:
                continue
            job = uow.jobs.get_for_update(attempt.job_id)
            if job is not None and job.attempt == attempt.number:
                lose(
                    uow,
                    job,
                    attempt,
                    at=now,
                    last_seen=last_seen or attempt.dispatched_at,
                    why=f"attempt {attempt.number} on {cluster_id} was LOST: {why}",
                )

    def claim(self, principal: Principal, limit: int) -> Claimed:
        """Hand the agent up to `limit` attempts placed on its cluster, and the attempts it
        runs that users asked to cancel or the scheduler asked to preempt (so they reach
        it at poll, not heartbeat, latency).

        An attempt is marked dispatched only if it is handed over, and it is handed over
        only if (1) the job's region, provider and GPU model constraints allow this
        cluster as it is now (`placement_violation`; else the job goes back to the queue
        with the reason, and its argv and env never leave the server), and (2) every
        string of the assignment can be sent (`unsendable`; else that job FAILS with the
        reason). Either way the other attempts of the batch are handed over as usual:
        one bad job can never make another tenant's job lost."""
        cluster_id = self._cluster_id(principal)
        now = self._clock.now()
        out: list[Assignment] = []
        returned = False
        with self._store.unit_of_work() as uow:
            cancel = uow.jobs.cancel_requested_on(cluster_id)
            preempt = uow.jobs.preempt_requested_on(cluster_id)
            cluster = uow.pool.get_cluster(cluster_id)
            if cluster is None or cluster.state is not ClusterState.READY:
                return Claimed([], cancel, preempt)
            for candidate in uow.jobs.undispatched_on(cluster_id, limit):
                current = _still_scheduled(uow, candidate)
                if current is None:
                    continue
                assignment = _hand_over(uow, cluster, *current, now)
                if assignment is None:
                    returned = True
                    continue
                uow.jobs.save_attempt(replace(current[1], dispatched_at=now))
                out.append(assignment)
            uow.commit()
        if returned:
            self._wakeup.notify()
        return Claimed(out, cancel, preempt)

    def report(self, principal: Principal, report: StateReport) -> bool:
        """Apply an attempt's state. Returns True when the agent may forget the attempt
        (its final state is recorded, or the attempt is no longer the job's current
        one). Idempotent: repeating a report changes nothing."""
        cluster_id = self._cluster_id(principal)
        if report.status not in REPORTABLE:
            raise InvalidInput(
                f"An agent cannot report {report.status.value}.",
                field="status",
                hint=f"report one of {', '.join(s.value for s in REPORTABLE)}.",
            )
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            job = uow.jobs.get_for_update(report.job_id)
            attempt = uow.jobs.get_attempt(report.job_id, report.attempt)
            if job is None or attempt is None:
                raise NotFound(f"No attempt {report.attempt} of job {report.job_id!r}.")
            if attempt.cluster_id != cluster_id:
                raise Forbidden("That attempt belongs to another cluster.")
            forget = self._apply(uow, job, attempt, report, now)
            uow.commit()
        if forget:
            self._wakeup.notify()
        return forget

    def _apply(
        self, uow: UnitOfWork, job: Job, attempt: Attempt, report: StateReport, now: datetime
    ) -> bool:
        if attempt.status.is_terminal() or attempt.status in (JobStatus.LOST, JobStatus.PREEMPTED):
            return True  # already final (a repeated report, or the server gave up on it)
        if attempt.dispatched_at is None:
            raise Conflict(
                f"Attempt {attempt.number} of job {job.id} was not handed to this agent.",
                hint="claim assignments first (POST /v1/agent/claim).",
            )
        report = _clamped(report, floor=attempt.dispatched_at, now=now)
        current = job.attempt == attempt.number
        where = f"Running on {attempt.cluster_id}/{attempt.node_id}."
        if report.status is JobStatus.RUNNING:
            if attempt.status is JobStatus.SCHEDULED:
                started = report.started_at or now
                _, attempt = _mark_running(uow, job, attempt, report, now, started, where)
                uow.jobs.save_attempt(attempt)
            return False
        ended_at = report.ended_at or now
        if attempt.status is JobStatus.SCHEDULED and report.status is not JobStatus.LOST:
            # it ended before its start was reported: it ran, from its reported start
            started = report.started_at or ended_at
            job, attempt = _mark_running(uow, job, attempt, report, now, started, where)
        if report.cpu_s is not None:
            attempt = replace(attempt, cpu_s=report.cpu_s)
        if report.status is JobStatus.LOST:
            why = report.reason or "the engine lost it"
            if current:
                lose(uow, job, attempt, at=now, why=why, last_seen=report.ended_at)
            else:  # an older attempt: record its end and usage; the job has moved on
                end_lost_attempt(uow, job, attempt, why=why, at=now, last_seen=report.ended_at)
            return True
        if current and job.preempt_requested and not job.cancel_requested:
            end_preempted(
                uow,
                job,
                attempt,
                at=now,
                started_at=report.started_at,
                ended_at=ended_at,
                exit_code=report.exit_code,
                stopped=_stopped(report),
            )
            return True
        end_attempt(
            uow,
            job,
            attempt,
            report.status,
            reason=report.reason,
            started_at=report.started_at,
            ended_at=ended_at,
            exit_code=report.exit_code,
        )
        if current:
            reason = report.reason or _describe(report.status, report.exit_code)
            move(
                uow,
                job,
                report.status,
                reason=reason,
                at=now,
                ended_at=ended_at,
                exit_code=report.exit_code,
                started_at=job.started_at or attempt.started_at,
                preempt_requested=False,
            )
        return True

    def append_log(
        self,
        principal: Principal,
        job_id: JobId,
        attempt: int,
        stream: str,
        offset: int,
        data: bytes,
    ) -> None:
        """Store log bytes the agent read at `offset` of the attempt's stream. Idempotent
        (a retried chunk is trimmed); a gap is a Conflict naming the offset to resend
        from. Past `max_log_bytes` the output is dropped after a one-line marker, and
        the append still succeeds, so the agent moves on instead of retrying."""
        cluster_id = self._cluster_id(principal)
        if stream not in STREAMS:
            raise InvalidInput(
                f"Unknown stream {shown(stream)}.", field="stream", hint="use stdout or stderr."
            )
        if not 0 <= offset <= MAX_LOG_OFFSET:
            raise InvalidInput(
                f"offset must be between 0 and {MAX_LOG_OFFSET}, got {shown(offset)}.",
                field="offset",
                hint="send the byte offset of the chunk in the stream (the stored size "
                "to continue).",
            )
        if not 0 <= attempt <= _MAX_ATTEMPT_NO:
            raise NotFound(f"No attempt {shown(attempt)} of job {shown(job_id)}.")
        with self._store.unit_of_work() as uow:
            found = uow.jobs.get_attempt(job_id, attempt)
            if found is None:
                raise NotFound(f"No attempt {attempt} of job {shown(job_id)}.")
            if found.cluster_id != cluster_id:
                raise Forbidden("That attempt belongs to another cluster.")
            uow.logs.append(job_id, attempt, stream, offset, data, cap=self.max_log_bytes)
            uow.commit()


def _values(value: object, path: str) -> Iterator[tuple[str, object]]:
    """Every leaf value of an assignment with its path (e.g. "env['HOME']", "argv[2]");
    mapping keys are leaves too."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield f"{path} name {shown(key)}", key
            yield from _values(item, f"{path}[{shown(key)}]")
    elif isinstance(value, tuple | list):
        for i, item in enumerate(value):
            yield from _values(item, f"{path}[{i}]")
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _values(getattr(value, f.name), f"{path}.{f.name}" if path else f.name)
    else:
        yield path, value


def unsendable(assignment: Assignment) -> str | None:
    """Why the assignment cannot be handed to an agent, or None. It goes out as JSON and
    its strings become argv, environment and paths: each must encode to UTF-8 (a lone
    surrogate does not: the response would fail after the claim was committed) and hold
    no NUL, and each number must be finite. Specs are validated at submission; this
    proves it again for whatever is in the store, whoever wrote it."""
    for path, value in _values(assignment, ""):
        if isinstance(value, str):
            try:
                check_text(value, path)
            except InvalidInput as exc:
                return exc.message
        elif isinstance(value, float) and not math.isfinite(value):
            return f"{path} is not a finite number ({value!r})."
    return None


def _refuse(uow: UnitOfWork, job: Job, attempt: Attempt, problem: str, now: datetime) -> None:
    """Fail a job whose assignment cannot be sent (see `unsendable`): no retry could send
    it. Its attempt never reached an agent, so it is not metered; nothing else in the
    claim is affected."""
    why = (
        f"Failed before dispatch: its assignment cannot be sent to an agent: {problem} "
        "Submit it again with valid UTF-8 text."
    )
    end_attempt(
        uow,
        job,
        attempt,
        JobStatus.FAILED,
        reason=why,
        started_at=None,
        ended_at=now,
        exit_code=None,
    )
    move(uow, job, JobStatus.FAILED, reason=why, at=now, ended_at=now)


def _clamped(report: StateReport, *, floor: datetime, now: datetime) -> StateReport:
    """Agent-reported times are metered, so they are held to what the server knows: not
    before the attempt was handed out, not after now, and an end not before the start."""

    def clamp(t: datetime | None, low: datetime) -> datetime | None:
        return None if t is None else min(max(t, low), now)

    started = clamp(report.started_at, floor)
    ended = clamp(report.ended_at, started or floor)
    return replace(report, started_at=started, ended_at=ended)


def _stopped(report: StateReport) -> str:
    """How the engine saw the end of a preempted attempt."""
    text = f"the engine reported {report.status.value}"
    if report.exit_code is not None:
        text += f", exit code {report.exit_code}"
    return text + (f": {report.reason}" if report.reason else "")


def _mark_running(
    uow: UnitOfWork,
    job: Job,
    attempt: Attempt,
    report: StateReport,
    now: datetime,
    started_at: datetime,
    reason: str,
) -> tuple[Job, Attempt]:
    """SCHEDULED -> RUNNING: the attempt (returned, not saved) and, if it is the job's
    current one, the job (moved, keeping a pending preemption's reason)."""
    attempt = replace(
        attempt,
        status=JobStatus.RUNNING,
        started_at=started_at,
        engine_job_id=report.engine_job_id,
    )
    if job.attempt == attempt.number:
        job = move(
            uow,
            job,
            JobStatus.RUNNING,
            at=now,
            reason=job.reason if job.preempt_requested else reason,
            started_at=started_at,
        )
    return job, attempt


def _describe(status: JobStatus, exit_code: int | None) -> str:
    if status is JobStatus.SUCCEEDED:
        return "Completed (exit code 0)."
    if status is JobStatus.CANCELLED:
        return "Cancelled by user."
    return f"Failed with exit code {exit_code}."


def _still_scheduled(uow: UnitOfWork, candidate: Attempt) -> tuple[Job, Attempt] | None:
    """The job (locked) and its attempt if the attempt is still the job's current one,
    SCHEDULED and not handed over. The attempt is read again after the lock: a cancel
    may have committed since the list was read, and handing out a cancelled attempt
    would run it."""
    job = uow.jobs.get_for_update(candidate.job_id)
    attempt = uow.jobs.get_attempt(candidate.job_id, candidate.number)
    if (
        job is None
        or attempt is None
        or job.status is not JobStatus.SCHEDULED
        or job.attempt != attempt.number
        or attempt.status is not JobStatus.SCHEDULED
        or attempt.dispatched_at is not None
    ):
        return None
    return job, attempt


def _hand_over(
    uow: UnitOfWork, cluster: Cluster, job: Job, attempt: Attempt, now: datetime
) -> Assignment | None:
    """The assignment for the agent, or None when the job may not run there as the
    cluster is now (withdrawn to the queue with the reason) or cannot be sent (FAILED)."""
    spec = job.spec
    placements = attempt.placements or (Placement(attempt.node_id, attempt.allocation),)
    violation = placement_violation(
        spec,
        cluster.region_id,
        cluster.provider_id,
        [attempt.allocation, *(p.allocation for p in placements)],
    )
    if violation is not None:
        withdraw(
            uow,
            job,
            attempt,
            why=f"cluster {cluster.id} (provider {cluster.provider_id}, region "
            f"{cluster.region_id}) is {violation} for this job; its agent's claim found it",
            at=now,
        )
        return None
    nodes = member_nodes(spec, placements)
    assignment = Assignment(
        job.id,
        attempt.number,
        spec.command,
        dict(spec.env),
        spec.working_dir,
        spec.time_limit_s,
        attempt.allocation,
        attempt.node_id,
        placements,
        nodes,
        len(nodes) if spec.elastic else spec.gang_size,
        tenant_id=job.tenant_id,
    )
    problem = unsendable(assignment)
    if problem is not None:
        _refuse(uow, job, attempt, problem, now)
        return None
    return assignment
