"""The compute exchange's vocabulary: lanes, products, offers, bids, trades.

A *product* is a resource for a time block in a lane, in a region or in any region:
``gpu:H100@zhengzhou/2026-12-04T08:00Z+4h/reserved``. The resource is a device model
(``gpu:MODEL``, quantities in device-hours), CPU cores (``cpu``, core-hours) or a
workload class of the metering standard (``sch:ai``, quantities in standard compute-hours,
which clear against any device by its rating in that class).

Providers *offer* whole devices of one cluster for a block (a supply product: a device
model in the cluster's region); buyers *bid* a quantity in one unit, a limit price per
unit and the set of products they would accept. Each call auction clears open bids and
offers to maximise welfare with one price per supply product (CNY per device-hour); a
trade is one bid's fill from one offer. See docs/exchange.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import NewType

from suanli.domain.devices import canonical_gpu_model
from suanli.domain.errors import InvalidInput
from suanli.domain.ids import ClusterId, ProviderId, RegionId, TenantId, UserId

OfferId = NewType("OfferId", str)
BidId = NewType("BidId", str)
TradeId = NewType("TradeId", str)
ClearingId = NewType("ClearingId", str)

OFFER_PREFIX = "o-"
BID_PREFIX = "b-"
TRADE_PREFIX = "tr-"
CLEARING_PREFIX = "cl-"

MAX_BLOCK_HOURS = 744
"""A block is at most a month (31 days)."""
MAX_PRODUCTS_PER_BID = 64


class Lane(StrEnum):
    RESERVED = "reserved"
    """A block held for the buyer: its jobs start first there; others only backfill
    preemptibly."""
    ON_DEMAND = "on_demand"
    """No block: a job pays the posted price while it runs."""
    PREEMPTIBLE = "preemptible"
    """Capacity that may be taken back at any time, at a lower price."""


AUCTION_LANES = (Lane.RESERVED, Lane.PREEMPTIBLE)
"""Lanes traded in blocks by the call auction; on-demand has posted prices only."""
POSTED_LANES = (Lane.ON_DEMAND, Lane.PREEMPTIBLE)
"""Lanes with a posted price per cluster and device model."""


class OrderStatus(StrEnum):
    OPEN = "open"
    FILLED = "filled"
    """Wholly traded (a bid) or sold out (an offer)."""
    CLOSED = "closed"
    """Partly traded or not at all when its block began; the rest lapsed."""
    WITHDRAWN = "withdrawn"


CPU = "cpu"
GPU_PREFIX = "gpu:"
SCH_PREFIX = "sch:"
_RESOURCE = re.compile(r"^(cpu|gpu:[A-Za-z0-9][A-Za-z0-9._-]{0,39}|sch:(ai|general|hpc))$")
_PRODUCT = re.compile(
    r"^(?P<res>[^@/]+)@(?P<region>[^/]+)/(?P<start>\d{4}-\d\d-\d\dT\d\d:00Z)"
    r"\+(?P<hours>\d{1,3})h/(?P<lane>[a-z_]+)$"
)
ANY_REGION = "any"


def parse_resource(text: str) -> str:
    """``cpu``, ``gpu:MODEL`` (the model's canonical name: ``gpu:A100`` is
    ``gpu:A100-80GB``) or ``sch:CLASS``; raises InvalidInput otherwise."""
    if not _RESOURCE.match(text):
        raise InvalidInput(
            f"Unknown resource {text!r}.",
            field="resource",
            hint="use gpu:MODEL (e.g. gpu:H100, in device-hours), cpu (core-hours) or "
            "sch:ai / sch:general / sch:hpc (standard compute-hours of a class).",
        )
    if text.startswith(GPU_PREFIX):
        return GPU_PREFIX + canonical_gpu_model(text[len(GPU_PREFIX) :])
    return text


def is_standard(resource: str) -> bool:
    return resource.startswith(SCH_PREFIX)


def device_resource(model: str | None) -> str:
    """The supply resource of a device model (None: CPU cores)."""
    return CPU if model is None else GPU_PREFIX + model


def block_start(value: datetime) -> datetime:
    """A block start: UTC, on the hour; raises InvalidInput otherwise."""
    if value.tzinfo is None:
        raise InvalidInput(
            "A block start needs a time zone.",
            field="start",
            hint="give it in UTC, e.g. 2026-12-04T08:00Z.",
        )
    value = value.astimezone(UTC)
    if value.minute or value.second or value.microsecond:
        raise InvalidInput(
            f"A block starts on the hour, not at {value:%H:%M:%S}.",
            field="start",
            hint="round the start to a whole hour (blocks are whole hours).",
        )
    return value


def block_hours(hours: int) -> int:
    if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= MAX_BLOCK_HOURS:
        raise InvalidInput(
            f"A block lasts 1 to {MAX_BLOCK_HOURS} whole hours, not {hours!r}.",
            field="hours",
            hint="give the block length in whole hours.",
        )
    return hours


@dataclass(frozen=True, slots=True)
class Product:
    """A resource for a block in a lane, in one region or any (region None)."""

    resource: str
    region_id: RegionId | None
    start: datetime
    hours: int
    lane: Lane

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=self.hours)

    @property
    def key(self) -> str:
        region = self.region_id or ANY_REGION
        return (
            f"{self.resource}@{region}/{self.start:%Y-%m-%dT%H:00Z}+{self.hours}h/{self.lane.value}"
        )

    def accepts(self, supply: Product) -> bool:
        """Whether an offer in supply product `supply` can fill this (demand) product,
        the resource aside (a device model against a class needs a rating)."""
        return (
            self.start == supply.start
            and self.hours == supply.hours
            and self.lane == supply.lane
            and (self.region_id is None or self.region_id == supply.region_id)
        )


def make_product(
    resource: str, region_id: str | None, start: datetime, hours: int, lane: Lane | str
) -> Product:
    """A validated product (the lane must be one the auction trades)."""
    try:
        lane = Lane(lane)
    except ValueError:
        raise InvalidInput(
            f"Unknown lane {lane!r}.", field="lane", hint="use reserved or preemptible."
        ) from None
    if lane not in AUCTION_LANES:
        raise InvalidInput(
            f"The {lane.value} lane is not auctioned in blocks.",
            field="lane",
            hint="bid for reserved or preemptible blocks; on-demand capacity has posted "
            "prices (suanli market prices).",
        )
    region = None if region_id in (None, ANY_REGION) else RegionId(region_id or "")
    return Product(parse_resource(resource), region, block_start(start), block_hours(hours), lane)


def parse_product(text: str) -> Product:
    """Read a product key such as ``sch:ai@any/2026-12-04T08:00Z+4h/reserved``."""
    m = _PRODUCT.match(text.strip())
    if not m:
        raise InvalidInput(
            f"{text!r} is not a product.",
            field="products",
            hint="write RESOURCE@REGION/START+HOURSh/LANE, e.g. "
            "gpu:H100@any/2026-12-04T08:00Z+4h/reserved.",
        )
    start = datetime.strptime(m["start"], "%Y-%m-%dT%H:00Z").replace(tzinfo=UTC)
    return make_product(m["res"], m["region"], start, int(m["hours"]), m["lane"])


@dataclass(frozen=True, slots=True)
class Offer:
    """Devices of one cluster offered for a block at a reserve price (CNY per
    device-hour). A resale offer (`resale_of`) sells a tenant's won block onward; the
    proceeds go to that tenant (`seller_tenant`)."""

    id: OfferId
    provider_id: ProviderId
    cluster_id: ClusterId
    model: str | None
    """Device model; None offers CPU cores."""
    region_id: RegionId
    start: datetime
    hours: int
    lane: Lane
    devices: int
    reserve: Decimal
    posted_at: datetime
    posted_by: UserId | None = None
    status: OrderStatus = OrderStatus.OPEN
    sold: Decimal = Decimal(0)
    """Device-hours sold so far."""
    resale_of: TradeId | None = None
    seller_tenant: TenantId | None = None

    @property
    def supply(self) -> Product:
        return Product(
            device_resource(self.model), self.region_id, self.start, self.hours, self.lane
        )

    @property
    def device_hours(self) -> Decimal:
        return Decimal(self.devices * self.hours)

    @property
    def unsold(self) -> Decimal:
        return self.device_hours - self.sold


@dataclass(frozen=True, slots=True)
class Bid:
    """A sealed bid: up to `quantity` units of `unit` at no more than `limit` CNY per unit,
    from any of `products` (each priced in that unit). Its maximum cost
    (`quantity * limit`) is held in escrow from posting until it clears or lapses."""

    id: BidId
    tenant_id: TenantId
    user_id: UserId | None
    unit: str
    quantity: Decimal
    limit: Decimal
    products: tuple[Product, ...]
    posted_at: datetime
    status: OrderStatus = OrderStatus.OPEN
    filled: Decimal = Decimal(0)
    """Units bought so far."""
    held: Decimal = Decimal(0)
    """What is still held in escrow for it (CNY): its maximum cost when posted, less what
    its trades paid; released when it closes."""

    @property
    def max_cost(self) -> Decimal:
        return self.quantity * self.limit


@dataclass(frozen=True, slots=True)
class Trade:
    """One bid's fill from one offer at its product's clearing price. `units` are in the
    bid's unit; `price` is CNY per device-hour (an SCH bid pays price / rating per SCH);
    `amount` is what the buyer pays, rounded to the fen."""

    id: TradeId
    clearing_id: ClearingId
    bid_id: BidId
    offer_id: OfferId
    tenant_id: TenantId
    provider_id: ProviderId
    cluster_id: ClusterId
    model: str | None
    region_id: RegionId
    start: datetime
    hours: int
    lane: Lane
    device_hours: Decimal
    units: Decimal
    price: Decimal
    amount: Decimal
    at: datetime
    seller_tenant: TenantId | None = None
    failed_at: datetime | None = None
    """When the provider failed the block (a job in it was LOST); refunded from then."""
    settled: bool = False
    """Paid out to the seller (after the block ended) or refunded."""

    @property
    def end(self) -> datetime:
        return self.start + timedelta(hours=self.hours)

    @property
    def devices(self) -> Decimal:
        return self.device_hours / self.hours


@dataclass(frozen=True, slots=True)
class Clearing:
    """One call-auction period: what cleared and the welfare it made (CNY)."""

    id: ClearingId
    at: datetime
    bids: int
    offers: int
    trades: int
    welfare: Decimal
    prices: dict[str, Decimal]
    """Clearing price (CNY per device-hour) per supply product key that traded."""
    reduced: tuple[str, ...] = ()
    """Supply products where trade reduction withheld the marginal offer."""


@dataclass(frozen=True, slots=True)
class PostedPrice:
    """The on-demand or preemptible price of a device model on a cluster (CNY per
    device-hour, per core-hour for ``cpu``), smoothed from its floor and utilisation."""

    cluster_id: ClusterId
    resource: str
    lane: Lane
    price: Decimal
    floor: Decimal
    utilisation: float
    updated_at: datetime
