"""Typed identifiers.

Generated ids (jobs, tokens) carry a short prefix so that a pasted id says what it is.
Named ids (regions, providers, clusters, tenants) are slugs chosen by people.
"""

from __future__ import annotations

import re
from typing import NewType

from suanli.domain.errors import InvalidInput

JobId = NewType("JobId", str)
RegionId = NewType("RegionId", str)
ProviderId = NewType("ProviderId", str)
ClusterId = NewType("ClusterId", str)
NodeId = NewType("NodeId", str)
TenantId = NewType("TenantId", str)
UserId = NewType("UserId", str)
TokenId = NewType("TokenId", str)

JOB_PREFIX = "j-"
TOKEN_PREFIX = "t-"

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def slug(value: str, *, field: str) -> str:
    """Validate a human-chosen id: lower-case letters, digits, '-' or '_', 1-63 chars."""
    if not _SLUG.match(value):
        raise InvalidInput(
            f"{field} {value!r} is not a valid name.",
            field=field,
            hint="use 1-63 lower-case letters, digits, '-' or '_', starting with a letter "
            "or digit (e.g. 'zhengzhou-1').",
        )
    return value
