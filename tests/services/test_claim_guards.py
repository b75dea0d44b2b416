"""The agent's claim hands over only what it may and can send, and logs stay bounded.
On SQLite and PostgreSQL, with the real store, a manual clock and the loops stepped.

Bad specs are written straight into the store (the API refuses them) to prove the
second line of defence: whatever is stored, one job can never make another tenant's job
lost, and a job's constraints hold even against a placement the scheduler did not make.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from suanli.adapters.clock import ManualClock
from suanli.domain.ids import ClusterId, JobId, NodeId, RegionId
from suanli.domain.jobs import (
    Attempt,
    Job,
    JobEvent,
    JobSpec,
    JobStatus,
    log_truncation_marker,
)
from suanli.domain.resources import Resources
from suanli.domain.tenancy import Principal
from suanli.platform import Platform
from suanli.services.agents import unsendable
from suanli.services.lifecycle import move
from suanli.services.retention import LogRetention
from tests.builders import World, spec, world


@pytest.fixture
def w(platform: Platform, clock: ManualClock) -> World:
    return world(platform, clock)


def _other_tenant(w: World) -> Principal:
    return w.plat.auth.authenticate(w.new_consumer("acme"))


def _store_job(w: World, job_id: str, job_spec: JobSpec) -> Job:
    """A PENDING job of the default tenant written straight into the store."""
    now = w.clock.now()
    job = Job(
        JobId(job_id),
        w.user.own_tenant(),
        w.user.user_id,
        job_spec,
        JobStatus.PENDING,
        now,
        reason="Submitted",
        updated_at=now,
    )
    with w.plat.store.unit_of_work() as uow:
        (saved,) = uow.jobs.add_many([job])
        uow.jobs.add_events([JobEvent(saved.id, now, None, JobStatus.PENDING, "Submitted", 0)])
        uow.commit()
    return saved


def _place_by_hand(w: World, job_id: JobId, allocation: Resources) -> None:
    """What a faulty scheduler could do: place the job on the local cluster regardless."""
    now = w.clock.now()
    with w.plat.store.unit_of_work() as uow:
        job = uow.jobs.get_for_update(job_id)
        assert job is not None
        node = NodeId("node-a")
        uow.jobs.add_attempt(
            Attempt(
                job.id,
                1,
                ClusterId("local"),
                node,
                allocation,
                RegionId("local"),
                JobStatus.SCHEDULED,
                now,
            )
        )
        move(
            uow,
            job,
            JobStatus.SCHEDULED,
            at=now,
            reason="Placed by hand.",
            attempt=1,
            cluster_id=ClusterId("local"),
            node_id=node,
            allocation=allocation,
        )
        uow.commit()


@pytest.mark.parametrize(
    ("field", "words"),
    [
        ("env", ["env", "lone surrogate"]),
        ("argv", ["argv[1]", "lone surrogate"]),
        ("working_dir", ["working_dir", "lone surrogate"]),
        ("nul", ["argv[1]", "NUL"]),
    ],
)
def test_a_job_that_cannot_be_sent_fails_alone_and_the_others_are_handed_over(
    w: World, field: str, words: list[str]
) -> None:
    w.register(cpus=4)
    acme = _other_tenant(w)
    # bypasses JobSpec.create, as a bad row in the store would
    bad_spec = JobSpec(command=("python3", "-c"), resources=Resources.request())
    bad_spec = {
        "env": replace(bad_spec, env={"X": "\ud800"}),
        "argv": replace(bad_spec, command=("python3", "\udfff")),
        "working_dir": replace(bad_spec, working_dir="/tmp/\ud800"),
        "nul": replace(bad_spec, command=("python3", "a\x00b")),
    }[field]
    bad = _store_job(w, "job-bad", bad_spec)
    good = w.plat.jobs.submit(acme, spec("python3", "-c", "print(1)"))
    assert bad.seq < good.seq  # the bad one comes first in the batch
    assert w.plat.scheduler.run_once().admitted == 2

    assignments, _, _ = w.plat.agents.claim(w.agent, 10)

    assert [a.job_id for a in assignments] == [good.id]
    assert all(unsendable(a) is None for a in assignments)
    failed = w.plat.jobs.get(w.operator, bad.id)
    assert failed.job.status is JobStatus.FAILED
    for word in words:
        assert word in failed.job.reason, failed.job.reason
    (attempt,) = failed.attempts
    assert attempt.status is JobStatus.FAILED and attempt.dispatched_at is None
    assert failed.usage == []  # it never ran: nothing is metered
    handed = w.plat.jobs.get(acme, good.id)
    assert handed.attempts[0].dispatched_at == w.clock.now()
    # nothing is handed out twice, and the bad job is not retried
    assert w.plat.agents.claim(w.agent, 10)[0] == []


def test_unsendable_names_the_value_at_fault() -> None:
    from suanli.services.agents import Assignment

    ok = Assignment(
        JobId("j"), 1, ("true",), {"A": "é"}, None, None, Resources(), NodeId("n"), tenant_id="t"
    )
    assert unsendable(ok) is None
    bad = replace(ok, env={"\ud800": "v"})
    problem = unsendable(bad)
    assert problem is not None and "env name" in problem and "surrogate" in problem
    assert unsendable(replace(ok, tenant_id="t\udc80")) is not None


@pytest.mark.parametrize(
    ("constraints", "allocation", "words"),
    [
        ({"providers": ["elsewhere"]}, Resources(1000, 1024), ["provider not allowed"]),
        ({"deny_providers": ["local"]}, Resources(1000, 1024), ["provider not allowed"]),
        ({"regions": ["beijing"]}, Resources(1000, 1024), ["not in the allowed regions"]),
        ({"deny_regions": ["local"]}, Resources(1000, 1024), ["denied region"]),
        (
            {"gpus": {"H100": 1}},
            Resources(1000, 1024, {"A100-80GB": 1}),
            ["GPU model", "A100-80GB"],
        ),
        (
            {"gpus": {"any": 1}, "gpu_models": ["H100"]},
            Resources(1000, 1024, {"A100-80GB": 1}),
            ["GPU model", "A100-80GB"],
        ),
        ({"gpus": {"H100": 1}}, Resources(1000, 1024), ["GPU model", "no GPU"]),
    ],
    ids=["providers", "deny_providers", "regions", "deny_regions", "model", "gpu_models", "none"],
)
def test_a_placement_the_constraints_forbid_is_never_handed_over(
    w: World, constraints: dict[str, object], allocation: Resources, words: list[str]
) -> None:
    w.register(cpus=8, memory_mb=16384, gpus={"A100-80GB": 2})
    acme = _other_tenant(w)
    good = w.plat.jobs.submit(acme, spec("python3", "-c", "print(1)"))
    constraints = dict(constraints)  # the parameters are shared between both databases
    gpus = constraints.pop("gpus", None)
    forbidden = JobSpec.create(
        command=["python3", "secret.py"],
        env={"TOKEN": "s3cret"},
        resources=Resources.request(cpus=1, gpus=gpus),  # type: ignore[arg-type]
        **constraints,  # type: ignore[arg-type]
    )
    bad = _store_job(w, "job-rogue", forbidden)
    assert w.plat.scheduler.run_once().admitted == 1  # the scheduler itself refuses it
    _place_by_hand(w, bad.id, allocation)

    assignments, _, _ = w.plat.agents.claim(w.agent, 10)

    assert [a.job_id for a in assignments] == [good.id]  # its argv and env never leave
    back = w.plat.jobs.get(w.operator, bad.id)
    assert back.job.status is JobStatus.PENDING and back.job.seq == bad.seq
    assert back.job.cluster_id is None and back.job.allocation is None
    for word in words:
        assert word in back.job.reason, back.job.reason
    assert "local" in back.job.reason
    (attempt,) = back.attempts
    assert attempt.dispatched_at is None and attempt.status is JobStatus.LOST
    # a withdrawn attempt never ran: it does not use up one of the job's attempts
    w.plat.scheduler.run_once()
    again = w.plat.jobs.get(w.operator, bad.id).job
    assert again.status is JobStatus.PENDING and "can ever fit" in again.reason


def test_a_placement_the_constraints_allow_is_handed_over(w: World) -> None:
    w.register(cpus=4, gpus={"A100-80GB": 2})
    job = w.plat.jobs.submit(
        w.user,
        JobSpec.create(
            command=["x"],
            resources=Resources.request(gpus={"any": 1}),
            providers=["local"],
            regions=["local"],
            deny_regions=["beijing"],
            gpu_models=["A100"],
        ),
    )
    w.plat.scheduler.run_once()
    assert [a.job_id for a in w.plat.agents.claim(w.agent, 10)[0]] == [job.id]


# --- logs: a cap per attempt stream, and retention --------------------------------------


def _running_job(w: World) -> JobId:
    w.register(cpus=2)
    job = w.plat.jobs.submit(w.user, spec("yes"))
    w.plat.scheduler.run_once()
    w.plat.agents.claim(w.agent, 10)
    return job.id


def test_log_is_capped_with_a_marker_and_the_rest_accepted_and_dropped(
    platform: Platform, clock: ManualClock
) -> None:
    platform.agents.max_log_bytes = 100
    w = world(platform, clock)
    job_id = _running_job(w)
    append = w.plat.agents.append_log
    append(w.agent, job_id, 1, "stdout", 0, b"a" * 60)
    append(w.agent, job_id, 1, "stdout", 0, b"a" * 60)  # a retry: trimmed, not doubled
    append(w.agent, job_id, 1, "stdout", 60, b"b" * 60)  # crosses the cap
    marker = log_truncation_marker(100)
    stored = b"a" * 60 + b"b" * 40 + marker
    # later output, retries and even gaps are accepted and dropped: the agent moves on
    append(w.agent, job_id, 1, "stdout", 120, b"c" * 50)
    append(w.agent, job_id, 1, "stdout", 60, b"b" * 60)
    append(w.agent, job_id, 1, "stdout", 10_000, b"d")
    data, number, _ = w.plat.jobs.logs(
        w.user, job_id, stream="stdout", offset=0, limit=4096, attempt=None
    )
    assert number == 1 and data == stored and data.count(b"truncated") == 1
    assert marker == b"\n[suanli: log truncated at 100 bytes; later output dropped]\n"
    # each stream has its own cap; stderr is untouched
    append(w.agent, job_id, 1, "stderr", 0, b"e" * 100)
    err, _, _ = w.plat.jobs.logs(w.user, job_id, stream="stderr", offset=0, limit=4096, attempt=1)
    assert err == b"e" * 100
    # reading from an offset past the marker gives nothing, not an error
    tail, _, _ = w.plat.jobs.logs(
        w.user, job_id, stream="stdout", offset=len(stored), limit=10, attempt=1
    )
    assert tail == b""


def test_log_offsets_past_the_limit_are_invalid_input(w: World) -> None:
    from suanli.domain.errors import InvalidInput, NotFound

    job_id = _running_job(w)
    for offset in (2**62 + 1, 2**63, 2**64, -1):
        with pytest.raises(InvalidInput) as caught:
            w.plat.jobs.logs(w.user, job_id, stream="stdout", offset=offset, limit=10, attempt=1)
        assert caught.value.field == "offset"
        with pytest.raises(InvalidInput):
            w.plat.agents.append_log(w.agent, job_id, 1, "stdout", offset, b"x")
    with pytest.raises(InvalidInput) as caught:
        w.plat.jobs.logs(w.user, job_id, stream="stdout", offset=0, limit=2**63, attempt=1)
    assert caught.value.field == "limit"
    with pytest.raises(NotFound):
        w.plat.agents.append_log(w.agent, job_id, 2**63, "stdout", 0, b"x")
    # the largest offset allowed is read (and holds nothing) without overflowing
    data, _, _ = w.plat.jobs.logs(
        w.user, job_id, stream="stdout", offset=2**62, limit=10, attempt=1
    )
    assert data == b""


def test_retention_deletes_logs_of_jobs_that_ended_long_ago(w: World) -> None:
    w.register(cpus=4)
    old = w.plat.jobs.submit(w.user, spec("echo", "old"))
    running = w.plat.jobs.submit(w.user, spec("sleep", "1000"))
    w.plat.scheduler.run_once()
    w.plat.agents.claim(w.agent, 10)
    for job_id in (old.id, running.id):
        w.plat.agents.append_log(w.agent, job_id, 1, "stdout", 0, b"output\n")
    w.run(old.id, seconds=5)
    w.clock.advance(29 * 86_400)
    recent = w.plat.jobs.submit(w.user, spec("echo", "recent"))
    w.plat.scheduler.run_once()
    w.plat.agents.claim(w.agent, 10)
    w.plat.agents.append_log(w.agent, recent.id, 1, "stdout", 0, b"recent\n")
    w.run(recent.id, seconds=5)

    def log_of(job_id: JobId) -> bytes:
        return w.plat.jobs.logs(w.user, job_id, stream="stdout", offset=0, limit=100, attempt=1)[0]

    retention = LogRetention(w.plat.store, w.clock, days=30)
    assert retention.purge() == 0  # 29 days: kept
    w.clock.advance(2 * 86_400)
    assert retention.purge() == 1  # the old job's one chunk
    assert log_of(old.id) == b""
    assert log_of(running.id) == b"output\n"  # still running: kept however old
    assert log_of(recent.id) == b"recent\n"
    detail = w.plat.jobs.get(w.user, old.id)  # history and usage stay
    assert detail.job.status is JobStatus.SUCCEEDED and detail.usage


def test_the_dispatcher_applies_retention_at_most_once_an_hour(w: World) -> None:
    w.register(cpus=4)
    job = w.plat.jobs.submit(w.user, spec("echo"))
    w.plat.scheduler.run_once()
    w.plat.agents.claim(w.agent, 10)
    w.plat.agents.append_log(w.agent, job.id, 1, "stdout", 0, b"x")
    w.run(job.id, seconds=1)
    dispatcher = w.plat.dispatcher
    assert dispatcher.retention.days == 30
    w.plat.agents.heartbeat(w.agent, [])
    assert dispatcher.run_once().logs_purged == 0  # the job ended just now
    w.clock.advance(31 * 86_400)
    w.plat.agents.heartbeat(w.agent, [])
    # the last purge ran when the first period did, over a month ago: it runs now
    assert dispatcher.run_once().logs_purged == 1
    w.plat.agents.append_log(w.agent, job.id, 1, "stdout", 0, b"y")  # written again
    w.clock.advance(60)
    w.plat.agents.heartbeat(w.agent, [])
    assert dispatcher.run_once().logs_purged == 0  # within the hour: not again
    w.clock.advance(3600)
    w.plat.agents.heartbeat(w.agent, [])
    assert dispatcher.run_once().logs_purged == 1


def test_a_platform_setting_changes_the_cap_and_the_retention(
    database_url: str, clock: ManualClock
) -> None:
    from suanli.platform import PlatformConfig

    plat = Platform(
        PlatformConfig(database_url=database_url, max_log_bytes=1000, log_retention_days=7),
        clock=clock,
    )
    try:
        assert plat.agents.max_log_bytes == 1000
        assert plat.dispatcher.retention.days == 7
    finally:
        plat.close()


def test_retention_keeps_the_logs_of_jobs_not_in_a_final_status(w: World) -> None:
    """Only jobs in a final status lose their logs: an old `ended_at` on a job that is
    still active (as a requeued job keeps from an earlier end) does not count."""
    job_id = _running_job(w)
    w.plat.agents.append_log(w.agent, job_id, 1, "stdout", 0, b"keep")
    with w.plat.store.unit_of_work() as uow:
        job = uow.jobs.get_for_update(job_id)
        assert job is not None
        uow.jobs.save(replace(job, ended_at=w.clock.now() - timedelta(days=365)))
        uow.commit()
    w.clock.advance(400 * 86_400)
    assert LogRetention(w.plat.store, w.clock).purge() == 0
    assert w.plat.jobs.logs(w.user, job_id, stream="stdout", offset=0, limit=10, attempt=1)[0] == (
        b"keep"
    )
