"""The suanli API for asyncio programs: the job methods of `Client`, awaitable.

    async with AsyncClient(url, token) as c:
        job = await c.submit({"command": ["python", "train.py"], "gpus": "A100:1"})
        done = await c.wait(job["id"])
        async for chunk in c.follow_logs(job["id"]):
            print(chunk.decode(), end="")

Errors are `ApiError`, as with `Client` (docs/sdk.md)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import httpx

from suanli.sdk.client import (
    DEFAULT_TIMEOUT_S,
    TERMINAL,
    WaitTimeout,
    _connection,
    _jobs_params,
    _logs_params,
    _logs_result,
    _problem,
    _unreachable,
    _usage_params,
)


class AsyncClient:
    def __init__(
        self,
        url: str,
        token: str | None,
        *,
        timeout: float = DEFAULT_TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url, headers = _connection(url, token)
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=headers, timeout=timeout, transport=transport
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise _unreachable(self.url, exc) from exc
        if response.status_code >= 400:
            raise _problem(response)
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return (await self.request(method, path, **kwargs)).json()

    async def submit(self, job: Mapping[str, Any]) -> dict[str, Any]:
        """Queue one job (the fields of JobCreate); returns the job."""
        result: dict[str, Any] = await self._json("POST", "/v1/jobs", json=dict(job))
        return result

    async def submit_array(self, job: Mapping[str, Any], array: str) -> dict[str, Any]:
        """Queue a job array (`Client.submit_array`)."""
        body = {**job, "array": array}
        result: dict[str, Any] = await self._json("POST", "/v1/jobs/arrays", json=body)
        return result

    async def jobs(
        self,
        *,
        status: list[str] | None = None,
        limit: int = 100,
        cursor: int | None = None,
        tenant: str | None = None,
        array: str | None = None,
    ) -> dict[str, Any]:
        params = _jobs_params(status, limit, cursor, tenant, array)
        result: dict[str, Any] = await self._json("GET", "/v1/jobs", params=params)
        return result

    async def job(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("GET", f"/v1/jobs/{job_id}")
        return result

    async def cancel(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._json("POST", f"/v1/jobs/{job_id}/cancel")
        return result

    async def logs(
        self, job_id: str, *, stream: str = "stdout", offset: int = 0, attempt: int | None = None
    ) -> tuple[bytes, str, int]:
        """Returns (data, job status, attempt read)."""
        params = _logs_params(stream, offset, attempt)
        return _logs_result(await self.request("GET", f"/v1/jobs/{job_id}/logs", params=params))

    async def wait(
        self,
        job_id: str,
        *,
        timeout_s: float | None = None,
        poll_s: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> dict[str, Any]:
        """Until the job has ended (`Client.wait`); raises WaitTimeout."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s
        while True:
            job = await self.job(job_id)
            if job["status"] in TERMINAL:
                return job
            if deadline is not None and loop.time() >= deadline:
                raise WaitTimeout(f"Job {job_id} is still {job['status']}.", job)
            await sleep(poll_s)

    async def follow_logs(
        self, job_id: str, *, stream: str = "stdout", poll_s: float = 0.5
    ) -> AsyncIterator[bytes]:
        """The job's output as it comes, until the job has ended (`Client.follow_logs`)."""
        offset, attempt = 0, None
        while True:
            data, status, number = await self.logs(job_id, stream=stream, offset=offset)
            if number != attempt:
                attempt = number
                if offset:  # a new attempt: read it from its start, not at the old offset
                    offset = 0
                    continue
            if data:
                offset += len(data)
                yield data
                continue
            if status in TERMINAL:
                data, _, _ = await self.logs(job_id, stream=stream, offset=offset)
                if data:
                    yield data
                return
            await asyncio.sleep(poll_s)

    async def usage(
        self,
        *,
        by: str = "tenant",
        tenant: str | None = None,
        since: str | None = None,
        until: str | None = None,
    ) -> list[dict[str, Any]]:
        params = _usage_params(by, tenant, since, until)
        result: list[dict[str, Any]] = await self._json("GET", "/v1/usage", params=params)
        return result
