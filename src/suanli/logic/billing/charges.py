"""What an attempt costs and what a job must hold before it starts.

A charge is metered usage x rate, rounded *up* to the fen once per attempt: no metered
use is free, however short (a stream of 1 ms jobs costs at least a fen each), and the
platform never bills more than a fen above the exact amount. A hold is the worst case of
the job's time limit at the rate, also rounded up, so it always covers the charge of an
attempt that keeps to its limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import ROUND_CEILING, Decimal

from suanli.domain.money import FEN
from suanli.domain.usage import UsageRecord

MS_PER_HOUR = Decimal(3_600_000)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def fen_up(amount: Decimal) -> Decimal:
    return amount.quantize(FEN, rounding=ROUND_CEILING)


def hold_amount(quantity: Decimal, rate: Decimal, seconds: int) -> Decimal:
    """Escrow for `quantity` devices (or cores) at `rate` CNY per unit-hour for
    `seconds`: rounded up to the fen."""
    if seconds <= 0 or rate <= 0 or quantity <= 0:
        return Decimal(0)
    return fen_up(quantity * rate * Decimal(seconds) / Decimal(3600))


def outside_ms(
    started_at: datetime,
    ended_at: datetime,
    window_start: datetime | None,
    window_end: datetime | None,
) -> int:
    """Milliseconds of [started_at, ended_at) outside [window_start, window_end) (all of
    it when there is no window); both ends truncated to the millisecond, as metering
    does (`suanli.logic.metering.attempts`)."""
    start, end = _ms(started_at), _ms(ended_at)
    total = max(0, end - start)
    if window_start is None or window_end is None:
        return total
    inside = max(0, min(end, _ms(window_end)) - max(start, _ms(window_start)))
    return total - inside


def attempt_charge(
    records: Sequence[UsageRecord],
    resource: str,
    rate: Decimal,
    window_start: datetime | None = None,
    window_end: datetime | None = None,
) -> Decimal:
    """The charge of an attempt from its usage records: for the records of the billed
    dimension (``gpu:MODEL`` or ``cpu``), quantity x milliseconds outside the reserved
    window x rate per hour, summed exactly and rounded up to the fen once."""
    exact = Decimal(0)
    for r in records:
        if r.dimension != resource:
            continue
        ms = outside_ms(r.started_at, r.ended_at, window_start, window_end)
        ms = min(ms, r.milliseconds)
        exact += Decimal(str(r.quantity)) * Decimal(ms) * rate / MS_PER_HOUR
    return fen_up(exact) if exact > 0 else Decimal(0)


def _ms(t: datetime) -> int:
    """Milliseconds since the epoch, truncated, from the datetime's integer parts (as
    `suanli.logic.metering.attempts.epoch_ms` does: a float timestamp loses the last
    millisecond far from 1970)."""
    delta = t - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
