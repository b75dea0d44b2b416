"""Migration 0005 on SQLite and PostgreSQL: usage stored in whole seconds becomes
milliseconds (old rows: seconds x 1000), the daily report's covering index follows, and
the downgrade gives whole seconds back (truncated)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command

from suanli.adapters.store_sql.database import alembic_config, make_engine
from suanli.adapters.store_sql.store import SqlStore
from suanli.domain.ids import JobId
from tests.conftest import PG_ADMIN_URL, START

COVER = "ix_usage_records_tenant_day_cover"


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine on a database with no schema at all (the shared PostgreSQL test database
    is already at head, so this one is its own scratch database, dropped afterwards)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
        yield engine
        engine.dispose()
        return
    name = f"suanli_mig_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine = make_engine(PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _usage_row(attempt: int, seconds: int) -> dict[str, object]:
    return {
        "job_id": "j-1",
        "attempt": attempt,
        "tenant_id": "t1",
        "provider_id": "p",
        "region_id": "r",
        "cluster_id": "c",
        "node_id": "n",
        "sector": "research",
        "workload_class": "ai",
        "dimension": "gpu:A100-80GB",
        "quantity": 2.0,
        "started_at": START,
        "ended_at": START,
        "day": START.date().isoformat(),
        "seconds": seconds,
        "rating_pflops": 0.2,
        "standard_units": 2.0 * seconds * 0.2 / 3600,
    }


def _seed(conn: sa.Connection, usage: list[dict[str, object]]) -> None:
    """A tenant, its job and the job's usage rows, written against the schema as it is at
    the current revision (reflected: the application's tables are at head)."""
    conn.execute(sa.text("INSERT INTO tenants (id, name) VALUES ('t1', 'T1')"))
    md = sa.MetaData()
    md.reflect(conn, only=["jobs", "usage_records"])
    conn.execute(
        md.tables["jobs"].insert(),
        {
            "id": "j-1",
            "tenant_id": "t1",
            "user_id": "u",
            "name": "",
            "spec": {"command": ["true"]},
            "status": "SUCCEEDED",
            "reason": "",
            "attempt": 2,
            "submitted_at": START,
            "cancel_requested": False,
        },
    )
    conn.execute(md.tables["usage_records"].insert(), usage)


def _columns_and_cover(engine: sa.Engine) -> tuple[set[str], list[str]]:
    inspector = sa.inspect(engine)
    columns = {c["name"] for c in inspector.get_columns("usage_records")}
    (cover,) = [i for i in inspector.get_indexes("usage_records") if i["name"] == COVER]
    return columns, [str(c) for c in cover["column_names"]]


def test_whole_second_usage_is_carried_over_as_milliseconds(fresh_engine: sa.Engine) -> None:
    cfg = alembic_config(fresh_engine)
    command.upgrade(cfg, "0004")
    with fresh_engine.begin() as conn:
        _seed(conn, [_usage_row(1, 90), _usage_row(2, 0)])

    command.upgrade(cfg, "0005")
    columns, cover = _columns_and_cover(fresh_engine)
    assert "milliseconds" in columns and "seconds" not in columns
    assert "milliseconds" in cover and "seconds" not in cover
    with fresh_engine.connect() as conn:
        rows = conn.execute(
            sa.text("SELECT attempt, milliseconds FROM usage_records ORDER BY attempt")
        ).all()
    assert [tuple(r) for r in rows] == [(1, 90_000), (2, 0)]

    # the application reads the carried-over rows as milliseconds
    command.upgrade(cfg, "head")
    store = SqlStore(fresh_engine.url.render_as_string(hide_password=False))
    try:
        with store.unit_of_work(readonly=True) as uow:
            records = uow.usage.for_job(JobId("j-1"))
            (total,) = uow.usage.totals(by=("tenant",), tenant_id=None, since=None)
        assert [(r.milliseconds, r.seconds, r.amount) for r in records] == [
            (90_000, 90.0, 180.0),
            (0, 0.0, 0.0),
        ]
        assert (total.seconds, total.amount, total.jobs) == (90.0, 180.0, 1)
    finally:
        store.close()


def test_the_downgrade_gives_whole_seconds_back(fresh_engine: sa.Engine) -> None:
    cfg = alembic_config(fresh_engine)
    command.upgrade(cfg, "0005")
    with fresh_engine.begin() as conn:
        rows = [_usage_row(1, 0), _usage_row(2, 0)]
        for row, ms in zip(rows, (90_250, 999), strict=True):
            del row["seconds"]
            row["milliseconds"] = ms
        _seed(conn, rows)

    command.downgrade(cfg, "0004")
    columns, cover = _columns_and_cover(fresh_engine)
    assert "seconds" in columns and "milliseconds" not in columns
    assert "seconds" in cover and "milliseconds" not in cover
    with fresh_engine.connect() as conn:
        back = conn.execute(
            sa.text("SELECT attempt, seconds FROM usage_records ORDER BY attempt")
        ).all()
    assert [tuple(r) for r in back] == [(1, 90), (2, 0)]
