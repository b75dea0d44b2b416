"""Parsing of human quantities: memory sizes, durations, GPU requests.

Each parser raises InvalidInput naming the field and the accepted forms.
"""

from __future__ import annotations

import re

from suanli.domain.devices import canonical_gpu_model
from suanli.domain.errors import InvalidInput

_MEM = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(I?B?)\s*$", re.IGNORECASE)
_MEM_FACTOR_MB = {"K": 1 / 1024, "": 1, "M": 1, "G": 1024, "T": 1024**2, "P": 1024**3}


def parse_memory_mb(text: str, *, field: str = "memory") -> int:
    """Parse '4G', '512M', '1.5GiB', '2T' into MiB; a bare number means MiB (as in Slurm)."""
    match = _MEM.match(text)
    if not match:
        raise InvalidInput(
            f"{field} {text!r} is not a size.",
            field=field,
            hint="write a number with an optional unit K, M, G or T (e.g. '4G', '512M').",
        )
    value = float(match.group(1)) * _MEM_FACTOR_MB[match.group(2).upper()]
    if value <= 0:
        raise InvalidInput(
            f"{field} must be positive, got {text!r}.", field=field, hint="ask for e.g. '4G'."
        )
    return max(1, round(value))


_DUR_UNITS = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_DUR_PARTS = re.compile(r"(\d+)\s*([dhms])")
_DUR_CLOCK = re.compile(r"^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$")


def parse_duration_s(text: str, *, field: str = "time_limit") -> int:
    """Parse '1h', '90m', '1h30m', '2d', '45s', Slurm's '[D-]HH:MM:SS' or 'MM:SS', or a bare
    number of minutes (Slurm's convention) into seconds."""
    raw = text.strip().lower()
    seconds: int | None = None
    if raw.isdigit():
        seconds = int(raw) * 60
    elif (clock := _DUR_CLOCK.match(raw)) is not None:
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
            hint="write e.g. '30m', '1h', '1h30m', '2d', or '01:30:00'.",
        )
    return seconds


def parse_gpu_request(text: str, *, field: str = "gpus") -> tuple[str, int]:
    """Parse 'MODEL:N', 'MODEL' (one device) or 'N' (N devices of any model)."""
    raw = text.strip()
    model, _, count_text = raw.rpartition(":") if ":" in raw else ("", "", raw)
    if not model and not count_text.isdigit():
        model, count_text = raw, "1"
    if not count_text.isdigit() or int(count_text) <= 0:
        raise InvalidInput(
            f"{field} {text!r}: the GPU count must be a positive whole number.",
            field=field,
            hint="write MODEL:N (e.g. 'A100:2'), MODEL for one device, or N for any model.",
        )
    return canonical_gpu_model(model or "any", field=field), int(count_text)
