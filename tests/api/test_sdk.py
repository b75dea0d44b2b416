"""The Python SDK (`suanli.Client`, `suanli.AsyncClient`) against the in-process app, as
docs/sdk.md shows it: submit and wait, timeouts, job arrays with a dependent job, errors,
cancel, usage, following logs, and the same with asyncio. The cluster side is the
platform's own scheduler and agent service (what POST /v1/agent/... calls), driven between
the SDK's polls through the `sleep` (and `clock`) that `wait` and `follow_logs` take."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

import suanli
from suanli.adapters.clock import ManualClock
from suanli.api.app import create_app
from suanli.domain.ids import JobId
from suanli.domain.jobs import JobStatus
from suanli.domain.resources import Resources
from suanli.platform import Platform
from suanli.sdk import ApiError, AsyncClient, Client, WaitTimeout
from suanli.services.agents import NodeReport, StateReport
from suanli.services.bootstrap import LocalTokens
from tests.inprocess import InProcessClient

URL = "http://testserver"


class Cluster:
    """The local cluster: one big node, its agent speaking through the agent service."""

    def __init__(self, platform: Platform, tokens: LocalTokens, clock: ManualClock) -> None:
        self.plat = platform
        self.clock = clock
        self.agent = platform.auth.authenticate(tokens.agent)
        node = NodeReport("n1", Resources.request(cpus=128, memory_mb=256 * 1024))
        platform.agents.register(self.agent, [node], agent_version="t", known=[])
        self._sizes: dict[tuple[str, int, str], int] = {}

    def place(self) -> dict[str, int]:
        """One scheduling cycle, then the agent's claim: {job id: attempt} handed over."""
        self.plat.scheduler.run_once()
        claimed = self.plat.agents.claim(self.agent, 1000)
        return {a.job_id: a.attempt for a in claimed.assignments}

    def report(self, job_id: str, attempt: int, status: JobStatus, **fields: Any) -> None:
        report = StateReport(JobId(job_id), attempt, status, "e", **fields)
        self.plat.agents.report(self.agent, report)

    def push(self, job_id: str, attempt: int, data: bytes, stream: str = "stdout") -> None:
        """Append output as the agent does, at the end of what it sent before."""
        key = (job_id, attempt, stream)
        offset = self._sizes.get(key, 0)
        self.plat.agents.append_log(self.agent, JobId(job_id), attempt, stream, offset, data)
        self._sizes[key] = offset + len(data)


def steps(*actions: Callable[[], None]) -> tuple[Callable[[float], None], list[float]]:
    """A `sleep` for the SDK that runs the next action instead of sleeping, and the list
    of the waits it was asked for."""
    todo = list(actions)
    asked: list[float] = []

    def sleep(seconds: float) -> None:
        asked.append(seconds)
        assert todo, "the SDK polled again after the job had ended"
        todo.pop(0)()

    return sleep, asked


@pytest.fixture
def app(platform: Platform) -> FastAPI:
    return create_app(platform)


@pytest.fixture
def user(app: FastAPI, tokens: LocalTokens) -> Client:
    return InProcessClient(app, tokens.user)


@pytest.fixture
def cluster(platform: Platform, tokens: LocalTokens, clock: ManualClock) -> Cluster:
    return Cluster(platform, tokens, clock)


def test_the_package_exports_the_sdk() -> None:
    assert suanli.Client is Client and suanli.AsyncClient is AsyncClient
    assert suanli.ApiError is ApiError and suanli.WaitTimeout is WaitTimeout
    assert issubclass(WaitTimeout, TimeoutError)


