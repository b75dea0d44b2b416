"""Money: balances, deposits, credit lines, job escrow and settlement, statements.

Every movement is one balanced posting in the ledger, written in the transaction of the
action that causes it and keyed so that a retry writes nothing twice (docs/exchange.md).

- A job starts only if its tenant can pay for its time limit at the current price: the
  scheduler calls `hold_for_admission` in the admitting transaction; if cash plus credit
  line cannot cover the hold, the job waits with a reason that says so.
- When an attempt ends, `settle_attempt` (called where the attempt is metered, in the same
  transaction) charges its metered usage at the rate held, applies a voucher, pays the
  provider less the platform fee and releases the rest of the hold. An attempt the
  provider lost (LOST) is not charged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from suanli.domain.audit import AuditAction
from suanli.domain.errors import InsufficientFunds, InvalidInput, NotFound
from suanli.domain.ids import JobId, ProviderId, TenantId
from suanli.domain.jobs import Attempt, Job, JobStatus, PriorityClass
from suanli.domain.ledger import (
    JobHold,
    provider_payable,
    tenant_cash,
    tenant_escrow,
)
from suanli.domain.market import CPU, GPU_PREFIX, Lane, Trade
from suanli.domain.money import RATE_STEP, cny, round_fen
from suanli.domain.permissions import Permission, require
from suanli.domain.pool import Cluster
from suanli.domain.resources import Resources
from suanli.domain.tenancy import Principal
from suanli.domain.usage import UsageRecord
from suanli.domain.vouchers import VoucherUse
from suanli.logic.billing import charges, postings, statements
from suanli.logic.billing.vouchers import apply_voucher
from suanli.ports.clock import Clock
from suanli.ports.store import Store, UnitOfWork
from suanli.services.audit import record
from suanli.services.pool import check_provider
from suanli.services.tenancy import require_tenant, scoped_tenant


@dataclass(frozen=True, slots=True)
class MoneyPolicy:
    """The platform's money rules (docs/exchange.md)."""

    fee_rate: Decimal = Decimal("0.05")
    """Part of every sale kept by the platform."""
    penalty_rate: Decimal = Decimal("0.10")
    """Part of a failed block's price the provider pays the buyer on top of the refund."""
    hold_horizon_s: int = 3600
    """A job without a time limit is held for this long at admission."""
    preemptible_share: Decimal = Decimal("0.4")
    """Preemptible price as a share of the floor where no posted price exists yet."""


@dataclass(frozen=True, slots=True)
class Balance:
    tenant_id: TenantId
    cash: Decimal
    escrow: Decimal
    credit: Decimal
    payable: Decimal
    """Owed to the tenant for blocks it resold."""

    @property
    def available(self) -> Decimal:
        return self.cash + self.credit


@dataclass(frozen=True, slots=True)
class LedgerCheck:
    total: Decimal
    postings: int
    unbalanced: tuple[str, ...]
    negative_escrow: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return self.total == 0 and not self.unbalanced and not self.negative_escrow


def job_resource(allocation: Resources) -> tuple[str, Decimal]:
    """What a placement is billed by: its devices of one model (the most numerous), or
    its cores when it has no device."""
    if allocation.gpus:
        model, count = max(allocation.gpus.items(), key=lambda kv: (kv[1], kv[0]))
        return GPU_PREFIX + model, Decimal(count)
    return CPU, Decimal(str(allocation.cpus))


def job_lane(job: Job) -> Lane:
    return (
        Lane.PREEMPTIBLE if job.spec.priority_class is PriorityClass.PREEMPTIBLE else Lane.ON_DEMAND
    )


def current_rate(
    uow: UnitOfWork, cluster: Cluster, resource: str, lane: Lane, policy: MoneyPolicy
) -> Decimal | None:
    """The posted price of `resource` in `lane` on the cluster; before the first posting,
    the provider's floor (its hand-set price; the preemptible share of it). None: the
    cluster is not priced (its provider set no floor, or withdrew it), and its jobs run
    free."""
    if cluster.gpu_hour_price is None:
        return None  # no query: most admissions on an unpriced pool cost nothing extra
    for posted in uow.market.list_posted_prices(cluster.id):
        if posted.resource == resource and posted.lane is lane:
            return posted.price
    floor = cluster.gpu_hour_price.quantize(RATE_STEP)
    return (
        floor if lane is Lane.ON_DEMAND else (floor * policy.preemptible_share).quantize(RATE_STEP)
    )


