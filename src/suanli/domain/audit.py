"""The audit log: security-relevant actions, who did them and to what.

Recorded in the same transaction as the action, so an action that is rolled back leaves no
entry and an entry never describes something that did not happen. Details hold names and
amounts, never a token or a job's environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from suanli.domain.ids import ProviderId, TenantId, UserId


class AuditAction(StrEnum):
    TENANT_ADD = "tenant.add"
    USER_ADD = "user.add"
    USER_DISABLE = "user.disable"
    TOKEN_CREATE = "token.create"
    TOKEN_REVOKE = "token.revoke"
    JOB_CANCEL_OTHER = "job.cancel_other_tenant"
    """An operator cancelled a job of a tenant not its own."""
    PRICE_SET = "cluster.price"
    QUOTA_SET = "quota.set"
    QUOTA_DELETE = "quota.delete"
    SHARE_SET = "share.set"
    REGION_ADD = "region.add"
    REGION_UPDATE = "region.update"
    PROVIDER_ADD = "provider.add"
    CLUSTER_ADD = "cluster.add"
    CLUSTER_CALIBRATE = "cluster.calibrate"
    DEPOSIT = "ledger.deposit"
    CREDIT_SET = "ledger.credit"
    PAYOUT = "ledger.payout"
    MARKET_CLEAR = "market.clear"
    VOUCHER_ISSUE = "voucher.issue"
    VOUCHER_REVOKE = "voucher.revoke"


@dataclass(frozen=True, slots=True)
class AuditEvent:
    at: datetime
    actor: UserId
    actor_role: str
    action: AuditAction
    target: str
    """The object acted on: a tenant, user, token, job or cluster id."""
    tenant_id: TenantId | None = None
    """The tenant the object belongs to, where it belongs to one."""
    provider_id: ProviderId | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    """Assigned by the store: increasing, the order of the log."""
