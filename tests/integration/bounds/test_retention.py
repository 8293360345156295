"""Retention on real suites: finished workflows older than the TTL are archived (one JSON line
per workflow at <archive>/<tenant>/<end day>.jsonl, with every task and event) and then purged;
running and recent ones stay; a dry run changes nothing; another tenant's admin can neither
purge nor count this tenant's; purging does not hold up workflows being created and run."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import psycopg
import pytest
from google.protobuf import duration_pb2

from helicase.client import HelicaseClient
from helicase.devstack.testing import RunningSuite, SuiteFactory
from helicase.v1 import admin_pb2, admin_pb2_grpc, retention_pb2, retention_pb2_grpc
from helicase.wire import channel
from tests.integration.helpers import request, run_to_end, state
from tests.integration.test_cli import piped

DAYS_AGO = 40  # past the default 30-day TTL


@pytest.fixture
async def tenant(suite: RunningSuite) -> AsyncIterator[tuple[str, str]]:
    """A fresh tenant of the shared suite and its admin's token."""
    name = f"ret-{uuid.uuid4().hex[:8]}"
    yield name, suite.issue_key(name, "admin")


def purger(ch: grpc.aio.Channel) -> retention_pb2_grpc.RetentionServiceStub:
    return retention_pb2_grpc.RetentionServiceStub(ch)


def backdate_end(suite: RunningSuite, workflow_ids: list[str], days: int) -> datetime:
    """As if the workflows had ended `days` ago; returns that end time."""
    with psycopg.connect(suite.database_url) as conn:
        conn.execute(
            "UPDATE workflows SET end_time = end_time - make_interval(days => %s)"
            " WHERE id = ANY(%s::uuid[])",
            (days, workflow_ids),
        )
        row = conn.execute(
            "SELECT max(end_time) FROM workflows WHERE id = ANY(%s::uuid[])", (workflow_ids,)
        ).fetchone()
    assert row is not None
    ended: datetime = row[0]
    return ended


def rows_left(suite: RunningSuite, workflow_ids: list[str]) -> dict[str, int]:
    with psycopg.connect(suite.database_url) as conn:
        return {
            table: conn.execute(
                f"SELECT count(*) FROM {table} WHERE {column} = ANY(%s::uuid[])",
                (workflow_ids,),
            ).fetchone()[0]  # type: ignore[index]
            for table, column in (("workflows", "id"), ("tasks", "workflow_id"),
                                  ("events", "workflow_id"))
        }  # fmt: skip


def archived(root: Path, tenant: str, ended: datetime) -> dict[str, dict[str, Any]]:
    path = root / tenant / f"{ended.astimezone(UTC):%Y-%m-%d}.jsonl"
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return {doc["workflow"]["id"]: doc for doc in lines}


async def test_old_finished_workflows_are_archived_then_purged_and_the_rest_kept(
    suite: RunningSuite, tenant: tuple[str, str]
) -> None:
    name, token = tenant
    archive = Path(suite.env["HELICASE_RETENTION_ARCHIVE_DIR"])
    async with HelicaseClient(suite.api_addr, token=token) as client:
        chain: list[dict[str, Any]] = [
            {"id": "a", "type": "noop"},
            {"id": "b", "type": "noop", "dependsOn": ["a"]},
        ]
        old = [await run_to_end(client, chain), await run_to_end(client, chain[:1])]
        recent = await run_to_end(client, chain[:1])
        running = await client.create(request([{"id": "s", "type": "sleep",
                                                "params": {"seconds": 20}}]))  # fmt: skip
        old_ids = [w.id for w in old]
        ended = backdate_end(suite, old_ids, DAYS_AGO)
        async with channel(suite.api_addr, token=token) as ch:
            dry = await purger(ch).PurgeWorkflows(retention_pb2.PurgeWorkflowsRequest(dry_run=True))
        assert dry.dry_run and dry.purge_count == 2 and dry.tasks == 3 and dry.events > 0
        assert sorted(dry.purge_sample) == sorted(old_ids)
        assert rows_left(suite, old_ids)["workflows"] == 2  # the dry run changed nothing
        assert not (archive / name).exists()

        # Purging while workflows are created and run: neither waits for the other.
        async def create_meanwhile() -> list[float]:
            took = []
            for _ in range(5):
                start = time.monotonic()
                await client.create(request([{"id": "a", "type": "noop"}]))
                took.append(time.monotonic() - start)
            return took

        async with channel(suite.api_addr, token=token) as ch:
            done, took = await asyncio.gather(
                purger(ch).PurgeWorkflows(retention_pb2.PurgeWorkflowsRequest(), timeout=60),
                create_meanwhile(),
            )
        assert not done.dry_run and done.purge_count == 2 and done.tasks == 3
        assert done.events == dry.events
        assert max(took) < 5, took

        kept = archived(archive, name, ended)
        assert sorted(kept) == sorted(old_ids)
        for workflow in old:
            doc = kept[workflow.id]
            assert doc["workflow"]["tenant"] == name
            assert doc["workflow"]["state"] == "WORKFLOW_STATE_COMPLETED"
            assert [t["task_id"] for t in doc["tasks"]] == [t.id for t in workflow.tasks]
        assert sum(len(doc["events"]) for doc in kept.values()) == done.events
        assert rows_left(suite, old_ids) == {"workflows": 0, "tasks": 0, "events": 0}
        for gone in old_ids:
            with pytest.raises(grpc.aio.AioRpcError) as missing:
                await client.get(gone)
            assert missing.value.code() == grpc.StatusCode.NOT_FOUND
        assert state(await client.get(recent.id)) == "COMPLETED"
        assert state(await client.get(running.id)) in {"PENDING", "RUNNING"}
        await client.cancel(running.id)


