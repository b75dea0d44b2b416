"""Group commit for job submissions.

Submissions whose requests are handled in the same turn of the event loop are written in
one transaction (one executemany per table, one commit). The flush runs on the event
loop itself: it is short and bounded (a few small inserts), and a worker-thread hand-off
per request cost more CPU than the write (measured: BENCHMARKS.md). Each caller gets its
own job or its own error; after a database failure each submission is retried alone,
so only the faulty one fails.
"""

from __future__ import annotations

import asyncio

from suanli.domain.jobs import Job, JobSpec
from suanli.domain.tenancy import Principal
from suanli.services.jobs import JobService

MAX_BATCH = 256


class SubmitBatcher:
    def __init__(self, jobs: JobService) -> None:
        self._jobs = jobs
        self._pending: list[tuple[Principal, JobSpec, asyncio.Future[Job]]] = []
        self._flush_scheduled = False

    async def submit(self, principal: Principal, spec: JobSpec) -> Job:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Job] = loop.create_future()
        self._pending.append((principal, spec, future))
        if len(self._pending) >= MAX_BATCH:
            self._flush()
        elif not self._flush_scheduled:
            self._flush_scheduled = True
            loop.call_soon(self._flush)
        return await future

    def _one(self, principal: Principal, spec: JobSpec) -> Job | Exception:
        try:
            (result,) = self._jobs.submit_many([(principal, spec)])
        except Exception as exc:
            return exc
        return result

    def _flush(self) -> None:
        self._flush_scheduled = False
        batch, self._pending = self._pending, []
        if not batch:
            return
        results: list[Job | Exception]
        try:
            results = list(self._jobs.submit_many([(p, s) for p, s, _ in batch]))
        except Exception:
            # One submission the database refused must not fail the others (other
            # tenants' among them): retry each alone, so only the faulty one fails.
            results = [self._one(p, s) for p, s, _ in batch]
        for (_, _, future), result in zip(batch, results, strict=True):
            if future.done():  # the client went away
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
