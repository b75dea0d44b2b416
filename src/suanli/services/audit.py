"""Writing and reading the audit log. Services record an entry inside the transaction of
the action it describes (`record`), so the log and the state never disagree."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from suanli.domain.audit import AuditAction, AuditEvent
from suanli.domain.errors import InvalidInput
from suanli.domain.ids import ProviderId, TenantId
from suanli.domain.permissions import Permission, require
from suanli.domain.tenancy import Principal
from suanli.ports.clock import Clock
from suanli.ports.store import Store, UnitOfWork

MAX_AUDIT_PAGE = 1000


def record(
    uow: UnitOfWork,
    principal: Principal,
    action: AuditAction,
    target: str,
    *,
    at: datetime,
    tenant_id: TenantId | None = None,
    provider_id: ProviderId | None = None,
    **detail: Any,
) -> None:
    """Add an entry for `action` by `principal` on `target` to the caller's transaction.
    `detail` must hold no secret (tokens, job environments)."""
    uow.audit.add(
        AuditEvent(
            at,
            principal.user_id,
            principal.role.value,
            action,
            target,
            tenant_id,
            provider_id,
            dict(detail),
        )
    )


class AuditService:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def events(
        self,
        principal: Principal,
        *,
        since: datetime | None = None,
        before_id: int | None = None,
        tenant_id: TenantId | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        """Newest first, `limit` at most (1-1000); page backwards with `before_id` (the
        last id of the previous page). Auditors and operators only."""
        require(principal, Permission.AUDIT_READ)
        if not 1 <= limit <= MAX_AUDIT_PAGE:
            raise InvalidInput(
                f"limit must be between 1 and {MAX_AUDIT_PAGE}.",
                field="limit",
                hint="page with the cursor instead.",
            )
        with self._store.unit_of_work(readonly=True) as uow:
            return uow.audit.list(
                since=since, before_id=before_id, tenant_id=tenant_id, limit=limit
            )
