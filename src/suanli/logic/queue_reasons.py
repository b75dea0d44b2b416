"""Why jobs wait, in a few kinds: the label of the queue-length metric.

A pending job's reason is a sentence for people ("Over quota: it would hold ...");
monitoring needs a short, bounded set of kinds to count by."""

from __future__ import annotations

KINDS = ("funds", "reserved", "quota", "gang", "order", "constraints", "resources", "new")
_RULES = (
    ("Waiting for funds", "funds"),
    ("reserved for other tenants", "reserved"),
    ("Over quota", "quota"),
    ("Waiting for its gang", "gang"),
    ("Behind job", "order"),
    ("No cluster can ever fit", "constraints"),
    ("No schedulable cluster", "constraints"),
    ("Waiting for", "resources"),
)


def reason_kind(reason: str) -> str:
    """The kind of a pending job's reason; "new" when the scheduler has not looked at it
    yet (its reason is still "Submitted" or empty)."""
    for marker, kind in _RULES:
        if marker in reason:
            return kind
    return "new" if reason in ("", "Submitted") else "resources"
