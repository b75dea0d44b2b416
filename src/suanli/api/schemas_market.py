"""Wire schemas of the exchange, billing and vouchers. Money and quantities travel as
decimal strings ("12.50"), never as JSON numbers: a binary float must not carry money."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, Field
from pydantic_core import PydanticCustomError

from suanli.api.schemas import Strict
from suanli.domain.market import Bid, Clearing, Offer, PostedPrice, Trade
from suanli.domain.vouchers import Voucher
from suanli.logic.billing.vouchers import VoucherReportRow
from suanli.services.billing import Balance, LedgerCheck


def _decimal_text(value: object) -> object:
    """Refuse JSON numbers where a decimal string is expected, saying what to send."""
    if isinstance(value, (int, float)):  # bool is an int too
        raise PydanticCustomError(
            "decimal_string",
            'send it as a decimal string such as "12.50", not a JSON number '
            "(a binary float cannot carry money exactly)",
        )
    return value


DecimalText = Annotated[str, BeforeValidator(_decimal_text)]
"""A decimal string on the wire: money, rates, quantities, shares."""
Money = Field(max_length=32, description='a decimal string in CNY, e.g. "12.50"')


def money_text(value: Decimal) -> str:
    """CNY on the wire: fixed-point, at least two decimals, no trailing zeros beyond them
    ("10.00", "10.125", "-3.50"), whatever scale the store or the arithmetic left."""
    whole, _, frac = f"{value:f}".partition(".")
    return f"{whole}.{frac.rstrip('0').ljust(2, '0')}"


def quantity_text(value: Decimal) -> str:
    """A quantity or share on the wire: fixed-point without trailing zeros ("8", "2.5")."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


class OfferCreate(Strict):
    cluster: str = Field(max_length=63)
    model: str | None = Field(None, max_length=64, description="device model; null: CPU cores")
    start: datetime = Field(description="block start, UTC, on the hour")
    hours: int = Field(ge=1, le=744)
    lane: str = Field("reserved", max_length=16, description="reserved or preemptible")
    devices: int = Field(ge=1, le=100_000)
    reserve: DecimalText = Field(max_length=32, description='CNY per device-hour, e.g. "10.00"')


class ResellCreate(Strict):
    reserve: DecimalText = Field(max_length=32, description='CNY per device-hour, e.g. "10.00"')


class BidCreate(Strict):
    unit: str = Field(max_length=48, description="gpu:MODEL, cpu, or sch:ai|general|hpc")
    quantity: DecimalText = Field(max_length=32, description="units to buy, a decimal string")
    limit: DecimalText = Field(max_length=32, description="highest CNY per unit, a decimal string")
    products: list[str] = Field(
        min_length=1,
        max_length=64,
        description="acceptable products, e.g. sch:ai@any/2026-12-04T08:00Z+4h/reserved",
    )
    tenant: str | None = Field(None, max_length=63, description="operators: bid for a tenant")


class OfferPublic(BaseModel):
    id: str
    provider: str
    cluster: str
    model: str | None
    region: str
    product: str
    start: datetime
    hours: int
    lane: str
    devices: int
    reserve: str
    sold: str
    status: str
    resale_of: str | None
    posted_at: datetime

    @classmethod
    def of(cls, o: Offer) -> OfferPublic:
        return cls(
            id=o.id,
            provider=o.provider_id,
            cluster=o.cluster_id,
            model=o.model,
            region=o.region_id,
            product=o.supply.key,
            start=o.start,
            hours=o.hours,
            lane=o.lane.value,
            devices=o.devices,
            reserve=money_text(o.reserve),
            sold=quantity_text(o.sold),
            status=o.status.value,
            resale_of=o.resale_of,
            posted_at=o.posted_at,
        )


class BidPublic(BaseModel):
    id: str
    tenant: str
    unit: str
    quantity: str
    limit: str
    products: list[str]
    filled: str
    held: str
    status: str
    posted_at: datetime

    @classmethod
    def of(cls, b: Bid) -> BidPublic:
        return cls(
            id=b.id,
            tenant=b.tenant_id,
            unit=b.unit,
            quantity=quantity_text(b.quantity),
            limit=money_text(b.limit),
            products=[p.key for p in b.products],
            filled=quantity_text(b.filled),
            held=money_text(b.held),
            status=b.status.value,
            posted_at=b.posted_at,
        )


class TradePublic(BaseModel):
    id: str
    clearing: str
    bid: str
    offer: str
    tenant: str
    provider: str
    cluster: str
    model: str | None
    region: str
    start: datetime
    end: datetime
    lane: str
    device_hours: str
    units: str
    price: str
    amount: str
    failed_at: datetime | None
    settled: bool

    @classmethod
    def of(cls, t: Trade) -> TradePublic:
        return cls(
            id=t.id,
            clearing=t.clearing_id,
            bid=t.bid_id,
            offer=t.offer_id,
            tenant=t.tenant_id,
            provider=t.provider_id,
            cluster=t.cluster_id,
            model=t.model,
            region=t.region_id,
            start=t.start,
            end=t.end,
            lane=t.lane.value,
            device_hours=quantity_text(t.device_hours),
            units=quantity_text(t.units),
            price=money_text(t.price),
            amount=money_text(t.amount),
            failed_at=t.failed_at,
            settled=t.settled,
        )


