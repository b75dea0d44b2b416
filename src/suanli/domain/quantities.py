"""Parsing of human quantities: memory sizes, durations, GPU requests.

Each parser raises InvalidInput naming the field and the accepted forms, and nothing
else: digits are ASCII only (``str.isdigit`` and ``\\d`` also accept "²" or "٣",
which ``int`` then refuses or reads as another number), the text and every number in
it are bounded before they are converted, and results are capped so that no later
arithmetic can overflow.
"""

from __future__ import annotations

import re

from suanli.domain.devices import canonical_gpu_model
from suanli.domain.errors import InvalidInput
from suanli.domain.resources import MAX_GPUS, MAX_MEMORY_MB

MAX_QUANTITY_CHARS = 64
"""Longest quantity text ('4G', '1h30m', 'A100:2') the parsers read; model names in a
GPU request may be longer (`MAX_GPU_REQUEST_CHARS`)."""
MAX_GPU_REQUEST_CHARS = 128
"""Longest GPU request text ('NVIDIA A100-SXM4-80GB:8')."""
MAX_DURATION_S = 100 * 366 * 86_400
"""The longest duration `parse_duration_s` returns (about 100 years): far beyond any
use, and small enough that no date arithmetic on it can overflow."""

_MEM = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTP]?)(I?B?)\s*", re.I | re.A)
_MEM_FACTOR_MB = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024**2, "P": 1024**3}


def _too_long(text: str, field: str, limit: int, example: str) -> InvalidInput:
    return InvalidInput(
        f"{field} is longer than {limit} characters.",
        field=field,
        hint=f"write a short quantity, e.g. {example!r}.",
    )


def parse_memory_mb(text: str, *, field: str = "memory", maximum_mb: int = MAX_MEMORY_MB) -> int:
    """Parse '4G', '512M', '1.5GiB', '2T' into MiB; a bare number means MiB (as in Slurm).
    The result is in 1..`maximum_mb` (default `MAX_MEMORY_MB`, 64 TiB)."""
    if len(text) > MAX_QUANTITY_CHARS:
        raise _too_long(text, field, MAX_QUANTITY_CHARS, "4G")
    match = _MEM.fullmatch(text)
    if not match:
        raise InvalidInput(
            f"{field} {text!r} is not a size.",
            field=field,
            hint="write a number (ASCII digits) with an optional unit K, M, G or T "
            "(e.g. '4G', '512M').",
        )
    value = float(match.group(1)) * _MEM_FACTOR_MB[match.group(2).upper()]
    if value <= 0:
        raise InvalidInput(
            f"{field} must be positive, got {text!r}.", field=field, hint="ask for e.g. '4G'."
        )
    if value > maximum_mb:
        raise InvalidInput(
            f"{field} {text!r} is more than the limit of {maximum_mb} MiB "
            f"({maximum_mb / 1024**2:g} TiB).",
            field=field,
            hint="ask for what one member really needs, e.g. '64G'.",
        )
    return max(1, round(value))


_DUR_UNITS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DUR_PARTS = re.compile(r"([0-9]+)\s*([dhms])", re.A)
_DUR_CLOCK = re.compile(r"(?:([0-9]+)-)?(?:([0-9]+):)?([0-9]+):([0-9]+)", re.A)
_DIGITS = re.compile(r"[0-9]+", re.A)


def parse_duration_s(text: str, *, field: str = "time_limit") -> int:
    """Parse '1h', '90m', '1h30m', '2d', '45s', Slurm's '[D-]HH:MM:SS' or 'MM:SS', or a bare
    number of minutes (Slurm's convention) into seconds, at most `MAX_DURATION_S`."""
    if len(text) > MAX_QUANTITY_CHARS:
        raise _too_long(text, field, MAX_QUANTITY_CHARS, "1h30m")
    raw = text.strip().lower()
    seconds: int | None = None
    if _DIGITS.fullmatch(raw):
        seconds = int(raw) * 60
    elif (clock := _DUR_CLOCK.fullmatch(raw)) is not None:
        days, hours, minutes, secs = (int(g) if g else 0 for g in clock.groups())
        if clock.group(2) is None:  # "MM:SS"
            hours, minutes, secs = 0, int(clock.group(3)), int(clock.group(4))
        seconds = days * 86_400 + hours * 3_600 + minutes * 60 + secs
    elif raw and _DUR_PARTS.sub("", raw).strip() == "":
        seconds = sum(int(n) * _DUR_UNITS[u] for n, u in _DUR_PARTS.findall(raw))
    if seconds is None or seconds <= 0:
        raise InvalidInput(
            f"{field} {text!r} is not a positive duration.",
            field=field,
            hint="write e.g. '30m', '1h', '1h30m', '2d', or '01:30:00' (ASCII digits).",
        )
    if seconds > MAX_DURATION_S:
        raise InvalidInput(
            f"{field} {text!r} is longer than {MAX_DURATION_S} s (about 100 years).",
            field=field,
            hint="write a shorter duration, e.g. '7d'.",
        )
    return seconds


def parse_gpu_request(text: str, *, field: str = "gpus") -> tuple[str, int]:
    """Parse 'MODEL:N', 'MODEL' (one device) or 'N' (N devices of any model); N is ASCII
    digits, 1..`MAX_GPUS`."""
    if len(text) > MAX_GPU_REQUEST_CHARS:
        raise _too_long(text, field, MAX_GPU_REQUEST_CHARS, "A100:2")
    raw = text.strip()
    model, _, count_text = raw.rpartition(":") if ":" in raw else ("", "", raw)
    if not model and not _DIGITS.fullmatch(count_text):
        model, count_text = raw, "1"
    count = int(count_text) if _DIGITS.fullmatch(count_text) else 0
    if not 0 < count <= MAX_GPUS:
        raise InvalidInput(
            f"{field} {text!r}: the GPU count must be a whole number from 1 to {MAX_GPUS}.",
            field=field,
            hint="write MODEL:N (e.g. 'A100:2'), MODEL for one device, or N for any model.",
        )
    return canonical_gpu_model(model or "any", field=field), count
