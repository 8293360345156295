"""The api's PostgreSQL schema (SQLAlchemy Core), every table of every resource; migrations in
helicase.api.migrations.

Every table of things a caller owns has a `tenant` column (migration 0008) that every query
goes through helicase.api.tenancy for; request ids and template names are unique per tenant.
Tasks, attempts and events hang off their workflow and are reached only through it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.types import UserDefinedType

metadata = MetaData()


class Xid8(UserDefinedType[str]):
    """PostgreSQL's 64-bit transaction id (read as text: `CAST(change_xid AS text)`)."""

    cache_ok = True

    def get_col_spec(self, **_: Any) -> str:
        return "xid8"


workflows = Table(
    "workflows",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("tenant", Text, nullable=False),
    Column("request_id", Text),
    Column("display_name", Text, nullable=False),
    Column("labels", JSONB, nullable=False),
    Column("definition", LargeBinary, nullable=False),  # helicase.v1.Workflow, definition only
    Column("task_count", Integer, nullable=False),
    Column("state", Integer, nullable=False),
    Column("message", Text, nullable=False, server_default=""),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("start_time", DateTime(timezone=True)),
    Column("end_time", DateTime(timezone=True)),
    UniqueConstraint("tenant", "request_id", name="workflows_tenant_request_id_key"),
    Index("workflows_create_time", text("create_time DESC"), text("id DESC")),
    Index("workflows_tenant_create_time", "tenant", text("create_time DESC"), text("id DESC")),
    Index("workflows_state", "state"),
    # A tenant's unfinished workflows, summed for its queued-task quota (migration 0010).
    Index("workflows_tenant_state", "tenant", "state"),
    Index("workflows_labels", "labels", postgresql_using="gin"),
    # The purge's order (migration 0011): finished workflows, oldest end first.
    Index("workflows_finished", "end_time", "id", postgresql_where=text("end_time IS NOT NULL")),
)

tasks = Table(
    "tasks",
    metadata,
    Column("workflow_id", Uuid, nullable=False),
    Column("task_id", Text, nullable=False),
    Column("ordinal", Integer, nullable=False),  # position in the definition
    Column("type", Text, nullable=False),
    Column("instance_group", Text, nullable=False),
    Column("state", Integer, nullable=False),
    Column("attempt", Integer, nullable=False, server_default="0"),
    Column("placement", Integer, nullable=False, server_default="0"),
    Column("participant", Text, nullable=False, server_default=""),
    Column("participant_pos", ARRAY(Integer), nullable=False, server_default="{}"),
    Column("message", Text, nullable=False, server_default=""),
    Column("outputs", JSONB),
    # The transaction that last changed the row (NULL: unchanged since created), so a watch
    # reads only what changed (helicase.api.workflows.changes).
    Column("change_xid", Xid8),
    PrimaryKeyConstraint("workflow_id", "task_id"),
    Index("tasks_workflow_ordinal", "workflow_id", "ordinal", unique=True),
    Index("tasks_workflow_change", "workflow_id", "change_xid"),
)

