"""The store port: repositories grouped in a unit of work (one transaction).

Every state change a service makes happens inside one `with store.unit_of_work() as uow:`
block and is committed by `uow.commit()`; leaving the block without commit rolls back, so
a failed request writes nothing. Repositories return domain objects, never rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol

from suanli.domain.audit import AuditEvent
from suanli.domain.history import PoolSample, QueueSample
from suanli.domain.ids import (
    ClusterId,
    JobId,
    NodeId,
    ProviderId,
    RegionId,
    TenantId,
    TokenId,
    UserId,
)
from suanli.domain.jobs import MAX_LOG_BYTES, Attempt, Job, JobEvent, JobStatus
from suanli.domain.ledger import JobHold, LedgerLine, Posting
from suanli.domain.market import (
    Bid,
    BidId,
    Clearing,
    Offer,
    OfferId,
    OrderStatus,
    PostedPrice,
    Trade,
    TradeId,
)
from suanli.domain.pool import Capability, Cluster, ClusterState, Node, Provider, Region
from suanli.domain.quota import Quota, TenantShare
from suanli.domain.resources import Resources
from suanli.domain.tenancy import Principal, Tenant, TokenInfo, User
from suanli.domain.usage import UsageRecord
from suanli.domain.vouchers import Voucher, VoucherId, VoucherUse


@dataclass(frozen=True, slots=True)
class JobFilter:
    tenant_id: TenantId | None = None
    statuses: tuple[JobStatus, ...] = ()
    cluster_id: ClusterId | None = None
    name: str | None = None
    array_id: str | None = None
    """Only the tasks of this job array."""
    after_seq: int | None = None
    """Keyset pagination: only jobs with seq > after_seq (ascending) ..."""
    before_seq: int | None = None
    """... or seq < before_seq (descending, newest first)."""
    limit: int = 100
    newest_first: bool = True


@dataclass(frozen=True, slots=True)
class UsageTotal:
    """Sums for one group, workload class and dimension. `amount`: quantity x seconds
    (core-, MiB- or device-seconds); `standard_units`: SCH of that class; `unrated_amount`:
    the part of `amount` on hardware without a rating (memory is never rated)."""

    key: str
    workload_class: str
    dimension: str
    amount: float
    seconds: float
    """Summed over records, from their milliseconds."""
    jobs: int
    standard_units: float = 0.0
    unrated_amount: float = 0.0


class PoolRepo(Protocol):
    def add_region(self, region: Region) -> None: ...
    def get_region(self, region_id: RegionId) -> Region | None: ...
    def list_regions(self) -> list[Region]: ...
    def add_provider(self, provider: Provider) -> None: ...
    def get_provider(self, provider_id: ProviderId) -> Provider | None: ...
    def list_providers(self) -> list[Provider]: ...
    def add_cluster(self, cluster: Cluster) -> None: ...
    def get_cluster(self, cluster_id: ClusterId) -> Cluster | None: ...
    def list_clusters(self) -> list[Cluster]: ...
    def set_cluster_state(
        self,
        cluster_id: ClusterId,
        state: ClusterState,
        *,
        heartbeat_at: datetime | None,
        agent_version: str | None = None,
        capabilities: frozenset[Capability] | None = None,
    ) -> None:
        """Set the state (and, where given, the heartbeat, the agent's version and its
        engine's capabilities)."""
        ...

    def replace_nodes(self, cluster_id: ClusterId, nodes: Sequence[Node]) -> None: ...
    def list_nodes(self, cluster_id: ClusterId | None = None) -> list[Node]: ...
    def get_node(self, cluster_id: ClusterId, node_id: NodeId) -> Node | None: ...
    def set_calibration_requested(self, cluster_id: ClusterId, requested: bool) -> None: ...
    def calibration_requested(self, cluster_id: ClusterId) -> bool: ...
    def update_region(self, region: Region) -> None:
        """Overwrite the region's name, coordinates, energy price and carbon intensity."""
        ...

    def set_cluster_price(self, cluster_id: ClusterId, gpu_hour_price: Decimal | None) -> None:
        """Post (or, with None, withdraw) the cluster's price per GPU-hour."""
        ...

    def open_outage(self, cluster_id: ClusterId, began_at: datetime) -> None:
        """Record that the cluster went silent at `began_at` (no-op if an outage of it is
        already open)."""
        ...

    def close_outage(self, cluster_id: ClusterId, ended_at: datetime) -> None:
        """End the cluster's open outage, if any, at `ended_at`."""
        ...

    def outages_since(
        self, since: datetime
    ) -> dict[ClusterId, list[tuple[datetime, datetime | None]]]:
        """Per cluster, its outages that were open at or after `since`: (began, ended or
        None while still open)."""
        ...


class TenancyRepo(Protocol):
    def add_tenant(self, tenant: Tenant) -> None: ...
    def get_tenant(self, tenant_id: TenantId) -> Tenant | None: ...
    def list_tenants(self) -> list[Tenant]:
        """Every tenant, by id."""
        ...

    def set_share(self, share: TenantShare) -> None:
        """Set the tenant's fair-share weight and cohort (the tenant must exist)."""
        ...

    def list_shares(self) -> list[TenantShare]:
        """One share per tenant, by tenant id."""
        ...

    def set_quota(self, quota: Quota) -> None:
        """Insert or replace the tenant's quota for the flavor."""
        ...

    def delete_quota(self, tenant_id: TenantId, flavor: str) -> bool:
        """Remove one quota row; False when there was none."""
        ...

    def list_quotas(self, tenant_id: TenantId | None = None) -> list[Quota]:
        """Quota rows by tenant then flavor, optionally of one tenant."""
        ...

    def update_tenant(self, tenant: Tenant) -> None:
        """Replace the tenant's name, sector and contact."""
        ...

    def add_user(self, user: User) -> None: ...
    def get_user(self, user_id: UserId) -> User | None: ...
    def list_users(
        self, *, tenant_id: TenantId | None = None, provider_id: ProviderId | None = None
    ) -> list[User]:
        """Users by id, optionally those of one tenant or one provider."""
        ...

    def disable_user(self, user_id: UserId, at: datetime) -> None: ...

    def add_token(
        self,
        token_id: str,
        token_hash: str,
        principal: Principal,
        at: datetime,
        *,
        name: str = "",
        expires_at: datetime | None = None,
    ) -> None: ...
    def principal_for(self, token_hash: str, now: datetime | None = None) -> Principal | None:
        """The principal of a token that is not revoked, not expired at `now` (when given)
        and whose user (if it has one) is not disabled."""
        ...

    def token_last_used(self, token_id: TokenId) -> datetime | None: ...
    def touch_token(self, token_id: TokenId, at: datetime) -> None:
        """Record the token's last use."""
        ...

    def list_tokens(self, user_id: UserId | None = None) -> list[TokenInfo]:
        """Tokens by creation time, optionally one user's (agents' tokens included)."""
        ...

    def get_token(self, token_id: TokenId) -> tuple[TokenInfo, Principal] | None: ...
    def revoke_token(self, token_id: TokenId, at: datetime) -> bool:
        """Revoke one token; False when it was already revoked or does not exist."""
        ...

    def revoke_user_tokens(self, user_id: UserId, at: datetime) -> int: ...


class AuditRepo(Protocol):
    def add(self, event: AuditEvent) -> None: ...
    def list(
        self,
        *,
        since: datetime | None = None,
        before_id: int | None = None,
        tenant_id: TenantId | None = None,
        limit: int = 100,
    ) -> list[AuditEvent]:
        """Newest first; `before_id` pages backwards."""
        ...


class JobRepo(Protocol):
    def add(self, job: Job) -> Job:
        """Insert; returns the job with its submission sequence number set."""
        ...

    def add_many(self, jobs: Sequence[Job]) -> list[Job]:
        """Insert several (in order); returns them with their sequence numbers set."""
        ...

    def get(self, job_id: JobId) -> Job | None: ...
    def get_for_update(self, job_id: JobId) -> Job | None:
        """As get, but locks the row until commit where the database supports it."""
        ...

    def save(self, job: Job) -> None: ...
    def search(self, flt: JobFilter) -> list[Job]: ...
    def counts(self) -> list[tuple[TenantId, JobStatus, int]]:
        """Jobs per tenant and status (computed in the database)."""
        ...

    def pending_reasons(self) -> list[tuple[str, int]]:
        """Pending jobs per distinct reason."""
        ...

    def pending(self, limit: int) -> list[Job]:
        """PENDING jobs in submission order."""
        ...

    def changed_since(self, event_id: int) -> tuple[list[JobId], int]:
        """Jobs with a status event after `event_id`, and the newest event id: lets a
        scheduler keep decoded jobs cached and re-read only what changed."""
        ...

    def last_event_id(self) -> int: ...

    def get_many(self, job_ids: Sequence[JobId]) -> list[Job]: ...
    def in_arrays(self, array_ids: Sequence[str]) -> list[Job]:
        """Every task of these job arrays."""
        ...

    def active_on(self, cluster_id: ClusterId | None = None) -> list[Job]:
        """Jobs holding resources (SCHEDULED or RUNNING), optionally on one cluster."""
        ...

    def allocations(self) -> list[tuple[ClusterId, NodeId, Resources]]: ...
    def set_reasons(self, reasons: Sequence[tuple[JobId, str]]) -> None:
        """Update the reason of pending jobs whose reason changed (no status change)."""
        ...

    def reserve_idempotency_key(
        self, tenant_id: TenantId, key: str, request_hash: str, job_id: JobId, at: datetime
    ) -> tuple[str, JobId] | None:
        """Record that `key` of the tenant made `job_id`. If the key was used before,
        record nothing and return (request hash, job id) of that first use. Safe against
        a concurrent transaction reserving the same key (it waits or sees the row)."""
        ...

    def forget_idempotency_keys(self, before: datetime) -> int:
        """Drop keys recorded before `before` (they are kept for a day)."""
        ...

    def add_attempt(self, attempt: Attempt) -> None: ...
    def get_attempt(self, job_id: JobId, number: int) -> Attempt | None: ...
    def save_attempt(self, attempt: Attempt) -> None: ...
    def list_attempts(self, job_id: JobId) -> list[Attempt]: ...
    def attempts_of(self, job_ids: Sequence[JobId]) -> dict[JobId, list[Attempt]]:
        """Every attempt of each of these jobs, by number (jobs without any left out)."""
        ...

    def undispatched_on(self, cluster_id: ClusterId, limit: int) -> list[Attempt]:
        """Current attempts assigned to the cluster and not yet handed to its agent."""
        ...

    def dispatched_active_on(self, cluster_id: ClusterId) -> list[Attempt]: ...
    def cancel_requested_on(self, cluster_id: ClusterId) -> list[tuple[JobId, int]]:
        """(job, current attempt) of active jobs on the cluster whose users asked to
        cancel."""
        ...

    def preempt_requested_on(self, cluster_id: ClusterId) -> list[tuple[JobId, int]]:
        """(job, current attempt) of active jobs on the cluster whose preemption was
        requested and not overtaken by a cancel (a cancel wins; it is in the cancel list)."""
        ...

    def add_event(self, event: JobEvent) -> None: ...
    def add_events(self, events: Sequence[JobEvent]) -> None: ...
    def events(self, job_id: JobId) -> list[JobEvent]: ...
    def attempt_outcomes(self, since: datetime) -> dict[ClusterId, tuple[int, int]]:
        """Per cluster: (attempts scheduled at or after `since` that have ended, how many
        of those ended LOST, or FAILED with no exit code: failed by the engine or the
        cluster rather than by the user's program). Clusters with no ended attempt are
        absent. Feeds `logic.reliability.reliability_scores`."""
        ...


class UsageRepo(Protocol):
    def add(self, records: Sequence[UsageRecord]) -> None: ...
    def for_job(self, job_id: JobId) -> list[UsageRecord]: ...
    def for_jobs(self, job_ids: Sequence[JobId]) -> dict[JobId, list[UsageRecord]]: ...
    def totals(
        self,
        *,
        by: tuple[str, ...],
        tenant_id: TenantId | None,
        since: datetime | None,
        until: datetime | None = None,
        provider_id: ProviderId | None = None,
    ) -> list[UsageTotal]:
        """Grouped by the named keys (tenant, provider, region, cluster, job, sector,
        device, class, day), then workload class and dimension."""
        ...

    def units_by_tenant_day(self, since_day: str) -> list[tuple[TenantId, str, float]]:
        """(tenant, UTC day 'YYYY-MM-DD', standard units summed over every class and
        dimension; unrated records count 0) for days >= `since_day`, by tenant and day."""
        ...


class LogRepo(Protocol):
    def size(self, job_id: JobId, attempt: int, stream: str) -> int:
        """Bytes stored for the stream (a truncation marker included)."""
        ...

    def append(
        self,
        job_id: JobId,
        attempt: int,
        stream: str,
        offset: int,
        data: bytes,
        *,
        cap: int = MAX_LOG_BYTES,
    ) -> None:
        """Store `data`, which the agent read at `offset` of its output. Idempotent: what
        is already stored is skipped; a gap raises Conflict naming the offset to resend
        from. At most `cap` bytes of output are stored: the chunk that crosses it is cut
        there and followed by `log_truncation_marker(cap)`, and once the marker is stored
        every later append is accepted and dropped (so the agent never retries)."""
        ...

    def read(self, job_id: JobId, attempt: int, stream: str, offset: int, limit: int) -> bytes:
        """Up to `limit` stored bytes from `offset` (the marker reads as output)."""
        ...

    def delete_of_jobs_ended_before(self, before: datetime) -> int:
        """Delete the logs of jobs that reached a final status (SUCCEEDED, FAILED,
        CANCELLED) before `before`; returns how many chunks went."""
        ...


class MarketRepo(Protocol):
    """Offers, bids, clearings, trades and posted prices."""

    def lock(self) -> None:
        """Hold the exchange's lock until the transaction ends: clearings, order changes
        and lapses are serialised, so two clearings never sell the same offer and a bid
        withdrawn meanwhile is never filled."""
        ...

    def add_offer(self, offer: Offer) -> None: ...
    def get_offer(self, offer_id: OfferId, *, for_update: bool = False) -> Offer | None: ...
    def save_offer(self, offer: Offer) -> None:
        """Store its status and sold quantity."""
        ...

    def list_offers(
        self,
        *,
        statuses: tuple[OrderStatus, ...] = (),
        provider_id: ProviderId | None = None,
        limit: int = 1000,
    ) -> list[Offer]:
        """Oldest first (time priority)."""
        ...

    def add_bid(self, bid: Bid) -> None: ...
    def get_bid(self, bid_id: BidId, *, for_update: bool = False) -> Bid | None: ...
    def save_bid(self, bid: Bid) -> None: ...
    def list_bids(
        self,
        *,
        statuses: tuple[OrderStatus, ...] = (),
        tenant_id: TenantId | None = None,
        limit: int = 1000,
    ) -> list[Bid]:
        """Oldest first (time priority)."""
        ...

    def add_clearing(self, clearing: Clearing) -> None: ...
    def list_clearings(self, limit: int = 20) -> list[Clearing]:
        """Newest first."""
        ...

    def add_trades(self, trades: Sequence[Trade]) -> None: ...
    def get_trade(self, trade_id: TradeId, *, for_update: bool = False) -> Trade | None: ...
    def save_trade(self, trade: Trade) -> None:
        """Store its failure time and settled flag."""
        ...

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
        """Trades by block start; `active_at`: whose block contains that instant;
        `ended_before`: whose block ended before it."""
        ...

    def set_posted_price(self, price: PostedPrice) -> None: ...
    def list_posted_prices(self, cluster_id: ClusterId | None = None) -> list[PostedPrice]: ...


class LedgerRepo(Protocol):
    """The double-entry ledger, credit lines and escrow holds of jobs."""

    def post(self, posting: Posting) -> bool:
        """Write a balanced posting; False (and nothing written) if its key exists."""
        ...

    def has(self, key: str) -> bool: ...
    def balance(self, account: str) -> Decimal: ...
    def balances(self, prefix: str = "") -> dict[str, Decimal]:
        """Every account starting with `prefix` that has entries, with its balance."""
        ...

    def check(self) -> tuple[Decimal, list[str], int]:
        """(sum of every entry, keys of postings that do not sum to zero, postings)."""
        ...

    def lines(
        self, accounts: Sequence[str], *, since: datetime | None, until: datetime | None
    ) -> list[LedgerLine]:
        """Entries on these accounts in [since, until), in posting order."""
        ...

    def balance_before(self, accounts: Sequence[str], at: datetime) -> Decimal: ...
    def lock_tenant(self, tenant_id: TenantId, at: datetime) -> Decimal:
        """Lock the tenant's money (row lock until the transaction ends; created on first
        use) and return its credit line."""
        ...

    def set_credit(self, tenant_id: TenantId, credit: Decimal, at: datetime) -> None: ...
    def credit(self, tenant_id: TenantId) -> Decimal:
        """The tenant's credit line (0 if never set), without locking."""
        ...

    def add_hold(self, hold: JobHold) -> None: ...
    def get_hold(self, job_id: JobId, attempt: int) -> JobHold | None: ...
    def mark_hold_settled(self, job_id: JobId, attempt: int) -> None: ...
    def unsettled_holds(self) -> list[JobHold]: ...


class VoucherRepo(Protocol):
    def add(self, voucher: Voucher) -> None: ...
    def get(self, voucher_id: VoucherId) -> Voucher | None: ...
    def find(self, tenant_id: TenantId | None = None) -> list[Voucher]: ...
    def revoke(self, voucher_id: VoucherId, at: datetime) -> None: ...
    def add_use(self, use: VoucherUse) -> bool:
        """Record a subsidy; False (nothing written) if the invoice was subsidised."""
        ...

    def used_in_year(
        self, voucher_ids: Sequence[VoucherId], year: int
    ) -> dict[VoucherId, Decimal]: ...

    def uses(self, *, since: datetime | None = None) -> list[VoucherUse]: ...


class HistoryRepo(Protocol):
    """Samples of the pool and the queue over time, raw and rolled up (domain/history.py)."""

    def add_samples(self, pool: Sequence[PoolSample], queue: QueueSample, rollup_s: int) -> None:
        """Write one instant's samples raw and add them into their `rollup_s` window; an
        instant already stored is left as it is (nothing is added twice)."""
        ...

    def pool_series(
        self, resolution_s: int, since_s: int, until_s: int, step_s: int
    ) -> list[tuple[str, str, int, float, float]]:
        """(region, resource, bucket start, mean total, mean used) of the rows of one
        resolution in [since_s, until_s), buckets of `step_s` seconds from `since_s`,
        ordered by region, resource and time."""
        ...

    def queue_series(
        self, resolution_s: int, since_s: int, until_s: int, step_s: int
    ) -> list[tuple[int, float, float]]:
        """(bucket start, mean pending, mean running), as `pool_series`."""
        ...

    def purge_before(self, resolution_s: int, at_s: int) -> int:
        """Delete rows of one resolution older than `at_s`; returns how many went."""
        ...


class UnitOfWork(Protocol):
    pool: PoolRepo
    tenancy: TenancyRepo
    audit: AuditRepo
    jobs: JobRepo
    usage: UsageRepo
    logs: LogRepo
    market: MarketRepo
    ledger: LedgerRepo
    vouchers: VoucherRepo
    history: HistoryRepo

    def commit(self) -> None: ...


class Store(Protocol):
    def unit_of_work(self, *, readonly: bool = False) -> AbstractContextManager[UnitOfWork]:
        """One transaction; `readonly` lets the backend skip write locks."""
        ...

    def close(self) -> None: ...
