"""Compute vouchers (算力券): issuing them to eligible tenants, listing, revoking, and the
report of issued, used and expired vouchers by sector. They are applied at settlement
(`suanli.services.billing.subsidise`), never inside bids."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from suanli.domain.audit import AuditAction
from suanli.domain.errors import Conflict, InvalidInput, NotFound
from suanli.domain.ids import ProviderId, TenantId
from suanli.domain.money import cny, round_fen
from suanli.domain.permissions import Permission, allows, require
from suanli.domain.standard import parse_sector
from suanli.domain.tenancy import Principal
from suanli.domain.vouchers import TENANT_SIZES, VOUCHER_PREFIX, Voucher, VoucherId
from suanli.logic.billing.vouchers import VoucherReportRow, check_eligible, voucher_report
from suanli.ports.clock import Clock
from suanli.ports.ids import IdGenerator
from suanli.ports.store import Store
from suanli.services.audit import record
from suanli.services.tenancy import require_tenant


@dataclass(frozen=True, slots=True)
class VoucherTerms:
    """What the operator asks for when issuing; money as decimal strings."""

    tenant_id: TenantId
    share: str
    cap_per_invoice: str
    cap_per_year: str
    expires_at: datetime
    providers: tuple[ProviderId, ...] = ()
    sectors: tuple[str, ...] = ()
    """Eligible sectors; empty: any."""
    sizes: tuple[str, ...] = ()
    """Eligible firm sizes; empty: any."""
    note: str = ""


def _money(text: str, field: str) -> Decimal:
    value = cny(text, field=field)
    if value <= 0 or value != round_fen(value):
        raise InvalidInput(
            f"{field} must be a positive amount in whole fen.", field=field, hint='e.g. "5000".'
        )
    return value


class VoucherService:
    def __init__(self, store: Store, clock: Clock, ids: IdGenerator) -> None:
        self._store = store
        self._clock = clock
        self._ids = ids

    def issue(self, principal: Principal, terms: VoucherTerms) -> Voucher:
        """Issue a voucher to a tenant that meets the scheme's eligibility (sector, size);
        Conflict naming the rule it fails otherwise."""
        require(principal, Permission.VOUCHER_WRITE)
        share = cny(terms.share, field="share")
        if not Decimal(0) < share <= Decimal(1):
            raise InvalidInput(
                "share is the part of each invoice paid, more than 0 and at most 1.",
                field="share",
                hint="e.g. 0.2 for 20%.",
            )
        per_invoice = _money(terms.cap_per_invoice, "cap_per_invoice")
        per_year = _money(terms.cap_per_year, "cap_per_year")
        sectors = {parse_sector(s).value for s in terms.sectors}
        for size in terms.sizes:
            if size not in TENANT_SIZES:
                raise InvalidInput(
                    f"Unknown size {size!r}.", field="sizes", hint=f"use {', '.join(TENANT_SIZES)}."
                )
        if len(terms.note) > 500:
            raise InvalidInput("note is at most 500 characters.", field="note", hint="shorten it.")
        now = self._clock.now()
        if terms.expires_at.tzinfo is None or terms.expires_at <= now:
            raise InvalidInput(
                "A voucher must expire in the future.",
                field="expires",
                hint="give a later date, e.g. 2027-12-31.",
            )
        with self._store.unit_of_work() as uow:
            tenant = require_tenant(uow, terms.tenant_id)
            check_eligible(tenant.sector, tenant.size, sectors, set(terms.sizes))
            for provider in terms.providers:
                if uow.pool.get_provider(provider) is None:
                    raise NotFound(
                        f"No provider {provider!r}.",
                        field="providers",
                        hint="list providers with `suanli pool`.",
                    )
            voucher = Voucher(
                id=VoucherId(self._ids.new(VOUCHER_PREFIX)),
                tenant_id=tenant.id,
                share=share,
                cap_per_invoice=per_invoice,
                cap_per_year=per_year,
                issued_at=now,
                expires_at=terms.expires_at,
                providers=tuple(dict.fromkeys(terms.providers)),
                issued_by=principal.user_id,
                note=terms.note,
            )
            uow.vouchers.add(voucher)
            record(
                uow,
                principal,
                AuditAction.VOUCHER_ISSUE,
                voucher.id,
                at=now,
                tenant_id=tenant.id,
                share=str(share),
                cap_per_invoice=str(per_invoice),
                cap_per_year=str(per_year),
            )
            uow.commit()
        return voucher

    def revoke(self, principal: Principal, voucher_id: VoucherId) -> Voucher:
        require(principal, Permission.VOUCHER_WRITE)
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            voucher = uow.vouchers.get(voucher_id)
            if voucher is None:
                raise NotFound(
                    f"No voucher {voucher_id!r}.",
                    field="voucher",
                    hint="list them with `suanli voucher list`.",
                )
            if voucher.revoked_at is not None:
                raise Conflict(f"Voucher {voucher_id} is already revoked.", hint="nothing to do.")
            uow.vouchers.revoke(voucher_id, now)
            record(
                uow,
                principal,
                AuditAction.VOUCHER_REVOKE,
                voucher_id,
                at=now,
                tenant_id=voucher.tenant_id,
            )
            uow.commit()
            return uow.vouchers.get(voucher_id) or voucher

    def list(
        self, principal: Principal, tenant_id: TenantId | None = None
    ) -> list[tuple[Voucher, Decimal]]:
        """Vouchers with what each paid this calendar year; a consumer sees its own."""
        require(principal, Permission.VOUCHER_READ)
        if not allows(principal.role, Permission.SEE_ALL_TENANTS):
            if tenant_id not in (None, principal.tenant_id):
                raise NotFound(f"No tenant {tenant_id!r}.", field="tenant")
            tenant_id = principal.own_tenant()
        year = self._clock.now().year
        with self._store.unit_of_work(readonly=True) as uow:
            vouchers = uow.vouchers.find(tenant_id)
            used = uow.vouchers.used_in_year([v.id for v in vouchers], year)
        return [(v, used.get(v.id, Decimal(0))) for v in vouchers]

    def report(self, principal: Principal) -> Sequence[VoucherReportRow]:
        """Issued, used and expired vouchers by the sector of their tenants."""
        require(principal, Permission.VOUCHER_READ)
        require(principal, Permission.SEE_ALL_TENANTS)
        now = self._clock.now()
        with self._store.unit_of_work(readonly=True) as uow:
            vouchers = uow.vouchers.find()
            uses = uow.vouchers.uses()
            sectors: dict[str, str] = {t.id: t.sector for t in uow.tenancy.list_tenants()}
        return voucher_report(vouchers, uses, sectors, now)
