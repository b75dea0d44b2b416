"""How jobs relate to each other: job arrays and dependencies, as Slurm writes them.

An **array** is many jobs of one spec that differ only by their index (`--array
0-99%10`: indices 0..99, at most 10 running at once). Each task is an ordinary job that
also carries its `ArrayTask`; the array has an id of its own (`a-...`) that
dependencies and `suanli jobs` use.

A **dependency** holds a job until other jobs (or every task of an array) have ended:
`afterok` (all succeeded), `afterany` (all ended, however), `afternotok` (all ended and
none succeeded). A dependency that can no longer be met (an `afterok` job failed) gets
the waiting job cancelled, with the reason, as Slurm does with `kill_invalid_depend`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from suanli.domain.errors import InvalidInput

MAX_ARRAY_TASKS = 10_000
"""Tasks in one array (Slurm's MaxArraySize is 1,001 by default)."""
MAX_ARRAY_INDEX = 1_000_000
MAX_DEPENDENCIES = 1_000
ARRAY_PREFIX = "a-"

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_RANGE = re.compile(r"(\d+)(?:-(\d+)(?::(\d+))?)?")


@dataclass(frozen=True, slots=True)
class ArrayTask:
    """One task of a job array: which array, its index, and the array's throttle."""

    array_id: str
    index: int
    limit: int | None = None
    """Most tasks of the array running at once (`%N`); None: no limit."""


@dataclass(frozen=True, slots=True)
class ArraySpec:
    """What `--array` asked for: the indices, in order, and the throttle."""

    indices: tuple[int, ...]
    limit: int | None = None


def parse_array(text: str, *, field: str = "array") -> ArraySpec:
    """Slurm's `--array` syntax: `0-99`, `1,3,5-9`, `0-15:4` (step), any of them with
    `%N` (at most N at once). Raises InvalidInput naming what is wrong."""
    hint = "e.g. 0-99, 1,3,5-9, 0-15:4 or 0-99%10."
    body, sep, limit_text = text.strip().partition("%")
    limit: int | None = None
    if sep:
        if not limit_text.isdigit() or int(limit_text) < 1:
            raise InvalidInput(
                f"The array throttle {limit_text!r} after '%' is not a positive number.",
                field=field,
                hint=hint,
            )
        limit = int(limit_text)
    indices: list[int] = []
    for part in body.split(","):
        m = _RANGE.fullmatch(part.strip())
        if m is None:
            raise InvalidInput(f"{part.strip()!r} is not an array range.", field=field, hint=hint)
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        step = int(m.group(3)) if m.group(3) is not None else 1
        if hi < lo or step < 1:
            raise InvalidInput(
                f"The array range {part.strip()!r} is empty (its end is before its start, "
                "or its step is 0).",
                field=field,
                hint=hint,
            )
        if hi > MAX_ARRAY_INDEX:
            raise InvalidInput(
                f"Array indices go up to {MAX_ARRAY_INDEX:,}, got {hi}.", field=field, hint=hint
            )
        if len(indices) + (hi - lo) // step + 1 > MAX_ARRAY_TASKS:
            raise InvalidInput(
                f"An array has at most {MAX_ARRAY_TASKS:,} tasks.",
                field=field,
                hint="split it into several arrays.",
            )
        indices.extend(range(lo, hi + 1, step))
    unique = tuple(dict.fromkeys(indices))
    return ArraySpec(unique, limit)


def format_array(spec: ArraySpec) -> str:
    """The indices as Slurm prints them (`0-99%10`, `1,3,5-9`)."""
    parts: list[str] = []
    run: list[int] = []
    for i in sorted(spec.indices):
        if run and i != run[-1] + 1:
            parts.append(_run(run))
            run = []
        run.append(i)
    if run:
        parts.append(_run(run))
    return ",".join(parts) + (f"%{spec.limit}" if spec.limit else "")


def _run(run: list[int]) -> str:
    return str(run[0]) if len(run) == 1 else f"{run[0]}-{run[-1]}"


class DependencyKind(StrEnum):
    AFTEROK = "afterok"
    """Every job named succeeded."""
    AFTERANY = "afterany"
    """Every job named ended (succeeded, failed or cancelled)."""
    AFTERNOTOK = "afternotok"
    """Every job named ended, and none succeeded."""


@dataclass(frozen=True, slots=True)
class Dependency:
    """Wait for `jobs` (job ids, or array ids: every task of the array)."""

    kind: DependencyKind
    jobs: tuple[str, ...]


_UNSUPPORTED_KINDS = {
    "after": "it starts when the others start; suanli holds only until jobs end",
    "aftercorr": "task-by-task array dependencies are not supported",
    "afterburstbuffer": "there are no burst buffers",
    "singleton": "use a dependency on the job ids instead",
}


def parse_dependencies(text: str, *, field: str = "dependency") -> tuple[Dependency, ...]:
    """Slurm's `--dependency` syntax, all of them required (`,`): `afterok:ID[:ID...]`,
    `afterany:...`, `afternotok:...`. `?` (any of them) and the kinds suanli does not
    hold on are refused with a message naming them."""
    hint = "e.g. afterok:j-abc123 or afterok:a-xyz789,afterany:j-def456."
    text = text.strip()
    if not text:
        return ()
    if "?" in text:
        raise InvalidInput(
            "Dependencies joined by '?' (any one of them) are not supported.",
            field=field,
            hint="join them with ',' (all of them), " + hint,
        )
    out: list[Dependency] = []
    total = 0
    for part in text.split(","):
        kind_text, sep, rest = part.strip().partition(":")
        kind_text = kind_text.lower()
        if kind_text in _UNSUPPORTED_KINDS:
            raise InvalidInput(
                f"The dependency type {kind_text!r} is not supported: "
                f"{_UNSUPPORTED_KINDS[kind_text]}.",
                field=field,
                hint=hint,
            )
        try:
            kind = DependencyKind(kind_text)
        except ValueError:
            raise InvalidInput(
                f"Unknown dependency type {kind_text!r}.", field=field, hint=hint
            ) from None
        ids = tuple(i.strip() for i in rest.split(":")) if sep else ()
        if not ids or any(not _ID.fullmatch(i) for i in ids):
            raise InvalidInput(
                f"{part.strip()!r} needs job or array ids after '{kind_text}:'.",
                field=field,
                hint=hint,
            )
        total += len(ids)
        out.append(Dependency(kind, ids))
    if total > MAX_DEPENDENCIES:
        raise InvalidInput(
            f"A job may depend on at most {MAX_DEPENDENCIES} jobs.",
            field=field,
            hint="depend on an array id instead of each of its tasks.",
        )
    return tuple(out)


def format_dependencies(deps: tuple[Dependency, ...]) -> str:
    """The dependencies in Slurm's syntax (the inverse of `parse_dependencies`)."""
    return ",".join(f"{d.kind.value}:{':'.join(d.jobs)}" for d in deps)
