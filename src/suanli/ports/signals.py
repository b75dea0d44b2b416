"""A wake-up signal: services announce "something changed" so loops run sooner than
their period. In one process it is a threading.Event; a multi-process deployment can put
a message bus behind the same two methods."""

from __future__ import annotations

from typing import Protocol


class Wakeup(Protocol):
    def notify(self) -> None:
        """Ask the loop listening on this signal to run soon."""
        ...

    def wait(self, timeout: float) -> bool:
        """Block until notified or `timeout` seconds pass; True if notified. Clears it."""
        ...
