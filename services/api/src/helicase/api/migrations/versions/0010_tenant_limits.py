"""Fair use per tenant: each tenant's limits that differ from the defaults, and an index to sum
the tasks of a tenant's unfinished workflows (its queued-task quota).

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_LIMITS = (
    "requests_per_second",
    "request_burst",
    "max_watch_streams",
    "max_running_workflows",
    "max_queued_tasks",
)


def upgrade() -> None:
    op.create_table(
        "tenant_limits",
        sa.Column("tenant_id", sa.Text, primary_key=True),
        *(sa.Column(name, sa.Integer, nullable=False, server_default="0") for name in _LIMITS),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("workflows_tenant_state", "workflows", ["tenant", "state"])


def downgrade() -> None:
    op.drop_index("workflows_tenant_state", table_name="workflows")
    op.drop_table("tenant_limits")
