"""Exact decimals as integers in columns: fen (0.01), e4 (0.0001) and micro (1e-6).

Writing a value that is not a whole number of its step is a bug upstream (rounding is the
service's decision), so it raises rather than round silently."""

from __future__ import annotations

from decimal import Decimal

_FEN = Decimal(100)
_E4 = Decimal(10_000)
_U = Decimal(1_000_000)


def _scaled(value: Decimal, scale: Decimal, what: str) -> int:
    scaled = value * scale
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} is not a whole number of {what}")
    return int(scaled)


def fen(value: Decimal) -> int:
    return _scaled(value, _FEN, "fen")


def e4(value: Decimal) -> int:
    return _scaled(value, _E4, "0.0001")


def micro(value: Decimal) -> int:
    return _scaled(value, _U, "millionths")


def from_fen(value: int) -> Decimal:
    """CNY with exactly two decimals ("100.00")."""
    return (Decimal(value) / _FEN).quantize(Decimal("0.01"))


def from_e4(value: int) -> Decimal:
    return Decimal(value) / _E4


def from_micro(value: int) -> Decimal:
    return Decimal(value) / _U