def test_submit_and_wait_returns_the_succeeded_job_and_usage_shows_it(
    user: Client, cluster: Cluster, clock: ManualClock
) -> None:
    job = user.submit({"command": ["python3", "train.py"], "cpus": 2, "memory": "4G"})
    assert job["status"] == "PENDING" and job["resources"]["memory_mb"] == 4096
    placed: dict[str, int] = {}

    def run() -> None:
        placed.update(cluster.place())
        cluster.report(job["id"], placed[job["id"]], JobStatus.RUNNING, started_at=clock.now())

    def finish() -> None:
        clock.advance(60)
        cluster.report(job["id"], placed[job["id"]], JobStatus.SUCCEEDED, exit_code=0)

    sleep, asked = steps(run, finish)
    done = user.wait(job["id"], poll_s=0.25, sleep=sleep)

    assert asked == [0.25, 0.25]  # polled PENDING, then RUNNING, then SUCCEEDED
    assert done["id"] == job["id"]
    assert (done["status"], done["exit_code"], done["attempt"]) == ("SUCCEEDED", 0, 1)
    assert done["usage"]["wall_seconds"] == pytest.approx(60)
    assert done["usage"]["cpu_core_seconds"] == pytest.approx(120)
    # a job that has ended: wait answers at once, without sleeping
    assert user.wait(job["id"], sleep=steps()[0])["status"] == "SUCCEEDED"

    rows = {row["dimension"]: row for row in user.usage(by="job")}
    assert set(rows) == {"cpu", "memory"}
    assert {row["key"] for row in rows.values()} == {job["id"]}
    assert rows["cpu"]["amount"] == pytest.approx(120)  # core-seconds: 2 cores x 60 s
    assert rows["memory"]["amount"] == pytest.approx(4096 * 60)  # MiB-seconds
    assert rows["cpu"]["seconds"] == pytest.approx(60) and rows["cpu"]["jobs"] == 1
    assert rows["cpu"]["workload_class"] == "general"
    (tenant_row,) = [r for r in user.usage() if r["dimension"] == "cpu"]
    assert tenant_row["key"] == done["tenant_id"]
    day = clock.now().date().isoformat()
    by_day = user.usage(by="tenant,day", since=day)
    assert {r["key"] for r in by_day} == {f"{done['tenant_id']}/{day}"}
    assert user.usage(since="2099-01-01") == []
    with pytest.raises(ApiError) as caught:
        user.usage(by="colour")
    assert caught.value.status == 422 and caught.value.problem["field"] == "by"


