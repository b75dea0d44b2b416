"""Time as a port: nothing outside adapters reads the wall clock directly."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, never going backwards (for timeouts)."""
        ...

    def sleep(self, seconds: float) -> None: ...
