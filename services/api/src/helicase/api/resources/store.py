"""All SQL of the resources: compute and storage resources, sealed SSH credentials; each
belongs to a tenant and is found only in it (helicase.api.tenancy)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.protobuf.message import Message
from sqlalchemy import RowMapping, Table, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from helicase.api import paging, tenancy
from helicase.api.convert import id_of, ts
from helicase.api.resources.credentials import CredentialKeyError, CredentialKeyring, public_facts
from helicase.api.tables import compute_resources, ssh_credentials, storage_resources
from helicase.common.errors import FailedPrecondition, InvalidArgument, NotFound
from helicase.v1 import resource_pb2

M = TypeVar("M", bound=Message)
Row = RowMapping


def compute_message(row: Row) -> resource_pb2.ComputeResource:
    return resource_pb2.ComputeResource(
        id=str(row["id"]), display_name=row["display_name"], host=row["host"], port=row["port"],
        login_user=row["login_user"], batch_system=row["batch_system"],
        scratch_root=row["scratch_root"], default_queue=row["default_queue"],
        host_key=row["host_key"], create_time=ts(row["create_time"]),
        tenant=row["tenant"],
    )  # fmt: skip


def storage_message(row: Row) -> resource_pb2.StorageResource:
    return resource_pb2.StorageResource(
        id=str(row["id"]), display_name=row["display_name"], host=row["host"], port=row["port"],
        login_user=row["login_user"], root_path=row["root_path"], host_key=row["host_key"],
        create_time=ts(row["create_time"]),
        tenant=row["tenant"],
    )  # fmt: skip


def credential_message(row: Row) -> resource_pb2.Credential:
    """Never carries the private key."""
    return resource_pb2.Credential(
        id=str(row["id"]), display_name=row["display_name"], public_key=row["public_key"],
        fingerprint=row["fingerprint"], create_time=ts(row["create_time"]),
        tenant=row["tenant"],
    )  # fmt: skip


class ResourceStore:
    """The resources' persistence. `keyring` is None when no HELICASE_CREDENTIAL_KEY is set:
    resources work, credentials are refused."""

    def __init__(self, engine: AsyncEngine, keyring: CredentialKeyring | None) -> None:
        self.engine = engine
        self.keyring = keyring

    async def _create(self, table: Table, request_id: str, values: dict[str, Any]) -> Row:
        tenant = tenancy.owner()
        async with self.engine.begin() as conn:
            inserted = await conn.execute(
                insert(table)
                .values(
                    tenant=tenant, request_id=request_id or None, create_time=datetime.now(UTC),
                    **values,
                )
                .on_conflict_do_nothing(index_elements=["tenant", "request_id"])
                .returning(*table.c)
            )  # fmt: skip
            row = inserted.first()
            if row is None:
                known = table.c.tenant == tenant, table.c.request_id == request_id
                row = (await conn.execute(select(table).where(*known))).first()
            assert row is not None
            return row._mapping

    async def _get(self, table: Table, raw_id: str, what: str) -> Row:
        async with self.engine.connect() as conn:
            row = (
                await conn.execute(
                    select(table).where(table.c.id == id_of(raw_id, what), *tenancy.where(table))
                )
            ).first()
        if row is None:
            raise NotFound(f"{what} {raw_id!r} not found")
        return row._mapping

    async def _list(
        self, table: Table, page: paging.Page, convert: Callable[[Row], M]
    ) -> tuple[list[M], str]:
        async with self.engine.connect() as conn:
            rows, token = await paging.list_page(
                conn, select(table), table, page, key=(table.c.create_time, table.c.id)
            )
        return [convert(r._mapping) for r in rows], token

    # -- compute resources

    async def create_compute(
        self, request_id: str, r: resource_pb2.ComputeResource
    ) -> resource_pb2.ComputeResource:
        row = await self._create(
            compute_resources, request_id,
            {"id": uuid.uuid4(), "display_name": r.display_name, "host": r.host,
             "port": r.port or 22, "login_user": r.login_user, "batch_system": r.batch_system,
             "scratch_root": r.scratch_root, "default_queue": r.default_queue,
             "host_key": r.host_key.strip()},
        )  # fmt: skip
        return compute_message(row)

    async def get_compute(self, raw_id: str) -> resource_pb2.ComputeResource:
        return compute_message(await self._get(compute_resources, raw_id, "compute resource"))

    async def list_compute(
        self, page: paging.Page
    ) -> tuple[list[resource_pb2.ComputeResource], str]:
        return await self._list(compute_resources, page, compute_message)

    # -- storage resources

    async def create_storage(
        self, request_id: str, r: resource_pb2.StorageResource
    ) -> resource_pb2.StorageResource:
        row = await self._create(
            storage_resources, request_id,
            {"id": uuid.uuid4(), "display_name": r.display_name, "host": r.host,
             "port": r.port or 22, "login_user": r.login_user, "root_path": r.root_path,
             "host_key": r.host_key.strip()},
        )  # fmt: skip
        return storage_message(row)

    async def get_storage(self, raw_id: str) -> resource_pb2.StorageResource:
        return storage_message(await self._get(storage_resources, raw_id, "storage resource"))

    async def list_storage(
        self, page: paging.Page
    ) -> tuple[list[resource_pb2.StorageResource], str]:
        return await self._list(storage_resources, page, storage_message)

    # -- credentials

    def keys(self) -> CredentialKeyring:
        """The credential keys; FailedPrecondition without HELICASE_CREDENTIAL_KEY."""
        if self.keyring is None:
            raise FailedPrecondition("credentials need HELICASE_CREDENTIAL_KEY on the api")
        return self.keyring

    async def create_credential(
        self, request_id: str, c: resource_pb2.Credential
    ) -> resource_pb2.Credential:
        keyring = self.keys()
        facts = public_facts(c.private_key)
        credential_id = uuid.uuid4()
        row = await self._create(
            ssh_credentials, request_id,
            {"id": credential_id, "display_name": c.display_name,
             "sealed_private_key": keyring.seal(str(credential_id), c.private_key),
             "public_key": facts.public_key, "fingerprint": facts.fingerprint},
        )  # fmt: skip
        return credential_message(row)

    async def get_credential(self, raw_id: str) -> resource_pb2.Credential:
        return credential_message(await self._get(ssh_credentials, raw_id, "credential"))

    async def list_credentials(
        self, page: paging.Page
    ) -> tuple[list[resource_pb2.Credential], str]:
        return await self._list(ssh_credentials, page, credential_message)

    async def private_key(self, raw_id: str) -> tuple[str, str]:
        """The tenant the credential belongs to and its decrypted key (for the internal
        CredentialSecretService only)."""
        keyring = self.keys()
        row = await self._get(ssh_credentials, raw_id, "credential")
        try:
            return str(row["tenant"]), keyring.open(str(row["id"]), row["sealed_private_key"])
        except CredentialKeyError as exc:
            raise FailedPrecondition(str(exc)) from None

    async def credential_tenant(self, raw_id: str) -> str | None:
        """The tenant credential `raw_id` belongs to (None: no such credential), in whose audit
        trail its use is recorded."""
        try:
            row = await self._get(ssh_credentials, raw_id, "credential")
        except (NotFound, InvalidArgument):
            return None
        return str(row["tenant"])
