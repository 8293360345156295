"""Alembic environment: online migrations only, serialised by a PostgreSQL advisory lock so that
several apis starting together migrate once."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, text

from helicase.api.tables import metadata

LOCK_ID = 0x48454C49  # "HELI"

url = context.config.get_main_option("sqlalchemy.url")
assert url is not None
engine = create_engine(url)
with engine.connect() as connection:
    connection.execute(text("SELECT pg_advisory_lock(:id)"), {"id": LOCK_ID})
    connection.commit()
    try:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": LOCK_ID})
        connection.commit()
engine.dispose()
