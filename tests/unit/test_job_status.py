from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.domain.errors import IllegalTransition, InvalidInput
from suanli.domain.ids import JobId, TenantId, UserId
from suanli.domain.jobs import Job, JobSpec, JobStatus, check_transition
from suanli.domain.resources import Resources

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_terminal_states_allow_nothing() -> None:
    for final in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED):
        assert final.is_terminal()
        for new in JobStatus:
            with pytest.raises(IllegalTransition):
                check_transition(final, new)


def test_lost_and_preempted_are_not_final_and_requeue() -> None:
    for state in (JobStatus.LOST, JobStatus.PREEMPTED):
        assert not state.is_terminal()
        check_transition(state, JobStatus.PENDING)


def test_illegal_transition_says_what_is_allowed() -> None:
    with pytest.raises(IllegalTransition) as exc:
        check_transition(JobStatus.PENDING, JobStatus.SUCCEEDED)
    assert "PENDING" in str(exc.value) and "SCHEDULED" in str(exc.value)


@given(st.lists(st.sampled_from(list(JobStatus)), max_size=20))
def test_any_walk_keeps_the_machine_consistent(steps: list[JobStatus]) -> None:
    """Applying arbitrary changes either follows the machine or raises, never corrupts."""
    spec = JobSpec.create(command=["true"], resources=Resources.request())
    job = Job(JobId("j-1"), TenantId("t"), UserId("u"), spec, JobStatus.PENDING, NOW)
    for new in steps:
        before = job.status
        try:
            job = job.transition(new, reason="x", at=NOW)
        except IllegalTransition:
            assert job.status is before
        else:
            assert not before.is_terminal()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"command": []}, "command"),
        ({"command": [""]}, "command"),
        ({"command": ["a\x00b"]}, "command"),
        ({"time_limit_s": 0}, "time_limit"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"env": {"A=B": "x"}}, "env"),
    ],
)
def test_spec_validation_names_the_field(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"command": ["true"], "resources": Resources.request()}
    args.update(kwargs)
    with pytest.raises(InvalidInput) as exc:
        JobSpec.create(**args)  # type: ignore[arg-type]
    assert exc.value.field == field
