"""Calendar periods of the city: months for statements, years for voucher caps.

The platform stores instants in UTC, but a month or a year is the city's: China Standard
Time, UTC+8. China has kept no daylight saving since 1991, so a fixed offset is exact and
needs no time-zone database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

CITY_TZ = timezone(timedelta(hours=8), "CST")
"""The zone whose calendar bounds statement months and voucher years (UTC+8)."""


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        # A naive time would silently be read in the host's zone: refuse it.
        raise ValueError(f"{at.isoformat()} has no time zone")
    return at


def year_of(at: datetime, tz: timezone = CITY_TZ) -> int:
    """The calendar year (in `tz`) that instant `at` falls in."""
    return _aware(at).astimezone(tz).year


def year_bounds(year: int, tz: timezone = CITY_TZ) -> tuple[datetime, datetime]:
    """[start, end) of calendar year `year` in `tz`, as UTC instants."""
    start = datetime(year, 1, 1, tzinfo=tz)
    end = datetime(year + 1, 1, 1, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)


def month_bounds(year: int, month: int, tz: timezone = CITY_TZ) -> tuple[datetime, datetime]:
    """[start, end) of a calendar month in `tz`, as UTC instants; ValueError for a month
    outside 1..12."""
    if not 1 <= month <= 12:
        raise ValueError(f"month {month} is not 1..12")
    start = datetime(year, month, 1, tzinfo=tz)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=tz)
    return start.astimezone(UTC), end.astimezone(UTC)
