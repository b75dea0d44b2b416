"""Checks shared by every validated input: text that can be stored and sent on, numbers
that are numbers, and values quoted safely in messages.

Why text is checked at all: JSON can carry a lone UTF-16 surrogate ("\\ud800"), which
Python keeps in a `str` but which no UTF-8 encoder accepts. Such a string is stored
fine and then fails whoever has to send it on (the agent protocol, a log line, an
engine's argv), long after the request that brought it was answered. So every string
of a spec is refused at the door unless it encodes to UTF-8; NUL is refused everywhere
(argv, environments and paths cannot hold it); names and ids also refuse control
characters, line separators and bidirectional overrides, which make no sense in a
name and let one name pose as another on a terminal.
"""

from __future__ import annotations

import re

from suanli.domain.errors import InvalidInput

_NAME_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
"""Control characters (C0, DEL, C1), line and paragraph separators, bidi overrides."""


def is_int(value: object) -> bool:
    """An int, not a bool (JSON `true` must not pass for 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """An int or a float, not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def shown(value: object, limit: int = 60) -> str:
    """`repr(value)` for a message, clipped to `limit` characters. Never raises: Python
    refuses to print an int of more than 4300 digits, and a message must not fail. A
    lone surrogate is shown escaped (repr writes '\\ud800')."""
    try:
        text = repr(value)
    except ValueError:
        text = (
            f"a number of about {value.bit_length() * 0.30103:.0f} digits"
            if isinstance(value, int)
            else "an unprintable value"
        )
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_text(
    value: object,
    field: str,
    *,
    what: str | None = None,
    name: bool = False,
    max_chars: int | None = None,
) -> int:
    """Raise InvalidInput (naming `field`; `what` says which element, e.g. "command[2]")
    unless `value` is a `str` that encodes to UTF-8, holds no NUL, is at most
    `max_chars` characters, and, with `name`, holds no control characters, line
    separators or bidi overrides. Returns its length in UTF-8 bytes."""
    label = what or field
    if not isinstance(value, str):
        raise InvalidInput(
            f"{label} must be text, got {type(value).__name__}.",
            field=field,
            hint="send a JSON string.",
        )
    if max_chars is not None and len(value) > max_chars:
        raise InvalidInput(
            f"{label} is {len(value)} characters long; the limit is {max_chars}.",
            field=field,
            hint=f"shorten it to at most {max_chars} characters.",
        )
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidInput(
            f"{label} is not valid Unicode text: character {exc.start} is a lone surrogate "
            f"({shown(value[exc.start])}).",
            field=field,
            hint="send UTF-8 text; pass binary data through a file (or encode it, e.g. base64).",
        ) from None
    if "\x00" in value:
        raise InvalidInput(
            f"{label} contains a NUL character (at {value.index(chr(0))}).",
            field=field,
            hint="remove it: argv, environments and paths cannot hold NUL.",
        )
    if name and (found := _NAME_FORBIDDEN.search(value)) is not None:
        raise InvalidInput(
            f"{label} contains the control or layout character {shown(found.group())} "
            f"(at {found.start()}).",
            field=field,
            hint="use printable characters only: no tabs, newlines, escapes or direction "
            "overrides.",
        )
    return size
