"""Alembic migrations of the api's schema; `upgrade(url)` runs them under an advisory lock."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

HERE = Path(__file__).resolve().parent


def head() -> str:
    """The newest revision (what `upgrade` brings a database to)."""
    newest = ScriptDirectory(str(HERE)).get_current_head()
    assert newest is not None
    return newest


def upgrade(sync_url: str, revision: str = "head") -> None:
    """Brings the database at `sync_url` (postgresql+psycopg://...) to the latest schema, or to
    `revision` (tests of a migration start from the one before)."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("sqlalchemy.url", sync_url.replace("%", "%%"))
    command.upgrade(config, revision)
