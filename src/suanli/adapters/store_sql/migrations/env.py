"""Alembic environment: runs migrations on the engine handed in by `database.migrate`."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from suanli.adapters.store_sql.tables import metadata

engine = context.config.attributes["engine"]
if not isinstance(engine, Engine):
    raise RuntimeError("run migrations through suanli.adapters.store_sql.database.migrate")

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