class ClearingPublic(BaseModel):
    id: str
    at: datetime
    bids: int
    offers: int
    trades: int
    welfare: str
    prices: dict[str, str]
    reduced: list[str]

    @classmethod
    def of(cls, c: Clearing) -> ClearingPublic:
        return cls(
            id=c.id,
            at=c.at,
            bids=c.bids,
            offers=c.offers,
            trades=c.trades,
            welfare=money_text(c.welfare),
            prices={k: money_text(v) for k, v in c.prices.items()},
            reduced=list(c.reduced),
        )


class BookLevelPublic(BaseModel):
    product: str
    reserve: str
    device_hours: str


class BookPublic(BaseModel):
    asks: list[BookLevelPublic]
    bids_open: int
    bid_quantity: dict[str, str]
    own_bids: list[BidPublic]
    own_offers: list[OfferPublic]


class PostedPricePublic(BaseModel):
    cluster: str
    resource: str
    lane: str
    price: str
    floor: str
    utilisation: float
    updated_at: datetime

    @classmethod
    def of(cls, p: PostedPrice) -> PostedPricePublic:
        return cls(
            cluster=p.cluster_id,
            resource=p.resource,
            lane=p.lane.value,
            price=money_text(p.price),
            floor=money_text(p.floor),
            utilisation=p.utilisation,
            updated_at=p.updated_at,
        )


class PricesPublic(BaseModel):
    posted: list[PostedPricePublic]
    last_clearing: ClearingPublic | None


class BalancePublic(BaseModel):
    tenant: str
    cash: str
    escrow: str
    credit: str
    available: str
    payable: str

    @classmethod
    def of(cls, b: Balance) -> BalancePublic:
        return cls(
            tenant=b.tenant_id,
            cash=money_text(b.cash),
            escrow=money_text(b.escrow),
            credit=money_text(b.credit),
            available=money_text(b.available),
            payable=money_text(b.payable),
        )


class ProviderBalancePublic(BaseModel):
    provider: str
    payable: str


class DepositCreate(Strict):
    tenant: str = Field(max_length=63)
    amount: DecimalText = Money
    reference: str = Field(max_length=100, description="the bank transfer's reference")


class CreditSet(Strict):
    credit: DecimalText = Money


class PayoutCreate(Strict):
    provider: str = Field(max_length=63)
    amount: DecimalText = Money
    reference: str = Field(max_length=100, description="the bank transfer's reference")


class LedgerCheckPublic(BaseModel):
    ok: bool
    total: str
    postings: int
    unbalanced: list[str]
    negative_escrow: list[str]

    @classmethod
    def of(cls, c: LedgerCheck) -> LedgerCheckPublic:
        return cls(
            ok=c.ok,
            total=money_text(c.total),
            postings=c.postings,
            unbalanced=list(c.unbalanced),
            negative_escrow=list(c.negative_escrow),
        )


class StatementLinePublic(BaseModel):
    at: datetime
    kind: str
    account: str
    amount: str
    memo: str
    key: str


class StatementPublic(BaseModel):
    tenant: str
    month: str
    opening: str
    closing: str
    totals: dict[str, str]
    lines: list[StatementLinePublic]


class VoucherCreate(Strict):
    tenant: str = Field(max_length=63)
    share: DecimalText = Field(max_length=16, description='part of each invoice paid, e.g. "0.2"')
    cap_per_invoice: DecimalText = Money
    cap_per_year: DecimalText = Money
    expires: datetime = Field(description="when it lapses (UTC)")
    providers: list[str] = Field(default_factory=list, max_length=100)
    sectors: list[str] = Field(default_factory=list, max_length=20)
    sizes: list[str] = Field(default_factory=list, max_length=5)
    note: str = Field("", max_length=500)


class VoucherPublic(BaseModel):
    id: str
    tenant: str
    share: str
    cap_per_invoice: str
    cap_per_year: str
    used_this_year: str
    issued_at: datetime
    expires_at: datetime
    providers: list[str]
    note: str
    revoked_at: datetime | None

    @classmethod
    def of(cls, v: Voucher, used: Decimal) -> VoucherPublic:
        return cls(
            id=v.id,
            tenant=v.tenant_id,
            share=quantity_text(v.share),
            cap_per_invoice=money_text(v.cap_per_invoice),
            cap_per_year=money_text(v.cap_per_year),
            used_this_year=money_text(used),
            issued_at=v.issued_at,
            expires_at=v.expires_at,
            providers=list(v.providers),
            note=v.note,
            revoked_at=v.revoked_at,
        )


class VoucherReportPublic(BaseModel):
    sector: str
    issued: int
    issued_caps: str
    used: str
    uses: int
    expired: int
    expired_unused: str

    @classmethod
    def of(cls, r: VoucherReportRow) -> VoucherReportPublic:
        return cls(
            sector=r.sector,
            issued=r.issued,
            issued_caps=money_text(r.issued_caps),
            used=money_text(r.used),
            uses=r.uses,
            expired=r.expired,
            expired_unused=money_text(r.expired_unused),
        )
