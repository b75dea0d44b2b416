"""The SQL store: a unit of work is one connection in one transaction."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from suanli.adapters.store_sql.database import READONLY, make_engine, migrate
from suanli.adapters.store_sql.history_repo import SqlHistoryRepo
from suanli.adapters.store_sql.job_repo import SqlJobRepo
from suanli.adapters.store_sql.ledger_repo import SqlLedgerRepo, SqlVoucherRepo
from suanli.adapters.store_sql.log_repo import SqlLogRepo
from suanli.adapters.store_sql.market_repo import SqlMarketRepo
from suanli.adapters.store_sql.pool_repo import SqlPoolRepo
from suanli.adapters.store_sql.tenancy_repo import SqlAuditRepo, SqlTenancyRepo
from suanli.adapters.store_sql.usage_repo import SqlUsageRepo
from suanli.ports.store import (
    AuditRepo,
    HistoryRepo,
    JobRepo,
    LedgerRepo,
    LogRepo,
    MarketRepo,
    PoolRepo,
    TenancyRepo,
    UsageRepo,
    VoucherRepo,
)


class SqlUnitOfWork:
    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        # Annotated with the port types so mypy checks each repo against its protocol.
        self.pool: PoolRepo = SqlPoolRepo(conn)
        self.tenancy: TenancyRepo = SqlTenancyRepo(conn)
        self.audit: AuditRepo = SqlAuditRepo(conn)
        self.jobs: JobRepo = SqlJobRepo(conn)
        self.usage: UsageRepo = SqlUsageRepo(conn)
        self.logs: LogRepo = SqlLogRepo(conn)
        self.market: MarketRepo = SqlMarketRepo(conn)
        self.ledger: LedgerRepo = SqlLedgerRepo(conn)
        self.vouchers: VoucherRepo = SqlVoucherRepo(conn)
        self.history: HistoryRepo = SqlHistoryRepo(conn)

    def commit(self) -> None:
        self.conn.commit()


class SqlStore:
    """Store over one SQLAlchemy engine. `migrate=True` brings the schema up to date."""

    def __init__(self, url: str, *, run_migrations: bool = True) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        # SQLite allows one writer; queueing writers on a lock here is fairer and faster
        # than SQLite's busy handler, which sleeps in growing steps (up to 100 ms).
        self._write_lock: AbstractContextManager[object] = (
            threading.Lock() if self.engine.dialect.name == "sqlite" else nullcontext()
        )
        if run_migrations:
            migrate(self.engine)

    @contextmanager
    def unit_of_work(self, *, readonly: bool = False) -> Iterator[SqlUnitOfWork]:
        """One transaction; rolled back unless `commit()` was called inside."""
        with nullcontext() if readonly else self._write_lock, self.engine.connect() as conn:
            if readonly:
                conn = conn.execution_options(**{READONLY: True})
            try:
                yield SqlUnitOfWork(conn)
            finally:
                if conn.in_transaction():
                    conn.rollback()

    def close(self) -> None:
        self.engine.dispose()
