"""The double-entry ledger's vocabulary: accounts, entries and balanced postings.

Every movement of money is a posting: two or more entries whose amounts (CNY, whole fen,
signed) sum to zero. An account's balance is the sum of its entries, so the whole ledger
always sums to zero; money from outside the platform comes from an *external* account
(``external:bank`` for deposits and payouts, ``external:city-subsidy`` for vouchers),
whose balance is negative by what came in. Each posting has a unique key, so a retried
settlement finds its key taken and posts nothing twice.

Accounts:
- ``tenant:<id>:cash``: a tenant's spendable money (may go down to minus its credit line);
- ``tenant:<id>:escrow``: held for its open bids and running jobs (never negative);
- ``provider:<id>:payable``: owed to a provider for compute sold, less the platform fee;
- ``tenant:<id>:payable``: owed to a tenant for blocks it resold;
- ``platform:revenue``: the platform's fees; ``platform:trades``: block payments held
  until the block has been delivered.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from suanli.domain.ids import ProviderId, TenantId
from suanli.domain.money import round_fen

EXTERNAL_BANK = "external:bank"
CITY_SUBSIDY = "external:city-subsidy"
PLATFORM_REVENUE = "platform:revenue"
TRADES_HELD = "platform:trades"


def tenant_cash(tenant_id: TenantId | str) -> str:
    return f"tenant:{tenant_id}:cash"


def tenant_escrow(tenant_id: TenantId | str) -> str:
    return f"tenant:{tenant_id}:escrow"


def tenant_payable(tenant_id: TenantId | str) -> str:
    return f"tenant:{tenant_id}:payable"


def provider_payable(provider_id: ProviderId | str) -> str:
    return f"provider:{provider_id}:payable"


class UnbalancedPosting(ValueError):
    """A posting whose entries do not sum to zero, or are not in whole fen."""


@dataclass(frozen=True, slots=True)
class Entry:
    account: str
    amount: Decimal
    """Signed CNY in whole fen: + adds to the account's balance, - takes from it."""


@dataclass(frozen=True, slots=True)
class Posting:
    """A balanced set of entries, written in one transaction. `key` makes it idempotent
    (e.g. ``settle:j-123:1``); `kind` says what it is (deposit, hold, release, settle,
    trade, payout, refund, penalty, subsidy); `refs` names the objects it concerns."""

    key: str
    at: datetime
    kind: str
    memo: str
    entries: tuple[Entry, ...]
    tenant_id: TenantId | None = None
    refs: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        entries = tuple(e for e in self.entries if e.amount != 0)
        if len(entries) < 2:
            raise UnbalancedPosting(f"posting {self.key} moves nothing")
        for e in entries:
            if e.amount != round_fen(e.amount):
                raise UnbalancedPosting(f"posting {self.key}: {e.amount} is not whole fen")
        if sum((e.amount for e in entries), Decimal(0)) != 0:
            raise UnbalancedPosting(f"posting {self.key} does not sum to zero")
        object.__setattr__(self, "entries", entries)


def posting(
    key: str,
    at: datetime,
    kind: str,
    memo: str,
    moves: Mapping[str, Decimal],
    *,
    tenant_id: TenantId | None = None,
    refs: Mapping[str, str] | None = None,
) -> Posting:
    """A posting from {account: signed amount}; raises UnbalancedPosting."""
    return Posting(
        key,
        at,
        kind,
        memo,
        tuple(Entry(a, v) for a, v in sorted(moves.items())),
        tenant_id,
        dict(refs or {}),
    )


@dataclass(frozen=True, slots=True)
class JobHold:
    """What was held in escrow when an attempt was admitted, and the rate it is billed at
    (CNY per device-hour of `resource`, or per core-hour for ``cpu``). An attempt inside
    a reserved block (`trade_id`) is billed only for its time outside the block's window."""

    job_id: str
    attempt: int
    tenant_id: TenantId
    provider_id: ProviderId
    resource: str
    lane: str
    rate: Decimal
    hold: Decimal
    at: datetime
    trade_id: str | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    settled: bool = False


@dataclass(frozen=True, slots=True)
class LedgerLine:
    """One entry as a statement reads it."""

    seq: int
    key: str
    at: datetime
    kind: str
    memo: str
    account: str
    amount: Decimal
