"""The compute exchange: offers, sealed bids, the book, clearings, trades, prices."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from suanli.api.access import Scope, access
from suanli.api.schemas_market import (
    BidCreate,
    BidPublic,
    BookLevelPublic,
    BookPublic,
    ClearingPublic,
    OfferCreate,
    OfferPublic,
    PostedPricePublic,
    PricesPublic,
    ResellCreate,
    TradePublic,
    money_text,
    quantity_text,
)
from suanli.api.security import Caller, Plat
from suanli.domain.ids import ClusterId, TenantId
from suanli.domain.market import BidId, OfferId, TradeId, parse_product
from suanli.domain.permissions import Permission

router = APIRouter(prefix="/market", tags=["market"])


def utc(value: datetime) -> datetime:
    """Naive times are read as UTC (the unit of all stored times)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@router.post("/offers", status_code=201, response_model=OfferPublic)
@access(Permission.MARKET_OFFER, Scope.PROVIDER)
def post_offer(body: OfferCreate, caller: Caller, plat: Plat) -> OfferPublic:
    """Offer devices of one of your clusters for a block at a reserve price (CNY per
    device-hour)."""
    offer = plat.exchange.post_offer(
        caller,
        cluster_id=ClusterId(body.cluster),
        model=body.model,
        start=utc(body.start),
        hours=body.hours,
        lane=body.lane,
        devices=body.devices,
        reserve=body.reserve,
    )
    return OfferPublic.of(offer)


@router.delete("/offers/{offer_id}", response_model=OfferPublic)
@access(Permission.MARKET_OFFER, Scope.PROVIDER)
def withdraw_offer(offer_id: str, caller: Caller, plat: Plat) -> OfferPublic:
    """Withdraw an open offer (its provider's admin, or the operator)."""
    return OfferPublic.of(plat.exchange.withdraw_offer(caller, OfferId(offer_id)))


@router.post("/bids", status_code=201, response_model=BidPublic)
@access(Permission.MARKET_BID, Scope.TENANT)
def post_bid(body: BidCreate, caller: Caller, plat: Plat) -> BidPublic:
    """A sealed bid; its maximum cost (quantity x limit) is held from your balance."""
    bid = plat.exchange.post_bid(
        caller,
        unit=body.unit,
        quantity=body.quantity,
        limit=body.limit,
        products=[parse_product(p) for p in body.products],
        tenant_id=TenantId(body.tenant) if body.tenant else None,
    )
    return BidPublic.of(bid)


@router.delete("/bids/{bid_id}", response_model=BidPublic)
@access(Permission.MARKET_BID, Scope.TENANT)
def withdraw_bid(bid_id: str, caller: Caller, plat: Plat) -> BidPublic:
    """Withdraw an open bid; what it still holds is released."""
    return BidPublic.of(plat.exchange.withdraw_bid(caller, BidId(bid_id)))


@router.post("/trades/{trade_id}/resell", status_code=201, response_model=OfferPublic)
@access(Permission.MARKET_BID, Scope.TENANT)
def resell(trade_id: str, body: ResellCreate, caller: Caller, plat: Plat) -> OfferPublic:
    """Offer a won block that has not begun onward, at a reserve."""
    return OfferPublic.of(plat.exchange.resell(caller, TradeId(trade_id), body.reserve))


@router.get("/book", response_model=BookPublic)
@access(Permission.MARKET_READ, Scope.POOL)
def book(caller: Caller, plat: Plat) -> BookPublic:
    """Open offers by product and reserve; bids are sealed (counts and totals only),
    except your own."""
    b = plat.exchange.book(caller)
    return BookPublic(
        asks=[
            BookLevelPublic(
                product=a.product,
                reserve=money_text(a.price),
                device_hours=quantity_text(a.quantity),
            )
            for a in b.asks
        ],
        bids_open=b.bids_open,
        bid_quantity={k: quantity_text(v) for k, v in b.bid_quantity.items()},
        own_bids=[BidPublic.of(x) for x in b.own_bids],
        own_offers=[OfferPublic.of(x) for x in b.own_offers],
    )


@router.get("/trades", response_model=list[TradePublic])
@access(Permission.MARKET_READ, Scope.TENANT)
def trades(caller: Caller, plat: Plat, tenant: str | None = None) -> list[TradePublic]:
    """Your tenant's trades (a provider: its sales; operators and auditors: all)."""
    found = plat.exchange.trades(caller, tenant_id=TenantId(tenant) if tenant else None)
    return [TradePublic.of(t) for t in found]


@router.get("/prices", response_model=PricesPublic)
@access(Permission.MARKET_READ, Scope.POOL)
def prices(caller: Caller, plat: Plat) -> PricesPublic:
    """Posted on-demand and preemptible prices, and the last clearing's prices."""
    posted, last = plat.exchange.prices(caller)
    return PricesPublic(
        posted=[PostedPricePublic.of(p) for p in posted],
        last_clearing=ClearingPublic.of(last) if last else None,
    )


@router.get("/clearings", response_model=list[ClearingPublic])
@access(Permission.MARKET_READ, Scope.POOL)
def clearings(caller: Caller, plat: Plat) -> list[ClearingPublic]:
    """The latest clearings, newest first."""
    return [ClearingPublic.of(c) for c in plat.exchange.clearings(caller)]


@router.post("/clear", response_model=ClearingPublic)
@access(Permission.MARKET_CLEAR, Scope.PLATFORM)
def clear(caller: Caller, plat: Plat) -> ClearingPublic:
    """Clear the call auction now (operator)."""
    return ClearingPublic.of(plat.exchange.clear(caller))
