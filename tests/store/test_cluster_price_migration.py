"""Migration 0009 on SQLite and PostgreSQL: a cluster's float price becomes an exact
integer of 0.0001 CNY (rounded to the nearest), the application reads it as a Decimal, and the
downgrade gives the float back."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from alembic import command

from suanli.adapters.store_sql.database import alembic_config
from suanli.adapters.store_sql.store import SqlStore
from suanli.domain.ids import ClusterId
from tests.conftest import START
from tests.store.test_usage_migration import fresh_engine  # noqa: F401 (a fixture)


def _seed(conn: sa.Connection) -> None:
    conn.execute(sa.text("INSERT INTO regions (id, name) VALUES ('r', 'R')"))
    conn.execute(sa.text("INSERT INTO providers (id, name) VALUES ('p', 'P')"))
    md = sa.MetaData()
    md.reflect(conn, only=["clusters"])
    for cid, price in (("priced", 12.34567), ("free", None), ("cheap", 0.1)):
        conn.execute(
            md.tables["clusters"].insert(),
            {
                "id": cid,
                "provider_id": "p",
                "region_id": "r",
                "engine": "local",
                "state": "READY",
                "registered_at": START,
                "agent_version": "",
                "calibration_requested": False,
                "gpu_hour_price": price,
            },
        )


def test_float_prices_become_exact_rates(fresh_engine: sa.Engine) -> None:  # noqa: F811
    cfg = alembic_config(fresh_engine)
    command.upgrade(cfg, "0008")
    with fresh_engine.begin() as conn:
        _seed(conn)
    command.upgrade(cfg, "0009")
    with fresh_engine.connect() as conn:
        found = conn.execute(sa.text("SELECT id, gpu_hour_price_e4 FROM clusters")).all()
        rows: dict[str, int | None] = {r[0]: r[1] for r in found}
    assert rows == {"priced": 123457, "free": None, "cheap": 1000}
    store = SqlStore(fresh_engine.url.render_as_string(hide_password=False))
    try:
        with store.unit_of_work(readonly=True) as uow:
            priced = uow.pool.get_cluster(ClusterId("priced"))
            assert priced is not None and priced.gpu_hour_price == Decimal("12.3457")
    finally:
        store.close()
    command.downgrade(cfg, "0008")
    with fresh_engine.connect() as conn:
        found = conn.execute(sa.text("SELECT id, gpu_hour_price FROM clusters")).all()
        back: dict[str, float | None] = {r[0]: r[1] for r in found}
    assert back == {"priced": 12.3457, "free": None, "cheap": 0.1}
