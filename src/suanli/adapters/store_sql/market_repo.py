"""SQL repository of the exchange: offers, bids, clearings, trades, posted prices."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Column, Select, Table, and_, insert, select, text, update
from sqlalchemy.engine import Connection

from suanli.adapters.store_sql.decimals import e4, fen, from_e4, from_fen, from_micro, micro
from suanli.adapters.store_sql.tables import bids, clearings, offers, posted_prices, trades
from suanli.domain.ids import ClusterId, ProviderId, RegionId, TenantId, UserId
from suanli.domain.market import (
    Bid,
    BidId,
    Clearing,
    ClearingId,
    Lane,
    Offer,
    OfferId,
    OrderStatus,
    PostedPrice,
    Trade,
    TradeId,
    parse_product,
)


def _offer(r: Any) -> Offer:
    return Offer(
        id=OfferId(r.id),
        provider_id=ProviderId(r.provider_id),
        cluster_id=ClusterId(r.cluster_id),
        model=r.model,
        region_id=RegionId(r.region_id),
        start=r.start,
        hours=r.hours,
        lane=Lane(r.lane),
        devices=r.devices,
        reserve=from_e4(r.reserve_e4),
        posted_at=r.posted_at,
        posted_by=UserId(r.posted_by) if r.posted_by else None,
        status=OrderStatus(r.status),
        sold=from_micro(r.sold_u),
        resale_of=TradeId(r.resale_of) if r.resale_of else None,
        seller_tenant=TenantId(r.seller_tenant) if r.seller_tenant else None,
    )


def _bid(r: Any) -> Bid:
    return Bid(
        id=BidId(r.id),
        tenant_id=TenantId(r.tenant_id),
        user_id=UserId(r.user_id) if r.user_id else None,
        unit=r.unit,
        quantity=from_micro(r.quantity_u),
        limit=from_e4(r.limit_e4),
        products=tuple(parse_product(p) for p in r.products),
        posted_at=r.posted_at,
        status=OrderStatus(r.status),
        filled=from_micro(r.filled_u),
        held=from_fen(r.held_fen),
    )


def _trade(r: Any) -> Trade:
    return Trade(
        id=TradeId(r.id),
        clearing_id=ClearingId(r.clearing_id),
        bid_id=BidId(r.bid_id),
        offer_id=OfferId(r.offer_id),
        tenant_id=TenantId(r.tenant_id),
        provider_id=ProviderId(r.provider_id),
        cluster_id=ClusterId(r.cluster_id),
        model=r.model,
        region_id=RegionId(r.region_id),
        start=r.start,
        hours=r.hours,
        lane=Lane(r.lane),
        device_hours=from_micro(r.device_hours_u),
        units=from_micro(r.units_u),
        price=from_e4(r.price_e4),
        amount=from_fen(r.amount_fen),
        at=r.at,
        seller_tenant=TenantId(r.seller_tenant) if r.seller_tenant else None,
        failed_at=r.failed_at,
        settled=r.settled,
    )


def _orders(
    table: Table,
    statuses: tuple[OrderStatus, ...],
    owner: Column[Any],
    value: str | None,
    limit: int,
) -> Select[Any]:
    """Offers or bids in these statuses (all if none) of one owner (all if None), oldest
    first: the time priority the auction honours."""
    query = select(table)
    if statuses:
        query = query.where(table.c.status.in_([s.value for s in statuses]))
    if value is not None:
        query = query.where(owner == value)
    return query.order_by(table.c.posted_at, table.c.id).limit(limit)


MARKET_LOCK = 0x5_1A_2D_11
"""The advisory lock key of the exchange (any constant no other lock uses)."""


class SqlMarketRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn
        self._for_update = conn.dialect.name != "sqlite"  # SQLite locks the whole file

    def lock(self) -> None:
        # PostgreSQL: a transaction-scoped advisory lock; SQLite's single writer (the
        # store's write lock, held for every writing unit of work) already serialises.
        if self._c.dialect.name == "postgresql":
            self._c.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MARKET_LOCK})

    def add_offer(self, offer: Offer) -> None:
        self._c.execute(
            insert(offers).values(
                id=offer.id,
                provider_id=offer.provider_id,
                cluster_id=offer.cluster_id,
                model=offer.model,
                region_id=offer.region_id,
                start=offer.start,
                hours=offer.hours,
                lane=offer.lane.value,
                devices=offer.devices,
                reserve_e4=e4(offer.reserve),
                posted_at=offer.posted_at,
                posted_by=offer.posted_by,
                status=offer.status.value,
                sold_u=micro(offer.sold),
                resale_of=offer.resale_of,
                seller_tenant=offer.seller_tenant,
            )
        )

    def get_offer(self, offer_id: OfferId, *, for_update: bool = False) -> Offer | None:
        query = select(offers).where(offers.c.id == offer_id)
        if for_update and self._for_update:
            query = query.with_for_update()
        row = self._c.execute(query).first()
        return _offer(row) if row else None

    def save_offer(self, offer: Offer) -> None:
        self._c.execute(
            update(offers)
            .where(offers.c.id == offer.id)
            .values(status=offer.status.value, sold_u=micro(offer.sold))
        )

    def list_offers(
        self,
        *,
        statuses: tuple[OrderStatus, ...] = (),
        provider_id: ProviderId | None = None,
        limit: int = 1000,
    ) -> list[Offer]:
        query = _orders(offers, statuses, offers.c.provider_id, provider_id, limit)
        return [_offer(r) for r in self._c.execute(query)]

    def add_bid(self, bid: Bid) -> None:
        self._c.execute(
            insert(bids).values(
                id=bid.id,
                tenant_id=bid.tenant_id,
                user_id=bid.user_id,
                unit=bid.unit,
                quantity_u=micro(bid.quantity),
                limit_e4=e4(bid.limit),
                products=[p.key for p in bid.products],
                posted_at=bid.posted_at,
                status=bid.status.value,
                filled_u=micro(bid.filled),
                held_fen=fen(bid.held),
            )
        )

    def get_bid(self, bid_id: BidId, *, for_update: bool = False) -> Bid | None:
        query = select(bids).where(bids.c.id == bid_id)
        if for_update and self._for_update:
            query = query.with_for_update()
        row = self._c.execute(query).first()
        return _bid(row) if row else None

    def save_bid(self, bid: Bid) -> None:
        self._c.execute(
            update(bids)
            .where(bids.c.id == bid.id)
            .values(status=bid.status.value, filled_u=micro(bid.filled), held_fen=fen(bid.held))
        )

    def list_bids(
        self,
        *,
        statuses: tuple[OrderStatus, ...] = (),
        tenant_id: TenantId | None = None,
        limit: int = 1000,
    ) -> list[Bid]:
        query = _orders(bids, statuses, bids.c.tenant_id, tenant_id, limit)
        return [_bid(r) for r in self._c.execute(query)]

    def add_clearing(self, clearing: Clearing) -> None:
        self._c.execute(
            insert(clearings).values(
                id=clearing.id,
                at=clearing.at,
                bids=clearing.bids,
                offers=clearing.offers,
                trades=clearing.trades,
                welfare_fen=fen(clearing.welfare),
                prices={k: str(v) for k, v in clearing.prices.items()},
                reduced=list(clearing.reduced),
            )
        )

    def list_clearings(self, limit: int = 20) -> list[Clearing]:
        query = select(clearings).order_by(clearings.c.at.desc(), clearings.c.id.desc())
        return [
            Clearing(
                id=ClearingId(r.id),
                at=r.at,
                bids=r.bids,
                offers=r.offers,
                trades=r.trades,
                welfare=from_fen(r.welfare_fen),
                prices={k: Decimal(v) for k, v in r.prices.items()},
                reduced=tuple(r.reduced),
            )
            for r in self._c.execute(query.limit(limit))
        ]

    def add_trades(self, items: Sequence[Trade]) -> None:
        if not items:
            return
        self._c.execute(
            insert(trades),
            [
                {
                    "id": t.id,
                    "clearing_id": t.clearing_id,
                    "bid_id": t.bid_id,
                    "offer_id": t.offer_id,
                    "tenant_id": t.tenant_id,
                    "provider_id": t.provider_id,
                    "cluster_id": t.cluster_id,
                    "model": t.model,
                    "region_id": t.region_id,
                    "start": t.start,
                    "hours": t.hours,
                    "lane": t.lane.value,
                    "device_hours_u": micro(t.device_hours),
                    "units_u": micro(t.units),
                    "price_e4": e4(t.price),
                    "amount_fen": fen(t.amount),
                    "at": t.at,
                    "seller_tenant": t.seller_tenant,
                    "failed_at": t.failed_at,
                    "settled": t.settled,
                }
                for t in items
            ],
        )

    def get_trade(self, trade_id: TradeId, *, for_update: bool = False) -> Trade | None:
        query = select(trades).where(trades.c.id == trade_id)
        if for_update and self._for_update:
            query = query.with_for_update()
        row = self._c.execute(query).first()
        return _trade(row) if row else None

    def save_trade(self, trade: Trade) -> None:
        self._c.execute(
            update(trades)
            .where(trades.c.id == trade.id)
            .values(failed_at=trade.failed_at, settled=trade.settled)
        )

    def list_trades(
        self,
        *,
        tenant_id: TenantId | None = None,
        provider_id: ProviderId | None = None,
        cluster_id: ClusterId | None = None,
        active_at: datetime | None = None,
        ended_before: datetime | None = None,
        settled: bool | None = None,
        limit: int = 1000,
    ) -> list[Trade]:
        query = select(trades)
        if tenant_id is not None:
            query = query.where(trades.c.tenant_id == tenant_id)
        if provider_id is not None:
            query = query.where(trades.c.provider_id == provider_id)
        if cluster_id is not None:
            query = query.where(trades.c.cluster_id == cluster_id)
        if settled is not None:
            query = query.where(trades.c.settled == settled)
        rows = [_trade(r) for r in self._c.execute(query.order_by(trades.c.start, trades.c.id))]
        # block ends are start + hours: filtered here, where every backend can add hours
        if active_at is not None:
            rows = [t for t in rows if t.start <= active_at < t.end]
        if ended_before is not None:
            rows = [t for t in rows if t.end <= ended_before]
        return rows[:limit]

    def set_posted_price(self, price: PostedPrice) -> None:
        key = and_(
            posted_prices.c.cluster_id == price.cluster_id,
            posted_prices.c.resource == price.resource,
            posted_prices.c.lane == price.lane.value,
        )
        values = {
            "price_e4": e4(price.price),
            "floor_e4": e4(price.floor),
            "utilisation": price.utilisation,
            "updated_at": price.updated_at,
        }
        if self._c.execute(update(posted_prices).where(key).values(**values)).rowcount == 0:
            self._c.execute(
                insert(posted_prices).values(
                    cluster_id=price.cluster_id,
                    resource=price.resource,
                    lane=price.lane.value,
                    **values,
                )
            )

    def list_posted_prices(self, cluster_id: ClusterId | None = None) -> list[PostedPrice]:
        query = select(posted_prices)
        if cluster_id is not None:
            query = query.where(posted_prices.c.cluster_id == cluster_id)
        query = query.order_by(
            posted_prices.c.cluster_id, posted_prices.c.resource, posted_prices.c.lane
        )
        return [
            PostedPrice(
                cluster_id=ClusterId(r.cluster_id),
                resource=r.resource,
                lane=Lane(r.lane),
                price=from_e4(r.price_e4),
                floor=from_e4(r.floor_e4),
                utilisation=r.utilisation,
                updated_at=r.updated_at,
            )
            for r in self._c.execute(query)
        ]
