"""Tenants: every stored thing a caller owns (workflows, schedules, templates, compute and
storage resources, credentials, experiments) gets a `tenant` column. Rows stored before tenants
existed belong to the tenant `demo` (the local suite's tenant). Request ids, and template names,
become unique per tenant; tenant-scoped listings get an index leading with the tenant, so a page
stays one keyset range scan. Tasks, attempts and events hang off their workflow and keep no
tenant of their own.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

EXISTING_ROWS_TENANT = "demo"
_BY_REQUEST_ID = (
    "workflows",
    "schedules",
    "compute_resources",
    "storage_resources",
    "ssh_credentials",
    "experiments",
)
_NEWEST_FIRST = ("workflows", "compute_resources", "storage_resources", "ssh_credentials",
                 "experiments")  # fmt: skip


def _add_tenant(table: str) -> None:
    # The default fills the existing rows and is dropped at once: new rows must name a tenant.
    op.execute(
        f"ALTER TABLE {table} ADD COLUMN tenant text NOT NULL DEFAULT '{EXISTING_ROWS_TENANT}'"
    )
    op.execute(f"ALTER TABLE {table} ALTER COLUMN tenant DROP DEFAULT")


def upgrade() -> None:
    for table in (*_BY_REQUEST_ID, "workflow_templates"):
        _add_tenant(table)
    for table in _BY_REQUEST_ID:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_request_id_key")
        op.execute(
            f"ALTER TABLE {table} ADD CONSTRAINT {table}_tenant_request_id_key "
            "UNIQUE (tenant, request_id)"
        )
    op.execute("ALTER TABLE workflow_templates DROP CONSTRAINT workflow_templates_name_key")
    op.execute(
        "ALTER TABLE workflow_templates ADD CONSTRAINT workflow_templates_tenant_name_key "
        "UNIQUE (tenant, name)"
    )
    for table in _NEWEST_FIRST:
        op.execute(
            f"CREATE INDEX {table}_tenant_create_time ON {table} "
            "(tenant, create_time DESC, id DESC)"
        )
    op.execute("CREATE INDEX schedules_tenant_create_time ON schedules (tenant, create_time, id)")
    op.execute(
        "CREATE INDEX workflow_templates_tenant_name ON workflow_templates (tenant, name, id)"
    )


def downgrade() -> None:
    # Fails when one request id or template name is used by two tenants: they cannot be merged.
    op.execute("DROP INDEX workflow_templates_tenant_name")
    op.execute("DROP INDEX schedules_tenant_create_time")
    for table in _NEWEST_FIRST:
        op.execute(f"DROP INDEX {table}_tenant_create_time")
    op.execute("ALTER TABLE workflow_templates DROP CONSTRAINT workflow_templates_tenant_name_key")
    op.execute(
        "ALTER TABLE workflow_templates ADD CONSTRAINT workflow_templates_name_key UNIQUE (name)"
    )
    for table in _BY_REQUEST_ID:
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {table}_tenant_request_id_key")
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {table}_request_id_key UNIQUE (request_id)")
    for table in (*_BY_REQUEST_ID, "workflow_templates"):
        op.execute(f"ALTER TABLE {table} DROP COLUMN tenant")
