"""Domain errors. Every error says what is wrong and, where it can, what to do next.

Shells map these to their own channel (HTTP problem documents, CLI exit codes); nothing
below the shells knows about HTTP. Never use `assert` for these checks: `python -O`
strips asserts.
"""

from __future__ import annotations


class DomainError(Exception):
    """Base error: `message` for humans, `field` names the offending input, `hint` says
    what to do next."""

    def __init__(self, message: str, *, field: str | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.hint = hint

    def __str__(self) -> str:
        text = self.message
        if self.hint:
            text += f" To fix: {self.hint}"
        return text


class InvalidInput(DomainError):
    """The request itself is wrong; retrying it unchanged cannot succeed."""


class NotFound(DomainError):
    """The named thing does not exist (or is not visible to the caller)."""


class Conflict(DomainError):
    """The request is well formed but clashes with the current state."""


class IllegalTransition(Conflict):
    """A status change the state machine does not allow."""


class Unauthenticated(DomainError):
    """No valid credential was presented."""


class Forbidden(DomainError):
    """The caller is known but its role does not allow this action."""


class RateLimited(DomainError):
    """The caller sent more requests than its rate allows; retry after `retry_after_s`."""

    def __init__(self, message: str, *, retry_after_s: float, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.retry_after_s = retry_after_s


class InsufficientFunds(Conflict):
    """The tenant's cash plus credit line cannot cover what must be held or paid."""
