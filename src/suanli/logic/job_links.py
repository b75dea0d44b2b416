"""Which waiting jobs their dependencies and array throttles let the scheduler see.

Pure: the caller reads the statuses of the jobs named (`found`) and the jobs holding
resources; `gate` says, for each pending job, whether it may be scheduled now, must wait
(and why, in words a user reads in `suanli job`), or can never run (its dependency
cannot be met: the caller cancels it with the reason)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from suanli.domain.ids import JobId
from suanli.domain.job_links import Dependency, DependencyKind
from suanli.domain.jobs import Job, JobStatus


@dataclass(frozen=True, slots=True)
class Gate:
    ready: tuple[Job, ...]
    """Pending jobs the scheduler may consider, in the order given."""
    held: Mapping[JobId, str] = field(default_factory=dict)
    """Pending jobs that wait on a dependency or their array's throttle, and why."""
    doomed: Mapping[JobId, str] = field(default_factory=dict)
    """Pending jobs whose dependency can never be met, and why (to be cancelled)."""


def dependency_ids(pending: Iterable[Job]) -> set[str]:
    """The job and array ids the pending jobs depend on."""
    return {i for job in pending for d in job.spec.dependencies for i in d.jobs}


def gate(
    pending: Sequence[Job],
    holding: Iterable[Job],
    found: Mapping[str, Sequence[JobStatus]],
) -> Gate:
    """`found`: for each id of `dependency_ids(pending)`, the statuses of the job it
    names, or of every task of the array it names (absent or empty: no such job)."""
    running: dict[str, int] = {}
    for job in holding:
        if job.spec.array is not None:
            key = job.spec.array.array_id
            running[key] = running.get(key, 0) + 1
    ready: list[Job] = []
    held: dict[JobId, str] = {}
    doomed: dict[JobId, str] = {}
    for job in pending:
        verdict = _dependencies(job.spec.dependencies, found)
        if verdict is not None:
            never, why = verdict
            (doomed if never else held)[job.id] = why
            continue
        task = job.spec.array
        if task is not None and task.limit is not None:
            now = running.get(task.array_id, 0)
            if now >= task.limit:
                held[job.id] = (
                    f"Held by its array's throttle: at most {task.limit} tasks of "
                    f"{task.array_id} run at once (%{task.limit}), {now} are placed or running."
                )
                continue
            # counted as if admitted: a cycle may start every job it is shown
            running[task.array_id] = now + 1
        ready.append(job)
    return Gate(tuple(ready), held, doomed)


def _dependencies(
    deps: Sequence[Dependency], found: Mapping[str, Sequence[JobStatus]]
) -> tuple[bool, str] | None:
    """None when every dependency is met; else (can never be met, why)."""
    waiting: list[str] = []
    for dep in deps:
        for ref in dep.jobs:
            statuses = found.get(ref) or ()
            if not statuses:
                return True, (
                    f"Cancelled: it depends on {ref} ({dep.kind.value}), and there is no "
                    "such job or array (or it is not yours)."
                )
            left = sum(1 for s in statuses if not s.is_terminal())
            ok = sum(1 for s in statuses if s is JobStatus.SUCCEEDED)
            bad = len(statuses) - left - ok
            what = ref if len(statuses) == 1 else f"array {ref} ({len(statuses)} tasks)"
            one = len(statuses) == 1
            if dep.kind is DependencyKind.AFTEROK and bad:
                fact = "did not succeed" if one else f"has {bad} that did not succeed"
                return (
                    True,
                    f"Cancelled: its dependency afterok:{ref} can never be met: {what} {fact}.",
                )
            if dep.kind is DependencyKind.AFTERNOTOK and ok:
                fact = "succeeded" if one else f"has {ok} that succeeded"
                return True, (
                    f"Cancelled: its dependency afternotok:{ref} can never be met: {what} {fact}."
                )
            if left:
                tasks = "" if len(statuses) == 1 else f", {left} of {len(statuses)} tasks to end"
                waiting.append(f"{dep.kind.value}:{ref}{tasks}")
    if not waiting:
        return None
    return False, "Waiting for its dependencies: " + "; ".join(waiting) + "."
