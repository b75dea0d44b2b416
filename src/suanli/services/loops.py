"""Background loops you can step: each loop is an object with `run_once()`; `run_loop`
turns one in a thread until stopped, early when its wake-up signal fires."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from suanli.ports.clock import Clock
from suanli.ports.signals import Wakeup

log = logging.getLogger("suanli.loops")


def run_loop(
    name: str,
    step: Callable[[], object],
    *,
    period_s: float,
    wakeup: Wakeup,
    stop: threading.Event,
    min_gap_s: float = 0.0,
) -> threading.Thread:
    """Start a daemon thread calling `step` every `period_s` or on wake-up, until `stop`,
    but never sooner than `min_gap_s` after the previous step: under a burst of wake-ups
    (many submissions) one step then serves them all, as Slurm's sched_min_interval
    does. A failing step is logged and retried next period; it never kills the loop."""

    def body() -> None:
        while not stop.is_set():
            try:
                step()
            except Exception:
                log.exception("%s loop step failed; retrying", name)
            if min_gap_s and stop.wait(min_gap_s):
                return
            wakeup.wait(max(0.0, period_s - min_gap_s))

    thread = threading.Thread(target=body, name=f"suanli-{name}", daemon=True)
    thread.start()
    return thread


class Throttle:
    """Work a loop does at most once per `every_s` of the clock, however often the loop
    runs (retention, sampling): `due()` says whether it is time, and counts the attempt
    as done, so a failing one, too, waits for the next period; the first call is due."""

    def __init__(self, clock: Clock, every_s: float) -> None:
        self._clock = clock
        self.every_s = every_s
        self._last: datetime | None = None

    def due(self) -> bool:
        now = self._clock.now()
        if self._last is not None and (now - self._last).total_seconds() < self.every_s:
            return False
        self._last = now
        return True

    def mark(self) -> None:
        """The work was just done outside `due` (called directly): the period restarts."""
        self._last = self._clock.now()