def test_wait_gives_up_after_its_timeout_with_the_job_as_last_seen(user: Client) -> None:
    job = user.submit({"command": ["sleep", "600"]})
    now = [100.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    with pytest.raises(WaitTimeout) as caught:
        user.wait(job["id"], timeout_s=3, poll_s=1.0, sleep=sleep, clock=lambda: now[0])

    assert waits == [1.0, 1.0, 1.0] and now[0] == 103.0
    assert caught.value.job["id"] == job["id"] and caught.value.job["status"] == "PENDING"
    assert job["id"] in str(caught.value) and "PENDING" in str(caught.value)


def test_an_array_of_100_tasks_and_a_reduce_job_that_waits_for_it(
    user: Client, cluster: Cluster
) -> None:
    created = user.submit_array({"command": ["python3", "map.py"], "cpus": 1}, "0-99%10")
    array_id = created["array_id"]
    tasks = created["jobs"]
    assert array_id.startswith("a-") and len(tasks) == 100
    assert sorted(t["array_index"] for t in tasks) == list(range(100))
    assert {t["array_id"] for t in tasks} == {array_id}
    assert {t["array_limit"] for t in tasks} == {10}

    listed = user.jobs(array=array_id)
    assert sorted(j["id"] for j in listed["items"]) == sorted(t["id"] for t in tasks)
    assert listed["next_cursor"] is not None  # a full page of 100: there may be more
    later = user.jobs(array=array_id, cursor=listed["next_cursor"])
    assert later == {"items": [], "next_cursor": None}

    reduce = user.submit({"command": ["python3", "reduce.py"], "dependency": f"afterok:{array_id}"})
    assert reduce["dependency"] == f"afterok:{array_id}"
    # the throttle: ten tasks at a time, though the node has room for all; reduce waits
    placed = cluster.place()
    assert len(placed) == 10 and set(placed) <= {t["id"] for t in tasks}
    waiting = user.job(reduce["id"])
    assert waiting["status"] == "PENDING" and array_id in waiting["reason"]
    assert len(user.jobs(status=["SCHEDULED"], array=array_id)["items"]) == 10
    held = user.job(next(t["id"] for t in tasks if t["id"] not in placed))
    assert held["status"] == "PENDING" and "throttle" in held["reason"]

    # one task fails: afterok can never be met, so the reduce job is cancelled
    failed, attempt = next(iter(placed.items()))
    cluster.report(failed, attempt, JobStatus.FAILED, exit_code=1)
    cluster.place()
    gone = user.wait(reduce["id"], sleep=steps()[0])
    assert gone["status"] == "CANCELLED" and array_id in gone["reason"]


def test_a_dependency_on_a_missing_job_is_an_api_error_naming_it(user: Client) -> None:
    with pytest.raises(ApiError) as caught:
        user.submit({"command": ["true"], "dependency": "afterok:j-nosuchjob"})
    err = caught.value
    assert err.status == 422
    assert "j-nosuchjob" in err.detail and str(err) == err.detail
    assert err.problem["field"] == "dependency" and err.problem["hint"]
    assert user.jobs()["items"] == []  # nothing was queued


def test_api_errors_carry_the_status_and_the_problem(user: Client, tokens: LocalTokens) -> None:
    with pytest.raises(ApiError) as missing:
        user.job("j-nosuchjob")
    assert missing.value.status == 404 and missing.value.problem["status"] == 404
    with pytest.raises(ApiError) as bad_array:
        user.submit_array({"command": ["true"]}, "9-0")
    assert bad_array.value.status == 422 and bad_array.value.problem["field"] == "array"
    with pytest.raises(ApiError) as bad_memory:
        user.submit({"command": ["true"], "memory": "lots"})
    assert bad_memory.value.status == 422 and bad_memory.value.problem["field"] == "memory"


def test_an_unreachable_api_is_status_0() -> None:
    with Client("http://127.0.0.1:1", "t", timeout=5) as c, pytest.raises(ApiError) as caught:
        c.jobs()
    assert caught.value.status == 0
    assert "Cannot reach" in caught.value.detail and "suanli up" in caught.value.detail
    assert caught.value.problem == {}


def test_cancel_a_queued_and_a_running_job(
    user: Client, cluster: Cluster, clock: ManualClock
) -> None:
    queued = user.submit({"command": ["sleep", "600"], "cpus": 200})  # never fits
    cancelled = user.cancel(queued["id"])
    assert cancelled["status"] == "CANCELLED"
    assert user.wait(queued["id"], sleep=steps()[0])["status"] == "CANCELLED"

    running = user.submit({"command": ["sleep", "600"]})
    attempt = cluster.place()[running["id"]]
    cluster.report(running["id"], attempt, JobStatus.RUNNING, started_at=clock.now())
    asked = user.cancel(running["id"])
    assert asked["cancel_requested"] is True and asked["status"] == "RUNNING"

    def agent_stops_it() -> None:
        assert cluster.plat.agents.claim(cluster.agent, 10).cancel  # the agent is told
        cluster.report(running["id"], attempt, JobStatus.CANCELLED, exit_code=143)

    sleep, _ = steps(agent_stops_it)
    assert user.wait(running["id"], sleep=sleep)["status"] == "CANCELLED"
    assert user.cancel(running["id"])["status"] == "CANCELLED"  # again: nothing changes

    ended = user.submit({"command": ["true"]})
    attempt = cluster.place()[ended["id"]]
    cluster.report(ended["id"], attempt, JobStatus.SUCCEEDED, exit_code=0)
    # ended before its start was reported (shorter than a poll): its history still says where
    done = user.job(ended["id"])
    (ran,) = done["attempts"]
    started = [e["reason"] for e in done["events"] if e["to_status"] == "RUNNING"]
    assert started == [f"Running on {ran['cluster_id']}/{ran['node_id']}."]
    with pytest.raises(ApiError) as caught:
        user.cancel(ended["id"])
    assert caught.value.status == 409 and "SUCCEEDED" in caught.value.detail


def test_follow_logs_yields_the_output_and_stops_when_the_job_ends(
    user: Client, cluster: Cluster, clock: ManualClock
) -> None:
    job = user.submit({"command": ["python3", "train.py"]})
    attempt = cluster.place()[job["id"]]
    cluster.report(job["id"], attempt, JobStatus.RUNNING, started_at=clock.now())
    cluster.push(job["id"], attempt, b"epoch 1\n")
    cluster.push(job["id"], attempt, b"warning\n", stream="stderr")

    def more() -> None:
        cluster.push(job["id"], attempt, b"epoch 2\n")

    def last_words_and_end() -> None:
        cluster.push(job["id"], attempt, b"done\n")
        cluster.report(job["id"], attempt, JobStatus.SUCCEEDED, exit_code=0)

    sleep, asked = steps(more, last_words_and_end)
    chunks = list(user.follow_logs(job["id"], poll_s=0.1, sleep=sleep))

    assert b"".join(chunks) == b"epoch 1\nepoch 2\ndone\n"
    assert chunks[0] == b"epoch 1\n" and asked == [0.1, 0.1]
    assert list(user.follow_logs(job["id"], stream="stderr", sleep=steps()[0])) == [b"warning\n"]
    data, status, number = user.logs(job["id"], offset=8)
    assert (data, status, number) == (b"epoch 2\ndone\n", "SUCCEEDED", attempt)


def test_follow_logs_starts_a_new_attempt_from_its_beginning(
    user: Client, cluster: Cluster, clock: ManualClock
) -> None:
    job = user.submit({"command": ["python3", "train.py"]})
    first = cluster.place()[job["id"]]
    cluster.report(job["id"], first, JobStatus.RUNNING, started_at=clock.now())
    cluster.push(job["id"], first, b"attempt one\n")

    def node_lost_and_retried() -> None:
        cluster.report(job["id"], first, JobStatus.LOST, reason="node died")
        second = cluster.place()[job["id"]]
        assert second == first + 1
        cluster.report(job["id"], second, JobStatus.RUNNING, started_at=clock.now())
        cluster.push(job["id"], second, b"attempt two, from the top\n")
        cluster.report(job["id"], second, JobStatus.SUCCEEDED, exit_code=0)

    sleep, _ = steps(node_lost_and_retried)
    chunks = list(user.follow_logs(job["id"], sleep=sleep))

    assert chunks == [b"attempt one\n", b"attempt two, from the top\n"]


def test_the_async_client_submits_waits_follows_and_raises(
    app: FastAPI, tokens: LocalTokens, cluster: Cluster, clock: ManualClock
) -> None:
    async def main() -> tuple[dict[str, Any], dict[str, Any], list[bytes], list[float]]:
        transport = httpx.ASGITransport(app=app)
        async with AsyncClient(URL, tokens.user, transport=transport) as c:
            job = await c.submit({"command": ["python3", "train.py"], "name": "async"})
            seen = await c.job(job["id"])
            placed: dict[str, int] = {}
            asked: list[float] = []

            async def sleep(seconds: float) -> None:  # one step of the job per poll
                asked.append(seconds)
                if not placed:
                    placed.update(cluster.place())
                    attempt = placed[job["id"]]
                    cluster.report(job["id"], attempt, JobStatus.RUNNING, started_at=clock.now())
                    cluster.push(job["id"], attempt, b"hello from asyncio\n")
                else:
                    cluster.report(job["id"], placed[job["id"]], JobStatus.SUCCEEDED, exit_code=0)

            done = await c.wait(job["id"], poll_s=0.01, sleep=sleep)
            chunks = [chunk async for chunk in c.follow_logs(job["id"])]
            with pytest.raises(ApiError) as caught:
                await c.job("j-nosuchjob")
            assert caught.value.status == 404
            with pytest.raises(WaitTimeout) as late:
                other = await c.submit({"command": ["sleep", "600"], "cpus": 200})
                await c.wait(other["id"], timeout_s=0.05, poll_s=0.01)
            assert late.value.job["status"] == "PENDING"
            return seen, done, chunks, asked

    seen, done, chunks, asked = asyncio.run(main())

    assert seen["name"] == "async" and seen["status"] == "PENDING"
    assert done["id"] == seen["id"] and done["status"] == "SUCCEEDED"
    assert asked == [0.01, 0.01]
    assert chunks == [b"hello from asyncio\n"]


def test_the_async_client_queues_an_array_and_cancels(app: FastAPI, tokens: LocalTokens) -> None:
    async def main() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        transport = httpx.ASGITransport(app=app)
        async with AsyncClient(URL, tokens.user, transport=transport) as c:
            created = await c.submit_array({"command": ["true"]}, "0-15:5")
            listed = await c.jobs(array=created["array_id"])
            cancelled = await c.cancel(created["jobs"][0]["id"])
            return created, listed, cancelled

    created, listed, cancelled = asyncio.run(main())

    assert [j["array_index"] for j in created["jobs"]] == [0, 5, 10, 15]
    assert sorted(j["id"] for j in listed["items"]) == sorted(j["id"] for j in created["jobs"])
    assert cancelled["status"] == "CANCELLED"


def test_the_async_client_reports_an_unreachable_api() -> None:
    async def main() -> None:
        async with AsyncClient("http://127.0.0.1:1", None, timeout=5) as c:
            await c.usage()

    with pytest.raises(ApiError) as caught:
        asyncio.run(main())
    assert caught.value.status == 0 and "Cannot reach" in caught.value.detail
