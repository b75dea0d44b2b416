"""Shared reading helpers: CSV rows that know their file and line, field parsers whose
errors name file, line and column, GPU-name mapping through the catalog."""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from suanli.adapters.traces.model import TraceError, TraceJob
from suanli.domain.catalog import default_catalog

csv.field_size_limit(1 << 24)

MAX_NUMBER = 1e15
"""Largest number a trace field may hold. Beyond every real quantity (a Unix time in
milliseconds is about 1.8e12) and small enough that the loaders' arithmetic (x 1024,
x 10, rounding to int) stays finite: 1e308 x 10 is infinity, which `round` refuses."""


@contextmanager
def open_text(path: Path) -> Iterator[IO[str]]:
    """Open a trace file as UTF-8 text (a byte-order mark is skipped)."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise TraceError(path, None, None, "a readable file", exc.strerror or str(exc)) from exc
    with handle:
        try:
            yield handle
        except UnicodeDecodeError as exc:
            raise TraceError(
                path, None, None, "UTF-8 text", f"byte {exc.start}: {exc.reason}"
            ) from exc


def check_limit(limit: int | None) -> None:
    if limit is not None and limit < 0:
        raise TraceError("limit", None, "limit", "a number of rows >= 0", limit)


class Row:
    """One data row: its values by column name, and parsers that report where they are."""

    __slots__ = ("line", "path", "values")

    def __init__(self, path: Path, line: int, values: Mapping[str, str]) -> None:
        self.path = path
        self.line = line
        self.values = values

    def fail(self, column: str | None, expected: str, got: object = None) -> TraceError:
        return TraceError(self.path, self.line, column, expected, got)

    def text(self, column: str, *, required: bool = False) -> str:
        value = self.values.get(column, "").strip()
        if required and not value:
            raise self.fail(column, "a value", value)
        return value

    def whole(
        self, column: str, *, what: str, minimum: int = 0, maximum: float = MAX_NUMBER
    ) -> int:
        """A whole number in [minimum, maximum] (written as an int or a float)."""
        raw = self.text(column)
        number = _float(raw)
        if not math.isfinite(number) or not number.is_integer() or number < minimum:
            raise self.fail(column, f"a whole number of {what} >= {minimum}", raw)
        if number > maximum:
            raise self.fail(column, f"a whole number of {what} <= {maximum:g}", raw)
        return int(number)

    def number(
        self, column: str, *, what: str, minimum: float = 0.0, maximum: float = MAX_NUMBER
    ) -> float:
        """A finite number in [minimum, maximum]."""
        raw = self.text(column)
        number = _float(raw)
        if not math.isfinite(number) or number < minimum:
            raise self.fail(column, f"a number of {what} >= {minimum:g}", raw)
        if number > maximum:
            raise self.fail(column, f"a number of {what} <= {maximum:g}", raw)
        return number

    def optional_number(self, column: str, *, what: str, minimum: float = 0.0) -> float | None:
        raw = self.text(column)
        if raw.lower() in ("", "nan", "none", "null"):
            return None
        return self.number(column, what=what, minimum=minimum)

    def moment(self, column: str) -> datetime:
        raw = self.text(column)
        return parse_moment(raw, lambda: self.fail(column, "a time like 2017-10-09 07:01:55", raw))


def _float(raw: str) -> float:
    """`float(raw)`, NaN for anything that is not a number (NaN fails every check)."""
    try:
        return float(raw)
    except ValueError:
        return math.nan


def parse_moment(raw: str, error: Callable[[], TraceError]) -> datetime:
    """A naive 'YYYY-MM-DD HH:MM:SS' (read as UTC) or an ISO time with an offset."""
    try:
        moment = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise error() from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def read_csv(
    path: Path,
    required: Sequence[str],
    *,
    columns: Sequence[str] | None = None,
) -> Iterator[Row]:
    """Rows of a CSV file. With `columns`, the file has no header and its columns are
    those; otherwise the first line is a header that must name every `required` column."""
    with open_text(path) as handle:
        reader = csv.reader(handle)
        try:
            if columns is None:
                header = next(reader, None)
                if header is None:
                    raise TraceError(
                        path,
                        1,
                        None,
                        f"a header with columns {', '.join(required)}",
                        "an empty file",
                    )
                names = [name.strip() for name in header]
                for name in required:
                    if name not in names:
                        raise TraceError(
                            path,
                            1,
                            name,
                            f"a header naming the column (needs: {', '.join(required)})",
                            ",".join(header),
                        )
            else:
                names = list(columns)
            width = len(names)
            for values in reader:
                if not values or (len(values) == 1 and not values[0].strip()):
                    continue
                if len(values) != width:
                    column = names[len(values)] if len(values) < width else None
                    raise TraceError(
                        path,
                        reader.line_num,
                        column,
                        f"{width} comma-separated values ({', '.join(names)})",
                        f"{len(values)} values",
                    )
                yield Row(path, reader.line_num, dict(zip(names, values, strict=True)))
        except csv.Error as exc:
            raise TraceError(path, reader.line_num, None, "well-formed CSV", str(exc)) from exc


def map_gpu(row: Row | None, path: Path, column: str, raw: str, trace: str) -> str | None:
    """Canonical catalog model for a trace's GPU name; None for a name the catalog lists
    as undisclosed for this trace. An unknown name is an error naming known ones."""
    name = raw.strip()
    if not name:
        return None
    catalog = default_catalog()
    lowered = name.lower()
    for entry in catalog.trace_models:
        if entry.trace == trace and entry.name.lower() == lowered:
            return entry.model
    model = catalog.resolve(name)
    spec = catalog.get(model) if model else None
    if spec is not None and spec.kind in ("gpu", "npu"):
        return spec.model
    known = sorted({e.name for e in catalog.trace_models if e.trace == trace})
    examples = known or catalog.models(kinds=("gpu", "npu"))[:8]
    error = TraceError(
        path,
        row.line if row else None,
        column,
        f"a GPU model the catalog knows (e.g. {', '.join(examples[:8])})",
        name,
        hint="add the name as a trace_models row (or an alias) in src/suanli/domain/devices.json.",
    )
    raise error


def rebase(jobs: list[TraceJob]) -> list[TraceJob]:
    """Shift submit times so that the earliest loaded job arrives at 0 s."""
    if not jobs:
        return jobs
    start = min(job.submit_s for job in jobs)
    if start == 0:
        return jobs
    return [replace(job, submit_s=job.submit_s - start) for job in jobs]
