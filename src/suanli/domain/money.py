"""Money: `Decimal` CNY in code, integer fen (0.01 CNY) in the database.

Amounts are rounded to the fen half-up, once, where an amount is fixed (a trade, a
charge, a subsidy); rates (CNY per device-hour, per SCH) keep up to four decimals. Floats
never carry money: `cny` refuses them, so a binary fraction cannot leak into a balance.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

from suanli.domain.errors import InvalidInput

FEN = Decimal("0.01")
RATE_STEP = Decimal("0.0001")
MAX_AMOUNT = Decimal("1000000000")
"""A billion CNY: more than any one movement or rate may carry (a typo guard)."""


def cny(value: str | int | Decimal, *, field: str = "amount") -> Decimal:
    """Parse an amount or rate in CNY from text, an int or a Decimal; finite, at most a
    billion, at most four decimals. Raises InvalidInput saying what to send instead."""
    if isinstance(value, (bool, float)):
        raise InvalidInput(
            f"{field} must be given as a decimal string, not a binary float.",
            field=field,
            hint='send it as a string such as "12.50".',
        )
    try:
        amount = Decimal(value) if not isinstance(value, Decimal) else value
    except (InvalidOperation, ValueError):
        raise InvalidInput(
            f"{field} {value!r} is not a number.", field=field, hint='use e.g. "12.50".'
        ) from None
    if not amount.is_finite() or abs(amount) > MAX_AMOUNT:
        raise InvalidInput(
            f"{field} {value!r} is out of range.",
            field=field,
            hint=f"use a finite amount of at most {MAX_AMOUNT} CNY.",
        )
    if amount != amount.quantize(RATE_STEP, rounding=ROUND_DOWN):
        raise InvalidInput(
            f"{field} {value!r} has more than four decimals.",
            field=field,
            hint="round it to 0.0001 CNY.",
        )
    return amount + 0  # normalises -0


def round_fen(amount: Decimal) -> Decimal:
    """An amount rounded half-up to the fen."""
    return amount.quantize(FEN, rounding=ROUND_HALF_UP)


def to_fen(amount: Decimal) -> int:
    """Integer fen of an amount already rounded to the fen; raises ValueError otherwise
    (rounding is the caller's decision, made once)."""
    fen = amount * 100
    if fen != fen.to_integral_value():
        raise ValueError(f"{amount} CNY is not a whole number of fen")
    return int(fen)


def from_fen(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(FEN)


def fmt(amount: Decimal) -> str:
    """'1,234.50' style text for people (statements, the CLI)."""
    return f"{round_fen(amount):,.2f}"
