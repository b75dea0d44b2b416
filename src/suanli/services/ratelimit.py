"""Per-token request rate limits: a token bucket per key (a token's id).

Each key may make `burst` requests at once and `rate_per_s` a second on average; a request
over that is refused with the seconds until one more is allowed (the API answers 429 with
Retry-After). Buckets live in the API process: with several processes the limit applies
per process. The clock is injected (monotonic seconds).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from suanli.ports.clock import Clock


@dataclass(frozen=True, slots=True)
class RateLimit:
    rate_per_s: float
    """Sustained requests per second; 0 turns the limit off."""
    burst: float
    """Requests allowed at once after an idle spell."""

    @property
    def enabled(self) -> bool:
        return self.rate_per_s > 0


class RateLimiter:
    MAX_KEYS = 100_000
    """Buckets kept; beyond, full (idle) buckets are dropped first."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        """key -> (tokens left, monotonic time of that count)."""
        self._lock = threading.Lock()

    def take(self, key: str, limit: RateLimit) -> float | None:
        """Spend one request of `key`'s bucket. None if allowed; otherwise the seconds to
        wait before the next request would be."""
        if not limit.enabled:
            return None
        now = self._clock.monotonic()
        with self._lock:
            tokens, then = self._buckets.get(key, (limit.burst, now))
            tokens = min(limit.burst, tokens + (now - then) * limit.rate_per_s)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return (1.0 - tokens) / limit.rate_per_s
            if len(self._buckets) >= self.MAX_KEYS and key not in self._buckets:
                self._evict(now, limit)
            self._buckets[key] = (tokens - 1.0, now)
            return None

    def _evict(self, now: float, limit: RateLimit) -> None:
        refill_s = limit.burst / limit.rate_per_s
        idle = [k for k, (_, t) in self._buckets.items() if now - t >= refill_s]
        for k in idle or list(self._buckets)[: self.MAX_KEYS // 10]:
            del self._buckets[k]
