"""Arrays and dependencies in Slurm's syntax (domain/job_links.py) and the gate that
holds waiting jobs back (logic/job_links.py)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from suanli.domain.errors import InvalidInput
from suanli.domain.ids import JobId
from suanli.domain.job_links import (
    MAX_ARRAY_TASKS,
    ArraySpec,
    ArrayTask,
    DependencyKind,
    format_array,
    format_dependencies,
    parse_array,
    parse_dependencies,
)
from suanli.domain.jobs import Job, JobStatus
from suanli.logic.job_links import dependency_ids, gate
from tests.unit.test_scheduler_policies import job as make_job


@pytest.mark.parametrize(
    ("text", "indices", "limit"),
    [
        ("0-3", (0, 1, 2, 3), None),
        ("1,3,5-7", (1, 3, 5, 6, 7), None),
        ("0-15:4", (0, 4, 8, 12), None),
        ("0-99%10", tuple(range(100)), 10),
        ("7", (7,), None),
        ("1-3,2-4", (1, 2, 3, 4), None),
    ],
)
def test_array_syntax(text: str, indices: tuple[int, ...], limit: int | None) -> None:
    assert parse_array(text) == ArraySpec(indices, limit)


@pytest.mark.parametrize("text", ["", "a-b", "5-1", "0-9:0", "0-9%0", "0-9%x", "0-2000000"])
def test_bad_array_syntax_names_the_field(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_array(text)
    assert caught.value.field == "array"


def test_an_array_too_large_is_refused() -> None:
    with pytest.raises(InvalidInput, match="at most"):
        parse_array(f"0-{MAX_ARRAY_TASKS}")


def test_array_format_round_trips_on_random_index_sets() -> None:
    rng = random.Random(16)
    for _ in range(200):
        indices = tuple(sorted(rng.sample(range(60), rng.randint(1, 30))))
        limit = rng.choice([None, 1, 5])
        spec_ = ArraySpec(indices, limit)
        assert parse_array(format_array(spec_)) == spec_


def test_dependency_syntax_and_its_refusals() -> None:
    deps = parse_dependencies("afterok:j-a:j-b,afterany:a-x,afternotok:j-c")
    assert [d.kind for d in deps] == [
        DependencyKind.AFTEROK,
        DependencyKind.AFTERANY,
        DependencyKind.AFTERNOTOK,
    ]
    assert format_dependencies(deps) == "afterok:j-a:j-b,afterany:a-x,afternotok:j-c"
    for bad, words in [
        ("afterok:j-a?afterok:j-b", "'?'"),
        ("singleton", "singleton"),
        ("after:j-a", "'after'"),
        ("aftercorr:a-x", "aftercorr"),
        ("afterok", "needs job or array ids"),
        ("whenever:j-a", "Unknown dependency type"),
        ("afterok:j a", "needs job or array ids"),
    ]:
        with pytest.raises(InvalidInput, match=words):
            parse_dependencies(bad)


def waiting_on(jid: str, text: str) -> Job:
    """A pending job that depends on what `text` says."""
    base = make_job(jid)
    return replace(base, spec=replace(base.spec, dependencies=parse_dependencies(text)))


def test_the_gate_holds_waits_and_dooms() -> None:
    base = make_job("w0")
    on_ok = waiting_on("w1", "afterok:j-1")
    on_bad = waiting_on("w2", "afterok:j-2")
    on_not = waiting_on("w3", "afternotok:a-1")
    on_gone = waiting_on("w4", "afterany:j-9")
    pending = [base, on_ok, on_bad, on_not, on_gone]
    assert dependency_ids(pending) == {"j-1", "j-2", "a-1", "j-9"}
    found = {
        "j-1": [JobStatus.RUNNING],
        "j-2": [JobStatus.FAILED],
        "a-1": [JobStatus.FAILED, JobStatus.CANCELLED],
    }
    result = gate(pending, [], found)
    assert [j.id for j in result.ready] == ["w0", "w3"]  # afternotok: none succeeded
    assert "afterok:j-1" in result.held[JobId("w1")]
    assert set(result.doomed) == {"w2", "w4"}
    doomed = {str(k): v for k, v in result.doomed.items()}
    assert "did not succeed" in doomed["w2"] and "no such job" in doomed["w4"]


def test_the_gate_lets_through_at_most_the_throttle() -> None:
    base = make_job("t0")
    tasks = [
        replace(base, id=JobId(f"t{i}"), spec=replace(base.spec, array=ArrayTask("a-1", i, 3)))
        for i in range(6)
    ]
    running = [replace(tasks[0], id=JobId("r0"), status=JobStatus.RUNNING)]
    result = gate(tasks, running, {})
    assert len(result.ready) == 2  # 3 at once, 1 already running
    assert len(result.held) == 4 and "%3" in next(iter(result.held.values()))
