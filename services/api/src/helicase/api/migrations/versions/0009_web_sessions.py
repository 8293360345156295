"""The composer's sign-in sessions: a hash of the cookie's id, the caller's token sealed under a
key derived from that id, and when the session ends.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("lookup", sa.LargeBinary, primary_key=True),
        sa.Column("sealed_token", sa.LargeBinary, nullable=False),
        sa.Column("create_time", _TIME, nullable=False, server_default=sa.func.now()),
        sa.Column("expire_time", _TIME, nullable=False),
    )
    op.create_index("web_sessions_expire_time", "web_sessions", ["expire_time"])


def downgrade() -> None:
    op.drop_table("web_sessions")