def available_to(uow: UnitOfWork, tenant_id: TenantId, at: datetime) -> Decimal:
    """Lock the tenant's money for this transaction and return cash + credit line."""
    credit = uow.ledger.lock_tenant(tenant_id, at)
    return uow.ledger.balance(tenant_cash(tenant_id)) + credit


def hold_money(
    uow: UnitOfWork,
    tenant_id: TenantId,
    amount: Decimal,
    *,
    key: str,
    memo: str,
    at: datetime,
    refs: dict[str, str],
) -> None:
    """Move `amount` from the tenant's cash to its escrow, or raise InsufficientFunds."""
    if amount <= 0:
        return
    have = available_to(uow, tenant_id, at)
    if have < amount:
        raise InsufficientFunds(
            f"{memo} needs {amount} CNY held; tenant {tenant_id} has {have} CNY available "
            "(cash plus credit line).",
            hint="deposit money (the operator records it with `suanli ledger deposit`) or "
            "ask for a credit line, then try again.",
        )
    uow.ledger.post(postings.hold(key, at, tenant_id, amount, memo, refs))


def hold_for_admission(
    uow: UnitOfWork,
    job: Job,
    attempt: int,
    cluster: Cluster,
    allocation: Resources,
    at: datetime,
    policy: MoneyPolicy,
    reservation: Trade | None = None,
) -> str | None:
    """Hold the cost of the job's time limit at the current rate, recording the hold the
    attempt will be settled against; None when held (or free), else why it must wait.
    Inside a reserved block (`reservation`), only time past the block's end is held."""
    resource, quantity = job_resource(allocation)
    lane = job_lane(job)
    rate = current_rate(uow, cluster, resource, lane, policy)
    if rate is None or rate == 0:
        return None
    limit_s = job.spec.time_limit_s or policy.hold_horizon_s
    outside_s = limit_s
    if reservation is not None:
        outside_s = max(
            0, math.ceil((at + timedelta(seconds=limit_s) - reservation.end).total_seconds())
        )
    amount = charges.hold_amount(quantity, rate, outside_s)
    key = f"hold:{job.id}:{attempt}"
    try:
        hold_money(
            uow,
            job.tenant_id,
            amount,
            key=key,
            memo=f"Job {job.id} attempt {attempt}",
            at=at,
            refs={"job": job.id},
        )
    except InsufficientFunds as exc:
        return f"Waiting for funds: {exc.message} {exc.hint}"
    uow.ledger.add_hold(
        JobHold(
            job_id=job.id,
            attempt=attempt,
            tenant_id=job.tenant_id,
            provider_id=cluster.provider_id,
            resource=resource,
            lane=(Lane.RESERVED if reservation else lane).value,
            rate=rate,
            hold=amount,
            at=at,
            trade_id=reservation.id if reservation else None,
            window_start=reservation.start if reservation else None,
            window_end=reservation.end if reservation else None,
        )
    )
    return None


def settle_attempt(
    uow: UnitOfWork,
    job: Job,
    attempt: Attempt,
    records: Sequence[UsageRecord],
    at: datetime,
    policy: MoneyPolicy,
) -> None:
    """Charge an ended attempt from its usage records (idempotent: keyed by job and
    attempt). A LOST attempt is the provider's failure: not charged; inside a reserved
    block it also marks the block failed (refund and penalty when the block settles)."""
    hold = uow.ledger.get_hold(attempt.job_id, attempt.number)
    if hold is None or hold.settled:
        return
    lost = attempt.status is JobStatus.LOST
    if lost and hold.trade_id is not None:
        trade = uow.market.get_trade(hold.trade_id, for_update=True)  # type: ignore[arg-type]
        if trade is not None and trade.failed_at is None:
            uow.market.save_trade(replace(trade, failed_at=attempt.ended_at or at))
    charge = Decimal(0)
    if not lost:
        charge = charges.attempt_charge(
            records, hold.resource, hold.rate, hold.window_start, hold.window_end
        )
    key = f"settle:{attempt.job_id}:{attempt.number}"
    if charge > 0 or hold.hold > 0:
        posted = uow.ledger.post(
            postings.settlement(
                key,
                at,
                hold.tenant_id,
                hold.provider_id,
                charge=charge,
                hold=hold.hold,
                fee_rate=policy.fee_rate,
                memo=f"Job {job.id} attempt {attempt.number}"
                + (" (lost: not charged)" if lost else ""),
                refs={"job": job.id},
            )
        )
        if posted and charge > 0:
            subsidise(uow, hold.tenant_id, hold.provider_id, charge, key, at)
    uow.ledger.mark_hold_settled(attempt.job_id, attempt.number)


