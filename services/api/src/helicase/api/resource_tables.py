"""Tables of the resource registry and of experiments (SQLAlchemy Core); migration 0005."""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, LargeBinary, Table, Text, Uuid, text
from sqlalchemy.dialects.postgresql import JSONB

from helicase.api.tables import metadata

compute_resources = Table(
    "compute_resources",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("request_id", Text, unique=True),
    Column("display_name", Text, nullable=False),
    Column("host", Text, nullable=False),
    Column("port", Integer, nullable=False),
    Column("login_user", Text, nullable=False),
    Column("batch_system", Integer, nullable=False),
    Column("scratch_root", Text, nullable=False),
    Column("default_queue", Text, nullable=False),
    Column("host_key", Text, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Index("compute_resources_create_time", text("create_time DESC"), text("id DESC")),
)

storage_resources = Table(
    "storage_resources",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("request_id", Text, unique=True),
    Column("display_name", Text, nullable=False),
    Column("host", Text, nullable=False),
    Column("port", Integer, nullable=False),
    Column("login_user", Text, nullable=False),
    Column("root_path", Text, nullable=False),
    Column("host_key", Text, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Index("storage_resources_create_time", text("create_time DESC"), text("id DESC")),
)

ssh_credentials = Table(
    "ssh_credentials",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("request_id", Text, unique=True),
    Column("display_name", Text, nullable=False),
    Column("sealed_private_key", LargeBinary, nullable=False),  # AES-GCM, see credentials.py
    Column("public_key", Text, nullable=False),
    Column("fingerprint", Text, nullable=False),
    Column("create_time", DateTime(timezone=True), nullable=False),
    Index("ssh_credentials_create_time", text("create_time DESC"), text("id DESC")),
)

experiments = Table(
    "experiments",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("request_id", Text, unique=True),
    Column("workflow_id", Uuid, nullable=False, unique=True),
    Column("display_name", Text, nullable=False),
    Column("definition", JSONB, nullable=False),  # the request as proto3 JSON
    Column("create_time", DateTime(timezone=True), nullable=False),
    Index("experiments_create_time", text("create_time DESC"), text("id DESC")),
)
