"""Money: balances, deposits, credit lines, payouts, statements, the ledger check, and
vouchers (算力券)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Response

from suanli.api.access import Scope, access
from suanli.api.routes.market import utc
from suanli.api.schemas_market import (
    BalancePublic,
    CreditSet,
    DepositCreate,
    LedgerCheckPublic,
    PayoutCreate,
    ProviderBalancePublic,
    StatementLinePublic,
    StatementPublic,
    VoucherCreate,
    VoucherPublic,
    VoucherReportPublic,
    money_text,
)
from suanli.api.security import Caller, Plat
from suanli.domain.errors import InvalidInput
from suanli.domain.ids import ProviderId, TenantId
from suanli.domain.permissions import Permission
from suanli.domain.vouchers import VoucherId
from suanli.logic.billing.statements import render_csv, render_html
from suanli.services.vouchers import VoucherTerms

router = APIRouter(tags=["billing"])


@router.get("/billing/balance", response_model=BalancePublic)
@access(Permission.BILLING_READ, Scope.TENANT)
def balance(caller: Caller, plat: Plat, tenant: str | None = None) -> BalancePublic:
    """Your tenant's cash, escrow, credit line and what is available to hold."""
    return BalancePublic.of(plat.billing.balance(caller, TenantId(tenant) if tenant else None))


@router.get("/billing/providers/{provider_id}/balance", response_model=ProviderBalancePublic)
@access(Permission.EARNINGS_READ, Scope.PROVIDER)
def provider_balance(provider_id: str, caller: Caller, plat: Plat) -> ProviderBalancePublic:
    """What the platform owes a provider (its own for a provider admin)."""
    owed = plat.billing.provider_balance(caller, ProviderId(provider_id))
    return ProviderBalancePublic(provider=provider_id, payable=money_text(owed))


@router.post("/billing/deposits", status_code=201, response_model=BalancePublic)
@access(Permission.BILLING_WRITE, Scope.PLATFORM)
def deposit(body: DepositCreate, caller: Caller, plat: Plat) -> BalancePublic:
    """Record money received from a tenant (idempotent by its reference)."""
    result = plat.billing.deposit(
        caller, TenantId(body.tenant), body.amount, reference=body.reference
    )
    return BalancePublic.of(result)


@router.put("/billing/credit/{tenant_id}", response_model=BalancePublic)
@access(Permission.BILLING_WRITE, Scope.PLATFORM)
def set_credit(tenant_id: str, body: CreditSet, caller: Caller, plat: Plat) -> BalancePublic:
    """Set a tenant's credit line."""
    return BalancePublic.of(plat.billing.set_credit(caller, TenantId(tenant_id), body.credit))


@router.post("/billing/payouts", status_code=201, response_model=ProviderBalancePublic)
@access(Permission.BILLING_WRITE, Scope.PLATFORM)
def payout(body: PayoutCreate, caller: Caller, plat: Plat) -> ProviderBalancePublic:
    """Record money paid out to a provider (at most what it is owed)."""
    owed = plat.billing.payout(
        caller, ProviderId(body.provider), body.amount, reference=body.reference
    )
    return ProviderBalancePublic(provider=body.provider, payable=money_text(owed))


FORMATS = ("json", "csv", "html")


@router.get(
    "/billing/statement",
    response_model=StatementPublic,
    responses={200: {"content": {"text/csv": {}, "text/html": {}}}},
)
@access(Permission.BILLING_READ, Scope.TENANT)
def statement(
    caller: Caller,
    plat: Plat,
    month: Annotated[str, Query(description="YYYY-MM (UTC)", max_length=7)],
    tenant: str | None = None,
    format: Annotated[str, Query(description="json, csv or html")] = "json",
) -> StatementPublic | Response:
    """A tenant's monthly statement: opening and closing balances and every entry."""
    if format not in FORMATS:
        raise InvalidInput(
            f"Unknown format {format!r}.", field="format", hint="use json, csv or html."
        )
    s = plat.billing.statement(caller, TenantId(tenant) if tenant else None, month)
    if format == "csv":
        name = f"statement-{s.tenant_id}-{s.month}.csv"
        return Response(
            render_csv(s),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    if format == "html":
        return Response(render_html(s), media_type="text/html; charset=utf-8")
    return StatementPublic(
        tenant=s.tenant_id,
        month=s.month,
        opening=money_text(s.opening),
        closing=money_text(s.closing),
        totals={k: money_text(v) for k, v in s.totals().items()},
        lines=[
            StatementLinePublic(
                at=x.at,
                kind=x.kind,
                account=x.account,
                amount=money_text(x.amount),
                memo=x.memo,
                key=x.key,
            )
            for x in s.lines
        ],
    )


@router.get("/ledger/check", response_model=LedgerCheckPublic)
@access(Permission.LEDGER_CHECK, Scope.PLATFORM)
def ledger_check(caller: Caller, plat: Plat) -> LedgerCheckPublic:
    """Verify the whole ledger sums to zero and no escrow is negative."""
    return LedgerCheckPublic.of(plat.billing.check(caller))


@router.post("/vouchers", status_code=201, response_model=VoucherPublic)
@access(Permission.VOUCHER_WRITE, Scope.PLATFORM)
def issue_voucher(body: VoucherCreate, caller: Caller, plat: Plat) -> VoucherPublic:
    """Issue a voucher to an eligible tenant (operator)."""
    voucher = plat.vouchers.issue(
        caller,
        VoucherTerms(
            TenantId(body.tenant),
            body.share,
            body.cap_per_invoice,
            body.cap_per_year,
            utc(body.expires),
            providers=tuple(ProviderId(p) for p in body.providers),
            sectors=tuple(body.sectors),
            sizes=tuple(body.sizes),
            note=body.note,
        ),
    )
    return VoucherPublic.of(voucher, Decimal(0))


@router.get("/vouchers", response_model=list[VoucherPublic])
@access(Permission.VOUCHER_READ, Scope.TENANT)
def list_vouchers(caller: Caller, plat: Plat, tenant: str | None = None) -> list[VoucherPublic]:
    """Vouchers with what each paid this year (a consumer: its own tenant's)."""
    found = plat.vouchers.list(caller, TenantId(tenant) if tenant else None)
    return [VoucherPublic.of(v, used) for v, used in found]


@router.delete("/vouchers/{voucher_id}", response_model=VoucherPublic)
@access(Permission.VOUCHER_WRITE, Scope.PLATFORM)
def revoke_voucher(voucher_id: str, caller: Caller, plat: Plat) -> VoucherPublic:
    """Revoke a voucher: it pays nothing from now on (what it paid this year stays)."""
    voucher = plat.vouchers.revoke(caller, VoucherId(voucher_id))
    used = {v.id: u for v, u in plat.vouchers.list(caller, voucher.tenant_id)}
    return VoucherPublic.of(voucher, used.get(voucher.id, Decimal(0)))


@router.get("/vouchers/report", response_model=list[VoucherReportPublic])
@access(Permission.SEE_ALL_TENANTS, Scope.PLATFORM)
def voucher_report(caller: Caller, plat: Plat) -> list[VoucherReportPublic]:
    """Vouchers issued, used and expired, by the sector of their tenants."""
    return [VoucherReportPublic.of(r) for r in plat.vouchers.report(caller)]