def release_hold(uow: UnitOfWork, job_id: JobId, number: int, at: datetime, why: str) -> None:
    """Give back the whole hold of an attempt that never ran (withdrawn or cancelled
    before dispatch); keyed like a settlement, so it happens at most once."""
    hold = uow.ledger.get_hold(job_id, number)
    if hold is None or hold.settled:
        return
    if hold.hold > 0:
        uow.ledger.post(
            postings.release(
                f"settle:{job_id}:{number}",
                at,
                hold.tenant_id,
                hold.hold,
                f"Job {job_id} attempt {number} {why}: hold released",
                {"job": job_id},
            )
        )
    uow.ledger.mark_hold_settled(job_id, number)


def subsidise(
    uow: UnitOfWork,
    tenant_id: TenantId,
    provider_id: ProviderId,
    amount: Decimal,
    invoice: str,
    at: datetime,
) -> Decimal:
    """Pay part of a settled invoice with the tenant's usable voucher (city money into
    the tenant's cash), at most once per invoice; returns the subsidy paid."""
    vouchers = uow.vouchers.find(tenant_id)
    if not vouchers:
        return Decimal(0)
    used = uow.vouchers.used_in_year([v.id for v in vouchers], at.year)
    chosen = apply_voucher(vouchers, used, amount, provider_id, at)
    if chosen is None:
        return Decimal(0)
    voucher_id, paid = chosen
    if not uow.vouchers.add_use(VoucherUse(voucher_id, invoice, tenant_id, paid, at)):
        return Decimal(0)  # this invoice was subsidised already
    memo = f"Voucher {voucher_id} on {invoice}"
    uow.ledger.post(
        postings.subsidy(f"subsidy:{invoice}", at, tenant_id, paid, memo, {"invoice": invoice})
    )
    return paid


