"""A deterministic event queue: events fire in (time, priority, sequence) order, so two
runs of the same input give the same history (ties broken by insertion order)."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from enum import IntEnum


class Kind(IntEnum):
    """Event kinds; the value is the priority among events at the same instant: jobs
    finish and stop before new ones arrive, and the scheduler decides last."""

    FINISH = 0
    STOP = 1
    ARRIVE = 2
    CYCLE = 3


@dataclass(order=True, frozen=True, slots=True)
class Event:
    at: float
    kind: Kind
    seq: int
    subject: str = field(compare=False, default="")
    version: int = field(compare=False, default=0)
    """For FINISH/STOP: the run it belongs to (a preempted run's FINISH is stale)."""


class EventQueue:
    def __init__(self) -> None:
        self._heap: list[Event] = []
        self._seq = 0

    def push(self, at: float, kind: Kind, subject: str = "", version: int = 0) -> Event:
        self._seq += 1
        event = Event(at, kind, self._seq, subject, version)
        heapq.heappush(self._heap, event)
        return event

    def pop(self) -> Event:
        return heapq.heappop(self._heap)

    def peek(self) -> Event | None:
        return self._heap[0] if self._heap else None

    def __len__(self) -> int:
        return len(self._heap)
