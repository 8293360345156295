"""The resource registry (compute and storage resources, sealed SSH credentials) and
experiments.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def _common(*columns: sa.Column[object]) -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Uuid, primary_key=True),
        sa.Column("request_id", sa.Text, unique=True),
        sa.Column("display_name", sa.Text, nullable=False),
        *columns,
        sa.Column("create_time", _TIME, nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "compute_resources",
        *_common(
            sa.Column("host", sa.Text, nullable=False),
            sa.Column("port", sa.Integer, nullable=False),
            sa.Column("login_user", sa.Text, nullable=False),
            sa.Column("batch_system", sa.Integer, nullable=False),
            sa.Column("scratch_root", sa.Text, nullable=False),
            sa.Column("default_queue", sa.Text, nullable=False),
            sa.Column("host_key", sa.Text, nullable=False),
        ),
    )
    op.create_table(
        "storage_resources",
        *_common(
            sa.Column("host", sa.Text, nullable=False),
            sa.Column("port", sa.Integer, nullable=False),
            sa.Column("login_user", sa.Text, nullable=False),
            sa.Column("root_path", sa.Text, nullable=False),
            sa.Column("host_key", sa.Text, nullable=False),
        ),
    )
    op.create_table(
        "ssh_credentials",
        *_common(
            sa.Column("sealed_private_key", sa.LargeBinary, nullable=False),
            sa.Column("public_key", sa.Text, nullable=False),
            sa.Column("fingerprint", sa.Text, nullable=False),
        ),
    )
    op.create_table(
        "experiments",
        *_common(
            sa.Column("workflow_id", sa.Uuid, nullable=False, unique=True),
            sa.Column("definition", postgresql.JSONB, nullable=False),
        ),
    )
    for table in ("compute_resources", "storage_resources", "ssh_credentials", "experiments"):
        op.execute(f"CREATE INDEX {table}_create_time ON {table} (create_time DESC, id DESC)")


def downgrade() -> None:
    for table in ("experiments", "ssh_credentials", "storage_resources", "compute_resources"):
        op.drop_table(table)