class BillingService:
    """Balances, deposits, credit lines, payouts, statements and the ledger check."""

    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def balance(self, principal: Principal, tenant_id: TenantId | None = None) -> Balance:
        require(principal, Permission.BILLING_READ)
        tenant = scoped_tenant(principal, tenant_id)
        with self._store.unit_of_work(readonly=True) as uow:
            require_tenant(uow, tenant)
            return _balance(uow, tenant)

    def provider_balance(
        self, principal: Principal, provider_id: ProviderId | None = None
    ) -> Decimal:
        """What the platform owes a provider; a provider admin sees only its own."""
        require(principal, Permission.EARNINGS_READ)
        provider_id = provider_id or principal.provider_id
        if provider_id is None:
            raise InvalidInput("Name the provider.", field="provider", hint="pass --provider.")
        check_provider(principal, provider_id)
        with self._store.unit_of_work(readonly=True) as uow:
            if uow.pool.get_provider(provider_id) is None:
                raise NotFound(f"No provider {provider_id!r}.", field="provider")
            return uow.ledger.balance(provider_payable(provider_id))

    def deposit(
        self, principal: Principal, tenant_id: TenantId, amount: str | Decimal, *, reference: str
    ) -> Balance:
        """Record money received from a tenant (a bank transfer: `reference` names it and
        makes the deposit idempotent)."""
        require(principal, Permission.BILLING_WRITE)
        value = cny(amount, field="amount")
        if value <= 0 or value != round_fen(value):
            raise InvalidInput(
                "A deposit is a positive amount in whole fen.",
                field="amount",
                hint='e.g. "1000.00".',
            )
        reference = _reference(reference)
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            require_tenant(uow, tenant_id)
            uow.ledger.lock_tenant(tenant_id, now)
            posted = uow.ledger.post(
                postings.deposit(
                    f"deposit:{tenant_id}:{reference}",
                    now,
                    tenant_id,
                    value,
                    f"Deposit {reference}",
                    {"reference": reference},
                )
            )
            if posted:
                record(
                    uow,
                    principal,
                    AuditAction.DEPOSIT,
                    tenant_id,
                    at=now,
                    tenant_id=tenant_id,
                    amount=str(value),
                    reference=reference,
                )
            balance = _balance(uow, tenant_id)
            uow.commit()
        return balance

    def set_credit(
        self, principal: Principal, tenant_id: TenantId, credit: str | Decimal
    ) -> Balance:
        """A tenant's credit line: how far its cash may go below zero to hold and pay."""
        require(principal, Permission.BILLING_WRITE)
        value = cny(credit, field="credit")
        if value < 0 or value != round_fen(value):
            raise InvalidInput(
                "A credit line is 0 or more, in whole fen.", field="credit", hint='e.g. "5000".'
            )
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            require_tenant(uow, tenant_id)
            before = uow.ledger.lock_tenant(tenant_id, now)
            uow.ledger.set_credit(tenant_id, value, now)
            record(
                uow,
                principal,
                AuditAction.CREDIT_SET,
                tenant_id,
                at=now,
                tenant_id=tenant_id,
                before=str(before),
                after=str(value),
            )
            balance = _balance(uow, tenant_id)
            uow.commit()
        return balance

    def payout(
        self,
        principal: Principal,
        provider_id: ProviderId,
        amount: str | Decimal,
        *,
        reference: str,
    ) -> Decimal:
        """Record money paid out to a provider (at most what it is owed)."""
        require(principal, Permission.BILLING_WRITE)
        value = cny(amount, field="amount")
        reference = _reference(reference)
        now = self._clock.now()
        with self._store.unit_of_work() as uow:
            if uow.pool.get_provider(provider_id) is None:
                raise NotFound(
                    f"No provider {provider_id!r}.",
                    field="provider",
                    hint="list providers with `suanli pool`.",
                )
            owed = uow.ledger.balance(provider_payable(provider_id))
            if value <= 0 or value != round_fen(value) or value > owed:
                raise InvalidInput(
                    f"A payout is a positive amount in whole fen, at most the {owed} CNY owed.",
                    field="amount",
                    hint=f"pay out at most {owed}.",
                )
            if uow.ledger.post(
                postings.payout(
                    f"payout:{provider_id}:{reference}",
                    now,
                    provider_id,
                    value,
                    f"Payout {reference}",
                    {"reference": reference},
                )
            ):
                record(
                    uow,
                    principal,
                    AuditAction.PAYOUT,
                    provider_id,
                    at=now,
                    provider_id=provider_id,
                    amount=str(value),
                    reference=reference,
                )
            owed = uow.ledger.balance(provider_payable(provider_id))
            uow.commit()
        return owed

    def check(self, principal: Principal) -> LedgerCheck:
        """The whole ledger: every posting sums to zero, all entries sum to zero, and no
        escrow is negative."""
        require(principal, Permission.LEDGER_CHECK)
        with self._store.unit_of_work(readonly=True) as uow:
            total, unbalanced, count = uow.ledger.check()
            escrows = uow.ledger.balances("tenant:")
        negative = tuple(a for a, v in escrows.items() if a.endswith(":escrow") and v < 0)
        return LedgerCheck(total, count, tuple(unbalanced), negative)

    def statement(
        self, principal: Principal, tenant_id: TenantId | None, month: str
    ) -> statements.Statement:
        """A tenant's monthly statement (month 'YYYY-MM', UTC)."""
        require(principal, Permission.BILLING_READ)
        tenant = scoped_tenant(principal, tenant_id)
        since, until = _month(month)
        accounts = [tenant_cash(tenant), tenant_escrow(tenant)]
        with self._store.unit_of_work(readonly=True) as uow:
            t = require_tenant(uow, tenant)
            opening = uow.ledger.balance_before(accounts, since)
            lines = uow.ledger.lines(accounts, since=since, until=until)
        return statements.build(t.id, t.name, month, opening, lines)


def _balance(uow: UnitOfWork, tenant_id: TenantId) -> Balance:
    from suanli.domain.ledger import tenant_payable

    return Balance(
        tenant_id,
        cash=uow.ledger.balance(tenant_cash(tenant_id)),
        escrow=uow.ledger.balance(tenant_escrow(tenant_id)),
        credit=uow.ledger.credit(tenant_id),
        payable=uow.ledger.balance(tenant_payable(tenant_id)),
    )


def _reference(text: str) -> str:
    text = text.strip()
    if not 1 <= len(text) <= 100 or not text.isprintable():
        raise InvalidInput(
            "A reference names the bank transfer: 1-100 printable characters.",
            field="reference",
            hint="give the transfer's reference, e.g. its bank serial number.",
        )
    return text


def _month(text: str) -> tuple[datetime, datetime]:
    try:
        start = datetime.strptime(text, "%Y-%m").replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput(
            f"{text!r} is not a month.", field="month", hint="write it as YYYY-MM, e.g. 2026-12."
        ) from None
    end = (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )
    return start, end
