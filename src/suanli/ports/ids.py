"""Id generation as a port, so tests and the simulator can make ids deterministic."""

from __future__ import annotations

from typing import Protocol


class IdGenerator(Protocol):
    def new(self, prefix: str) -> str:
        """A fresh, unique id starting with `prefix`."""
        ...

    def secret(self) -> str:
        """A fresh unguessable secret (for bearer tokens)."""
        ...
