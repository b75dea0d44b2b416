"""Compute vouchers (算力券): subsidies the operator issues to eligible tenants.

A voucher pays `share` of an invoice (a settled job attempt or a block purchase), at
most `cap_per_invoice` on one invoice and `cap_per_year` in one calendar year, until it
expires, and only on invoices from the providers on its whitelist (empty: any provider).
It is a payment instrument applied at settlement: bids and prices never see it. An
invoice is subsidised by at most one voucher, once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import NewType

from suanli.domain.ids import ProviderId, TenantId, UserId

VoucherId = NewType("VoucherId", str)
VOUCHER_PREFIX = "v-"

TENANT_SIZES = ("micro", "small", "medium", "large", "unknown")
"""Firm sizes a tenant is recorded with (the city's SME voucher schemes use them)."""


@dataclass(frozen=True, slots=True)
class Voucher:
    id: VoucherId
    tenant_id: TenantId
    share: Decimal
    """Part of each invoice it pays, 0 < share <= 1 (e.g. 0.2)."""
    cap_per_invoice: Decimal
    cap_per_year: Decimal
    issued_at: datetime
    expires_at: datetime
    providers: tuple[ProviderId, ...] = ()
    """Supplier whitelist; empty: any provider."""
    issued_by: UserId | None = None
    note: str = ""
    revoked_at: datetime | None = None

    def usable(self, at: datetime, provider_id: ProviderId | None) -> bool:
        return (
            self.revoked_at is None
            and self.issued_at <= at < self.expires_at
            and (not self.providers or (provider_id is not None and provider_id in self.providers))
        )


@dataclass(frozen=True, slots=True)
class VoucherUse:
    voucher_id: VoucherId
    invoice: str
    """The settlement key it paid on (unique: no invoice is subsidised twice)."""
    tenant_id: TenantId
    amount: Decimal
    at: datetime
