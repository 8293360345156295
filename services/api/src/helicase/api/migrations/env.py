"""Alembic environment: online migrations only, serialised by a PostgreSQL advisory lock so that
several apis starting together migrate once.

The lock is tried, not waited for: a session blocked in pg_advisory_lock holds a snapshot, and a
CREATE INDEX CONCURRENTLY of the migrating session waits for every older snapshot to end, so two
apis waiting on each other that way deadlock. Between tries the waiter holds no transaction."""

from __future__ import annotations

import time

from alembic import context
from sqlalchemy import create_engine, text

from helicase.api.tables import metadata

LOCK_ID = 0x48454C49  # "HELI"

url = context.config.get_main_option("sqlalchemy.url")
assert url is not None
engine = create_engine(url)
with engine.connect() as connection:
    while True:
        taken = connection.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": LOCK_ID})
        got = bool(taken.scalar())
        connection.commit()
        if got:
            break
        time.sleep(0.2)
    try:
        context.configure(connection=connection, target_metadata=metadata)
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()
    finally:
        connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": LOCK_ID})
        connection.commit()
engine.dispose()