async def test_another_tenants_admin_can_neither_purge_nor_count_this_tenants_workflows(
    suite: RunningSuite, tenant: tuple[str, str]
) -> None:
    name, token = tenant
    other = suite.issue_key(f"ret-{uuid.uuid4().hex[:8]}", "admin")
    async with HelicaseClient(suite.api_addr, token=token) as client:
        old = await run_to_end(client, [{"id": "a", "type": "noop"}])
    backdate_end(suite, [old.id], DAYS_AGO)
    async with channel(suite.api_addr, token=other) as ch:
        for dry_run in (True, False):
            with pytest.raises(grpc.aio.AioRpcError) as denied:
                await purger(ch).PurgeWorkflows(
                    retention_pb2.PurgeWorkflowsRequest(tenant_id=name, dry_run=dry_run)
                )
            assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        own = await purger(ch).PurgeWorkflows(retention_pb2.PurgeWorkflowsRequest())
        assert own.purge_count == 0 and old.id not in own.purge_sample
    async with channel(suite.api_addr, token=token) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as shorter:
            await purger(ch).PurgeWorkflows(
                retention_pb2.PurgeWorkflowsRequest(
                    dry_run=True, older_than=duration_pb2.Duration(seconds=3600)
                )
            )
        assert shorter.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    cli = await asyncio.to_thread(
        piped, "--api", suite.api_addr, "--token", suite.admin_token, "-o", "json",
        "admin", "purge", "--dry-run", "--tenant", name,
    )  # fmt: skip
    assert cli.returncode == 0, cli.stderr
    seen = json.loads(cli.stdout)
    assert seen["purgeCount"] == 1 and seen["purgeSample"] == [old.id] and seen["dryRun"]
    async with channel(suite.api_addr, token=suite.admin_token) as ch:
        await purger(ch).PurgeWorkflows(retention_pb2.PurgeWorkflowsRequest(tenant_id=name))
        audit = await admin_pb2_grpc.AdminServiceStub(ch).ListAuditEvents(
            admin_pb2.ListAuditEventsRequest()
        )
    assert any(e.action.endswith("/PurgeWorkflows") for e in audit.audit_events)
    assert rows_left(suite, [old.id])["workflows"] == 0


def block_exports(archive: Path, tenant: str) -> Path:
    """A file where the tenant's archive directory goes: every export for it fails."""
    archive.mkdir(parents=True, exist_ok=True)
    blocker = archive / tenant
    blocker.write_text("not a directory\n")
    return blocker


async def test_the_purge_loop_archives_and_purges_by_itself_but_never_without_its_archive(
    make_suite: SuiteFactory,
) -> None:
    suite = make_suite(
        extra_env={"HELICASE_RETENTION_TTL": "1s", "HELICASE_RETENTION_INTERVAL": "0.3s"}
    )
    archive = Path(suite.env["HELICASE_RETENTION_ARCHIVE_DIR"])
    blocker = block_exports(archive, "demo")
    async with HelicaseClient(suite.api_addr, token=suite.token) as client:
        done = await run_to_end(client, [{"id": "a", "type": "noop"}])
        await asyncio.sleep(3)  # several passes, each failing its export
        assert state(await client.get(done.id)) == "COMPLETED"
        blocker.unlink()
        for _ in range(100):
            if not rows_left(suite, [done.id])["workflows"]:
                break
            await asyncio.sleep(0.2)
    assert rows_left(suite, [done.id]) == {"workflows": 0, "tasks": 0, "events": 0}
    ended = datetime.fromisoformat(done.end_time.ToJsonString().replace("Z", "+00:00"))
    assert done.id in archived(archive, "demo", ended)
