"""Callers: tenants, API keys (only a SHA-256 of each token is stored) and the audit trail.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("display_name", sa.Text, nullable=False, server_default=""),
        sa.Column("create_time", _TIME, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("role", sa.Integer, nullable=False),
        sa.Column("display_name", sa.Text, nullable=False, server_default=""),
        sa.Column("token_sha256", sa.LargeBinary, nullable=False, unique=True),
        sa.Column("create_time", _TIME, nullable=False),
        sa.Column("expire_time", _TIME),
        sa.Column("revoke_time", _TIME),
    )
    op.execute("CREATE INDEX api_keys_tenant ON api_keys (tenant_id, create_time DESC, id DESC)")
    op.create_table(
        "audit_events",
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("tenant_id", sa.Text, nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("resource", sa.Text, nullable=False, server_default=""),
        sa.Column("result", sa.Text, nullable=False),
        sa.Column("create_time", _TIME, nullable=False),
    )
    op.execute(
        "CREATE INDEX audit_events_tenant ON audit_events (tenant_id, create_time DESC, id DESC)"
    )
    op.execute("CREATE INDEX audit_events_create_time ON audit_events (create_time DESC, id DESC)")


def downgrade() -> None:
    for table in ("audit_events", "api_keys", "tenants"):
        op.drop_table(table)
