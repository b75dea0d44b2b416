"""Retention: the logs of jobs that ended long ago are deleted.

Logs are the bulk of the database (up to `MAX_LOG_BYTES` per attempt and stream), and
nobody reads a month-old job's output; its history, attempts and usage stay. The
dispatcher loop calls `LogRetention.maybe_purge` each period; it works at most once per
`every_s` (an hour), so the cost is one DELETE an hour.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from suanli.domain.jobs import LOG_RETENTION_DAYS
from suanli.ports.clock import Clock
from suanli.ports.store import Store
from suanli.services.loops import Throttle

log = logging.getLogger("suanli.retention")


class LogRetention:
    """Deletes the logs of jobs that reached a final status more than `days` ago."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        *,
        days: float = LOG_RETENTION_DAYS,
        every_s: float = 3600.0,
    ) -> None:
        if not days > 0:
            raise ValueError(f"log retention must be a positive number of days, got {days!r}")
        self._store = store
        self._clock = clock
        self.days = days
        self._throttle = Throttle(clock, every_s)

    def purge(self) -> int:
        """Delete now, in one transaction; returns how many log chunks went."""
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            deleted = uow.logs.delete_of_jobs_ended_before(now - timedelta(days=self.days))
            uow.commit()
        self._throttle.mark()
        if deleted:
            log.info(
                "deleted %d log chunks of jobs that ended over %g days ago", deleted, self.days
            )
        return deleted

    def maybe_purge(self) -> int:
        """`purge` unless it was tried less than `every_s` ago (the first call always
        runs); returns how many chunks went (0 when it did not run)."""
        return self.purge() if self._throttle.due() else 0