task_attempts = Table(
    "task_attempts",
    metadata,
    Column("workflow_id", Uuid, nullable=False),
    Column("task_id", Text, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("state", Integer, nullable=False),
    Column("placement", Integer, nullable=False),
    Column("participant", Text, nullable=False, server_default=""),
    Column("participant_pos", ARRAY(Integer), nullable=False, server_default="{}"),
    Column("message", Text, nullable=False, server_default=""),
    Column("start_time", DateTime(timezone=True)),
    Column("end_time", DateTime(timezone=True)),
    PrimaryKeyConstraint("workflow_id", "task_id", "attempt"),
)

events = Table(
    "events",
    metadata,
    Column("event_id", Text, primary_key=True),
    Column("workflow_id", Uuid, nullable=False),
    Column("time", DateTime(timezone=True), nullable=False),
    Column("source", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),  # helicase.internal.v1.Event
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("events_workflow", "workflow_id"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("topic", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("payload", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True)),
    Column("trace_context", Text),  # W3C traceparent, sent as a Kafka header
    Index("outbox_unpublished", "id", postgresql_where=text("published_at IS NULL")),
    Index("outbox_published", "id", postgresql_where=text("published_at IS NOT NULL")),
)

schedules = Table(
    "schedules",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("tenant", Text, nullable=False),
    Column("request_id", Text),
    Column("display_name", Text, nullable=False),
    Column("cron", Text, nullable=False),
    Column("time_zone", Text, nullable=False, server_default=""),
    Column("workflow", LargeBinary, nullable=False),  # helicase.v1.Workflow, the template
    Column("paused", Boolean, nullable=False, server_default="false"),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("active_since", DateTime(timezone=True), nullable=False),  # creation or last resume
    UniqueConstraint("tenant", "request_id", name="schedules_tenant_request_id_key"),
    Index("schedules_create_time", "create_time", "id"),
    Index("schedules_tenant_create_time", "tenant", "create_time", "id"),
)

# Workflow templates (migration 0004): the definition is stored as its proto3 JSON.
workflow_templates = Table(
    "workflow_templates",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("tenant", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("workflow", JSONB, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("update_time", DateTime(timezone=True), nullable=False),
    UniqueConstraint("tenant", "name", name="workflow_templates_tenant_name_key"),
    Index("workflow_templates_tenant_name", "tenant", "name", "id"),
)

# -- the resources (compute, storage, credentials) and experiments: migration 0005 ---


def _created_newest_first(name: str, *columns: Column[Any]) -> Table:
    """A table of records made by a Create RPC: its uuid id, its tenant, the request_id that
    makes the create idempotent within the tenant, `columns`, and create_time, listed newest
    first (keyset on create_time, id)."""
    return Table(
        name,
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("tenant", Text, nullable=False),
        Column("request_id", Text),
        *columns,
        Column("create_time", DateTime(timezone=True), nullable=False),
        UniqueConstraint("tenant", "request_id", name=f"{name}_tenant_request_id_key"),
        Index(f"{name}_create_time", text("create_time DESC"), text("id DESC")),
        Index(f"{name}_tenant_create_time", "tenant", text("create_time DESC"), text("id DESC")),
    )


compute_resources = _created_newest_first(
    "compute_resources",
    Column("display_name", Text, nullable=False),
    Column("host", Text, nullable=False),
    Column("port", Integer, nullable=False),
    Column("login_user", Text, nullable=False),
    Column("batch_system", Integer, nullable=False),
    Column("scratch_root", Text, nullable=False),
    Column("default_queue", Text, nullable=False),
    Column("host_key", Text, nullable=False),
)

storage_resources = _created_newest_first(
    "storage_resources",
    Column("display_name", Text, nullable=False),
    Column("host", Text, nullable=False),
    Column("port", Integer, nullable=False),
    Column("login_user", Text, nullable=False),
    Column("root_path", Text, nullable=False),
    Column("host_key", Text, nullable=False),
)

ssh_credentials = _created_newest_first(
    "ssh_credentials",
    Column("display_name", Text, nullable=False),
    Column("sealed_private_key", LargeBinary, nullable=False),  # AES-GCM (resources.credentials)
    Column("public_key", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
)

experiments = _created_newest_first(
    "experiments",
    Column("workflow_id", Uuid, nullable=False, unique=True),
    Column("display_name", Text, nullable=False),
    Column("definition", JSONB, nullable=False),  # the request as proto3 JSON
)

# -- callers: tenants, API keys and the audit trail (migration 0007) ---------------------------

tenants = Table(
    "tenants",
    metadata,
    Column("id", Text, primary_key=True),
    Column("display_name", Text, nullable=False, server_default=""),
    Column("create_time", DateTime(timezone=True), nullable=False),
)

# A tenant's fair-use limits that differ from the defaults (migration 0010); 0: the default.
tenant_limits = Table(
    "tenant_limits",
    metadata,
    Column("tenant_id", Text, primary_key=True),
    Column("requests_per_second", Integer, nullable=False, server_default="0"),
    Column("request_burst", Integer, nullable=False, server_default="0"),
    Column("max_watch_streams", Integer, nullable=False, server_default="0"),
    Column("max_running_workflows", Integer, nullable=False, server_default="0"),
    Column("max_queued_tasks", Integer, nullable=False, server_default="0"),
    Column("max_queued_bytes", BigInteger, nullable=False, server_default="0"),  # 0013
    Column("update_time", DateTime(timezone=True), nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Uuid, primary_key=True),  # the "<id>" of the token "hlc_<id>_<secret>"
    Column("tenant_id", Text, nullable=False),
    Column("role", Integer, nullable=False),  # helicase.v1.Role
    Column("display_name", Text, nullable=False, server_default=""),
    Column("token_sha256", LargeBinary, nullable=False, unique=True),  # never the token
    Column("create_time", DateTime(timezone=True), nullable=False),
    Column("expire_time", DateTime(timezone=True)),
    Column("revoke_time", DateTime(timezone=True)),
    Index("api_keys_tenant", "tenant_id", text("create_time DESC"), text("id DESC")),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("tenant_id", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("resource", Text, nullable=False, server_default=""),
    Column("result", Text, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Index("audit_events_tenant", "tenant_id", text("create_time DESC"), text("id DESC")),
    Index("audit_events_create_time", text("create_time DESC"), text("id DESC")),
)

# The composer's sign-in sessions (migration 0009): found by a hash of the cookie's id, holding
# the caller's token sealed under a key derived from that id (helicase.api.websession.tokens).
web_sessions = Table(
    "web_sessions",
    metadata,
    Column("lookup", LargeBinary, primary_key=True),
    Column("sealed_token", LargeBinary, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("expire_time", DateTime(timezone=True), nullable=False),
    Index("web_sessions_expire_time", "expire_time"),
)
