"""Shared fixtures. Store and service tests run against SQLite and PostgreSQL for real.

PostgreSQL: SUANLI_TEST_POSTGRES_URL (default postgresql://postgres@127.0.0.1:5432/postgres)
names a server where the tests may create a scratch database; if it cannot be reached the
PostgreSQL tests FAIL (they never skip) — `.ci/run` starts the server when it is down.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from suanli.adapters.clock import ManualClock
from suanli.adapters.ids import RandomIds
from suanli.adapters.store_sql.database import make_engine, migrate
from suanli.adapters.store_sql.tables import metadata
from suanli.platform import Platform, PlatformConfig

PG_ADMIN_URL = os.environ.get(
    "SUANLI_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
START = datetime(2026, 3, 1, 8, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A scratch PostgreSQL database for this test session, migrated once."""
    name = f"suanli_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL is not reachable at {PG_ADMIN_URL}: {exc}. Start it (`.ci/run` does) "
            "or point SUANLI_TEST_POSTGRES_URL at a server.",
            pytrace=False,
        )
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _clear_postgres(url: str) -> None:
    engine = make_engine(url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty, migrated database of each supported kind (cleared per test)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'suanli.db'}"
    url: str = request.getfixturevalue("pg_database")
    _clear_postgres(url)
    return url


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def platform(database_url: str, clock: ManualClock) -> Iterator[Platform]:
    plat = Platform(
        PlatformConfig(database_url=database_url, heartbeat_deadline_s=15.0),
        clock=clock,
        ids=RandomIds(random.Random(7)),
    )
    yield plat
    plat.close()
