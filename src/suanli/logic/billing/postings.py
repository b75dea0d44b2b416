"""Ledger postings of every money movement (docs/exchange.md, "Money").

Each builder returns one balanced `Posting` in whole fen. Where an amount is split (a
fee, a refund), the rounded parts are computed first and the last part is the remainder,
so rounding can never unbalance a posting.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from decimal import Decimal

from suanli.domain.ids import ProviderId, TenantId
from suanli.domain.ledger import (
    CITY_SUBSIDY,
    EXTERNAL_BANK,
    PLATFORM_REVENUE,
    TRADES_HELD,
    Posting,
    posting,
    provider_payable,
    tenant_cash,
    tenant_escrow,
    tenant_payable,
)
from suanli.domain.market import Trade
from suanli.domain.money import round_fen

_US = timedelta(microseconds=1)


def _moves(*pairs: tuple[str, Decimal]) -> dict[str, Decimal]:
    """Sum amounts per account (an account may appear twice in one movement)."""
    out: dict[str, Decimal] = {}
    for account, amount in pairs:
        out[account] = out.get(account, Decimal(0)) + amount
    return out


def transfer(
    key: str,
    at: datetime,
    kind: str,
    memo: str,
    source: str,
    dest: str,
    amount: Decimal,
    *,
    tenant: TenantId | None,
    refs: Mapping[str, str],
) -> Posting:
    """`amount` from one account to another."""
    return posting(
        key, at, kind, memo, _moves((source, -amount), (dest, amount)), tenant_id=tenant, refs=refs
    )


def deposit(
    key: str, at: datetime, tenant: TenantId, amount: Decimal, memo: str, refs: Mapping[str, str]
) -> Posting:
    """Money received from a tenant."""
    return transfer(
        key,
        at,
        "deposit",
        memo,
        EXTERNAL_BANK,
        tenant_cash(tenant),
        amount,
        tenant=tenant,
        refs=refs,
    )


def hold(
    key: str, at: datetime, tenant: TenantId, amount: Decimal, memo: str, refs: Mapping[str, str]
) -> Posting:
    """Cash into escrow (for a bid or a starting job)."""
    return transfer(
        key,
        at,
        "hold",
        memo,
        tenant_cash(tenant),
        tenant_escrow(tenant),
        amount,
        tenant=tenant,
        refs=refs,
    )


def release(
    key: str, at: datetime, tenant: TenantId, amount: Decimal, memo: str, refs: Mapping[str, str]
) -> Posting:
    """Escrow back to cash."""
    return transfer(
        key,
        at,
        "release",
        memo,
        tenant_escrow(tenant),
        tenant_cash(tenant),
        amount,
        tenant=tenant,
        refs=refs,
    )


def payout(
    key: str,
    at: datetime,
    provider: ProviderId,
    amount: Decimal,
    memo: str,
    refs: Mapping[str, str],
) -> Posting:
    """Money paid out to a provider."""
    return transfer(
        key,
        at,
        "payout",
        memo,
        provider_payable(provider),
        EXTERNAL_BANK,
        amount,
        tenant=None,
        refs=refs,
    )


def subsidy(
    key: str, at: datetime, tenant: TenantId, amount: Decimal, memo: str, refs: Mapping[str, str]
) -> Posting:
    """A voucher's payment: the city's money into the tenant's cash."""
    return transfer(
        key,
        at,
        "subsidy",
        memo,
        CITY_SUBSIDY,
        tenant_cash(tenant),
        amount,
        tenant=tenant,
        refs=refs,
    )


def fee_of(amount: Decimal, fee_rate: Decimal) -> Decimal:
    return round_fen(amount * fee_rate)


def settlement(
    key: str,
    at: datetime,
    tenant: TenantId,
    provider: ProviderId,
    *,
    charge: Decimal,
    hold: Decimal,
    fee_rate: Decimal,
    memo: str,
    refs: Mapping[str, str],
) -> Posting:
    """An attempt's settlement: its whole hold leaves escrow, the charge goes to the
    provider less the platform fee, and cash gets back the hold less the charge (or
    pays the difference when the charge exceeds the hold)."""
    fee = fee_of(charge, fee_rate)
    return posting(
        key,
        at,
        "settle",
        memo,
        _moves(
            (tenant_escrow(tenant), -hold),
            (tenant_cash(tenant), hold - charge),
            (provider_payable(provider), charge - fee),
            (PLATFORM_REVENUE, fee),
        ),
        tenant_id=tenant,
        refs=refs,
    )


def trade_purchase(
    key: str,
    at: datetime,
    tenant: TenantId,
    amount: Decimal,
    from_escrow: Decimal,
    memo: str,
    refs: Mapping[str, str],
) -> Posting:
    """A block bought at clearing: paid from the bid's hold (cash covers what rounding
    left short), held by the platform until the block is delivered."""
    return posting(
        key,
        at,
        "trade",
        memo,
        _moves(
            (tenant_escrow(tenant), -from_escrow),
            (tenant_cash(tenant), from_escrow - amount),
            (TRADES_HELD, amount),
        ),
        tenant_id=tenant,
        refs=refs,
    )


def block_settlement(
    trade: Trade, fee_rate: Decimal, penalty_rate: Decimal, at: datetime
) -> Iterator[Posting]:
    """Postings settling a block after its end: the delivered part to its seller less
    the fee (a provider, or the reselling tenant); if the provider failed it, the
    undelivered part (pro rata from the failure to the block's end) back to the buyer,
    and a penalty from the provider to the buyer. A free block (amount 0) moves nothing."""
    amount = trade.amount
    if amount == 0:
        return
    refund = Decimal(0)
    if trade.failed_at is not None:
        # Whole microseconds, so the share is exact (no float reaches an amount).
        lost = max(timedelta(0), trade.end - max(trade.failed_at, trade.start)) // _US
        refund = min(amount, round_fen(amount * lost / (trade.hours * 3600 * 1_000_000)))
    delivered = amount - refund
    fee = fee_of(delivered, fee_rate)
    seller = (
        tenant_payable(trade.seller_tenant)
        if trade.seller_tenant
        else provider_payable(trade.provider_id)
    )
    refs = {"trade": trade.id}
    yield posting(
        f"block:{trade.id}",
        at,
        "block",
        f"Block {trade.id} settled"
        + (f"; {refund} refunded (provider failed it)" if refund else ""),
        _moves(
            (TRADES_HELD, -amount),
            (seller, delivered - fee),
            (PLATFORM_REVENUE, fee),
            (tenant_cash(trade.tenant_id), refund),
        ),
        tenant_id=trade.tenant_id,
        refs=refs,
    )
    if trade.failed_at is not None:
        penalty = round_fen(amount * penalty_rate)
        if penalty > 0:
            yield posting(
                f"penalty:{trade.id}",
                at,
                "penalty",
                f"Penalty for failed block {trade.id}",
                _moves(
                    (provider_payable(trade.provider_id), -penalty),
                    (tenant_cash(trade.tenant_id), penalty),
                ),
                tenant_id=trade.tenant_id,
                refs=refs,
            )
