"""SQL repositories of the ledger (postings, entries, credit lines, job holds) and of
vouchers. Balances are never stored: they are sums of entries."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from suanli.adapters.store_sql.decimals import e4, fen, from_e4, from_fen
from suanli.adapters.store_sql.tables import (
    credit_lines,
    job_holds,
    ledger_entries,
    ledger_postings,
    voucher_uses,
    vouchers,
)
from suanli.domain.ids import JobId, ProviderId, TenantId, UserId
from suanli.domain.ledger import JobHold, LedgerLine, Posting
from suanli.domain.vouchers import Voucher, VoucherId, VoucherUse

le = ledger_entries
lp = ledger_postings


def _upsert(conn: Connection) -> Any:
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


class SqlLedgerRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn
        self._for_update = conn.dialect.name != "sqlite"  # SQLite locks the whole file

    def post(self, posting: Posting) -> bool:
        # ON CONFLICT DO NOTHING on the key: a concurrent retry waits for the first and
        # then writes nothing (RETURNING, not rowcount: psycopg says -1 for upserts)
        seq = self._c.execute(
            _upsert(self._c)(lp)
            .values(
                key=posting.key,
                at=posting.at,
                kind=posting.kind,
                memo=posting.memo[:500],
                tenant_id=posting.tenant_id,
                refs=dict(posting.refs),
            )
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(lp.c.seq)
        ).scalar()
        if seq is None:
            return False
        self._c.execute(
            insert(le),
            [
                {
                    "posting_seq": seq,
                    "account": e.account,
                    "amount_fen": fen(e.amount),
                    "at": posting.at,
                }
                for e in posting.entries
            ],
        )
        return True

    def has(self, key: str) -> bool:
        return self._c.execute(select(lp.c.seq).where(lp.c.key == key)).first() is not None

    def balance(self, account: str) -> Decimal:
        total = self._c.execute(
            select(func.coalesce(func.sum(le.c.amount_fen), 0)).where(le.c.account == account)
        ).scalar_one()
        return from_fen(int(total))

    def balances(self, prefix: str = "") -> dict[str, Decimal]:
        query = select(le.c.account, func.sum(le.c.amount_fen)).group_by(le.c.account)
        if prefix:
            query = query.where(le.c.account.startswith(prefix, autoescape=True))
        return {a: from_fen(int(s)) for a, s in self._c.execute(query.order_by(le.c.account))}

    def check(self) -> tuple[Decimal, list[str], int]:
        total = self._c.execute(select(func.coalesce(func.sum(le.c.amount_fen), 0))).scalar_one()
        bad = self._c.execute(
            select(lp.c.key)
            .join(le, le.c.posting_seq == lp.c.seq)
            .group_by(lp.c.seq, lp.c.key)
            .having(func.sum(le.c.amount_fen) != 0)
            .order_by(lp.c.seq)
        )
        postings = self._c.execute(select(func.count()).select_from(lp)).scalar_one()
        return from_fen(int(total)), [r.key for r in bad], int(postings)

    def lines(
        self, accounts: Sequence[str], *, since: datetime | None, until: datetime | None
    ) -> list[LedgerLine]:
        query = (
            select(lp.c.seq, lp.c.key, lp.c.at, lp.c.kind, lp.c.memo, le.c.account, le.c.amount_fen)
            .join(lp, lp.c.seq == le.c.posting_seq)
            .where(le.c.account.in_(list(accounts)))
        )
        if since is not None:
            query = query.where(le.c.at >= since)
        if until is not None:
            query = query.where(le.c.at < until)
        return [
            LedgerLine(r.seq, r.key, r.at, r.kind, r.memo, r.account, from_fen(r.amount_fen))
            for r in self._c.execute(query.order_by(lp.c.seq, le.c.id))
        ]

    def balance_before(self, accounts: Sequence[str], at: datetime) -> Decimal:
        total = self._c.execute(
            select(func.coalesce(func.sum(le.c.amount_fen), 0)).where(
                le.c.account.in_(list(accounts)), le.c.at < at
            )
        ).scalar_one()
        return from_fen(int(total))

    def lock_tenant(self, tenant_id: TenantId, at: datetime) -> Decimal:
        self._c.execute(
            _upsert(self._c)(credit_lines)
            .values(tenant_id=tenant_id, credit_fen=0, updated_at=at)
            .on_conflict_do_nothing(index_elements=["tenant_id"])
        )
        query = select(credit_lines.c.credit_fen).where(credit_lines.c.tenant_id == tenant_id)
        if self._for_update:
            query = query.with_for_update()
        return from_fen(int(self._c.execute(query).scalar_one()))

    def set_credit(self, tenant_id: TenantId, credit: Decimal, at: datetime) -> None:
        self.lock_tenant(tenant_id, at)
        self._c.execute(
            update(credit_lines)
            .where(credit_lines.c.tenant_id == tenant_id)
            .values(credit_fen=fen(credit), updated_at=at)
        )

    def credit(self, tenant_id: TenantId) -> Decimal:
        value = self._c.execute(
            select(credit_lines.c.credit_fen).where(credit_lines.c.tenant_id == tenant_id)
        ).scalar()
        return from_fen(int(value or 0))

    def add_hold(self, hold: JobHold) -> None:
        self._c.execute(
            insert(job_holds).values(
                job_id=hold.job_id,
                attempt=hold.attempt,
                tenant_id=hold.tenant_id,
                provider_id=hold.provider_id,
                resource=hold.resource,
                lane=hold.lane,
                rate_e4=e4(hold.rate),
                hold_fen=fen(hold.hold),
                trade_id=hold.trade_id,
                window_start=hold.window_start,
                window_end=hold.window_end,
                at=hold.at,
                settled=hold.settled,
            )
        )

    def get_hold(self, job_id: JobId, attempt: int) -> JobHold | None:
        row = self._c.execute(
            select(job_holds).where(job_holds.c.job_id == job_id, job_holds.c.attempt == attempt)
        ).first()
        return _hold(row) if row else None

    def mark_hold_settled(self, job_id: JobId, attempt: int) -> None:
        self._c.execute(
            update(job_holds)
            .where(job_holds.c.job_id == job_id, job_holds.c.attempt == attempt)
            .values(settled=True)
        )

    def unsettled_holds(self) -> list[JobHold]:
        query = select(job_holds).where(job_holds.c.settled.is_(False)).order_by(job_holds.c.at)
        return [_hold(r) for r in self._c.execute(query)]


def _hold(r: Any) -> JobHold:
    return JobHold(
        job_id=r.job_id,
        attempt=r.attempt,
        tenant_id=TenantId(r.tenant_id),
        provider_id=ProviderId(r.provider_id),
        resource=r.resource,
        lane=r.lane,
        rate=from_e4(r.rate_e4),
        hold=from_fen(r.hold_fen),
        at=r.at,
        trade_id=r.trade_id,
        window_start=r.window_start,
        window_end=r.window_end,
        settled=r.settled,
    )


def _voucher(r: Any) -> Voucher:
    return Voucher(
        id=VoucherId(r.id),
        tenant_id=TenantId(r.tenant_id),
        share=from_e4(r.share_e4),
        cap_per_invoice=from_fen(r.cap_invoice_fen),
        cap_per_year=from_fen(r.cap_year_fen),
        issued_at=r.issued_at,
        expires_at=r.expires_at,
        providers=tuple(ProviderId(p) for p in r.providers),
        issued_by=UserId(r.issued_by) if r.issued_by else None,
        note=r.note,
        revoked_at=r.revoked_at,
    )


class SqlVoucherRepo:
    def __init__(self, conn: Connection) -> None:
        self._c = conn

    def add(self, voucher: Voucher) -> None:
        self._c.execute(
            insert(vouchers).values(
                id=voucher.id,
                tenant_id=voucher.tenant_id,
                share_e4=e4(voucher.share),
                cap_invoice_fen=fen(voucher.cap_per_invoice),
                cap_year_fen=fen(voucher.cap_per_year),
                issued_at=voucher.issued_at,
                expires_at=voucher.expires_at,
                providers=list(voucher.providers),
                issued_by=voucher.issued_by,
                note=voucher.note,
                revoked_at=voucher.revoked_at,
            )
        )

    def get(self, voucher_id: VoucherId) -> Voucher | None:
        row = self._c.execute(select(vouchers).where(vouchers.c.id == voucher_id)).first()
        return _voucher(row) if row else None

    def find(self, tenant_id: TenantId | None = None) -> list[Voucher]:
        query = select(vouchers)
        if tenant_id is not None:
            query = query.where(vouchers.c.tenant_id == tenant_id)
        return [
            _voucher(r)
            for r in self._c.execute(query.order_by(vouchers.c.issued_at, vouchers.c.id))
        ]

    def revoke(self, voucher_id: VoucherId, at: datetime) -> None:
        self._c.execute(
            update(vouchers)
            .where(vouchers.c.id == voucher_id, vouchers.c.revoked_at.is_(None))
            .values(revoked_at=at)
        )

    def add_use(self, use: VoucherUse) -> bool:
        inserted = self._c.execute(
            _upsert(self._c)(voucher_uses)
            .values(
                invoice=use.invoice,
                voucher_id=use.voucher_id,
                tenant_id=use.tenant_id,
                amount_fen=fen(use.amount),
                at=use.at,
                year=use.at.year,
            )
            .on_conflict_do_nothing(index_elements=["invoice"])
            .returning(voucher_uses.c.invoice)
        ).first()
        return inserted is not None

    def used_in_year(self, voucher_ids: Sequence[VoucherId], year: int) -> dict[VoucherId, Decimal]:
        if not voucher_ids:
            return {}
        query = (
            select(voucher_uses.c.voucher_id, func.sum(voucher_uses.c.amount_fen))
            .where(voucher_uses.c.voucher_id.in_(list(voucher_ids)), voucher_uses.c.year == year)
            .group_by(voucher_uses.c.voucher_id)
        )
        return {VoucherId(v): from_fen(int(s)) for v, s in self._c.execute(query)}

    def uses(self, *, since: datetime | None = None) -> list[VoucherUse]:
        query = select(voucher_uses)
        if since is not None:
            query = query.where(voucher_uses.c.at >= since)
        return [
            VoucherUse(
                VoucherId(r.voucher_id),
                r.invoice,
                TenantId(r.tenant_id),
                from_fen(r.amount_fen),
                r.at,
            )
            for r in self._c.execute(query.order_by(voucher_uses.c.at))
        ]
