"""Fires recurring workflows: one scheduler at a time (the owner of the ephemeral
/helicase/schedules/leader node) creates each due firing through the api's CreateWorkflow.

Exactly one workflow per firing, whatever dies when: the request id of a firing is
"schedule/<id>/<fire time>" (CreateWorkflow is idempotent on it), and the last time fired per
schedule is written to ZooKeeper only after CreateWorkflow answered. A firing refused for good
(INVALID_ARGUMENT, e.g. a task type no participant registers any more; NOT_FOUND, e.g. a
credential its tasks name is gone) is logged and skipped.

The workflow belongs to the schedule's tenant: the firer lists every tenant's schedules and
names the schedule's tenant in the `helicase-tenant` metadata of each CreateWorkflow.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

import grpc
from kazoo.client import KazooClient
from kazoo.exceptions import NodeExistsError, NoNodeError

from helicase.common import cron, zkpaths
from helicase.common.tenants import TENANT_METADATA
from helicase.scheduler import metrics
from helicase.v1 import schedule_pb2, schedule_pb2_grpc, workflow_service_pb2
from helicase.v1 import workflow_service_pb2_grpc as wf_grpc

log = logging.getLogger(__name__)
REFUSED_FOR_GOOD = (
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.NOT_FOUND,
)


class ScheduleFirer:
    def __init__(
        self,
        *,
        scheduler_id: str,
        zk: KazooClient,
        schedules: schedule_pb2_grpc.ScheduleServiceStub,
        workflows: wf_grpc.WorkflowServiceStub,
    ) -> None:
        self.scheduler_id = scheduler_id
        self._zk = zk
        self._schedules = schedules
        self._workflows = workflows
        # The last fire time of each schedule, as this scheduler last read or wrote it; kept
        # only while it leads (it is the only writer then), so a pass reads ZooKeeper once per
        # schedule, not once per schedule every second.
        self._fired: dict[str, datetime] = {}
        self._broken: set[str] = set()  # schedules already logged as never firing

    async def run(self, interval: float) -> None:
        while True:
            try:
                await self.tick(datetime.now(UTC))
            except grpc.aio.AioRpcError as err:
                log.warning("schedule pass failed", extra={"code": err.code().name})
            except Exception:
                log.exception("schedule pass failed")
            await asyncio.sleep(interval)

    async def tick(self, now: datetime) -> int:
        """Fires what is due at `now` if this scheduler leads; returns how many it fired."""
        if not await asyncio.to_thread(self._lead):
            self._fired.clear()
            return 0
        listed = await self._list_all()
        fired = 0
        for schedule in listed:
            if schedule.paused or self._cannot_fire(schedule):
                continue
            try:
                if await self._fire_if_due(schedule, now):
                    fired += 1
                    metrics.FIRED.inc()
            except cron.CannotFire as exc:
                self._broken_once(schedule.id, str(exc))
            except grpc.aio.AioRpcError as err:
                # One schedule's failed firing is tried again next pass; the others go on.
                log.warning(
                    "schedule firing failed",
                    extra={"schedule_id": schedule.id, "code": err.code().name},
                )
        live = {s.id for s in listed}
        self._broken &= live
        await asyncio.to_thread(self._forget_deleted, live)
        return fired

    def _cannot_fire(self, schedule: schedule_pb2.Schedule) -> bool:
        if not schedule.problem:
            self._broken.discard(schedule.id)
            return False
        self._broken_once(schedule.id, schedule.problem)
        return True

    def _broken_once(self, schedule_id: str, problem: str) -> None:
        """Logs a schedule that can never fire, once per schedule (not once per pass)."""
        if schedule_id not in self._broken:
            self._broken.add(schedule_id)
            log.error(
                "schedule can never fire; skipped",
                extra={"schedule_id": schedule_id, "problem": problem},
            )

    def _lead(self) -> bool:
        try:
            self._zk.create(
                zkpaths.SCHEDULE_LEADER, self.scheduler_id.encode(), ephemeral=True, makepath=True
            )
            log.info("firing schedules", extra={"scheduler_id": self.scheduler_id})
            return True
        except NodeExistsError:
            pass
        try:
            data, _ = self._zk.get(zkpaths.SCHEDULE_LEADER)
        except NoNodeError:
            return False  # gone meanwhile: try again next pass
        return bool(data.decode() == self.scheduler_id)

    async def _list_all(self) -> list[schedule_pb2.Schedule]:
        out: list[schedule_pb2.Schedule] = []
        token = ""
        while True:
            page = await self._schedules.ListSchedules(
                schedule_pb2.ListSchedulesRequest(page_size=500, page_token=token), timeout=10
            )
            out.extend(page.schedules)
            token = page.next_page_token
            if not token:
                return out

    async def _fire_if_due(self, schedule: schedule_pb2.Schedule, now: datetime) -> bool:
        since = schedule.active_since.ToDatetime(UTC)
        last = await asyncio.to_thread(self._last_fired, schedule.id)
        if last is not None:
            since = max(since, last)
        due = cron.due(schedule.cron, schedule.time_zone, since, now)
        if due is None:
            return False
        extra = {"schedule_id": schedule.id, "fire_time": cron.rfc3339(due.fire_time)}
        if due.skipped:
            log.warning("missed fire times skipped", extra={**extra, "skipped": due.skipped})
        request = workflow_service_pb2.CreateWorkflowRequest(
            request_id=cron.request_id(schedule.id, due.fire_time),
            workflow=cron.run_of(schedule.workflow, schedule.id, due.fire_time),
        )
        try:
            response = await self._workflows.CreateWorkflow(
                request, timeout=10, metadata=((TENANT_METADATA, schedule.tenant),)
            )
            log.info("schedule fired", extra={**extra, "workflow_id": response.workflow.id})
        except grpc.aio.AioRpcError as err:
            if err.code() not in REFUSED_FOR_GOOD:
                raise  # try again next pass, with the same request id
            log.error(
                "scheduled workflow refused; firing skipped",
                extra={**extra, "code": err.code().name, "detail": err.details()},
            )
        await asyncio.to_thread(self._record_fired, schedule.id, due.fire_time)
        return True

    def _last_fired(self, schedule_id: str) -> datetime | None:
        if schedule_id in self._fired:
            return self._fired[schedule_id]
        try:
            data, _ = self._zk.get(zkpaths.schedule_fired(schedule_id))
        except NoNodeError:
            return None
        self._fired[schedule_id] = datetime.fromisoformat(data.decode())
        return self._fired[schedule_id]

    def _record_fired(self, schedule_id: str, fire_time: datetime) -> None:
        path = zkpaths.schedule_fired(schedule_id)
        data = cron.rfc3339(fire_time).encode()
        try:
            self._zk.set(path, data)
        except NoNodeError:
            self._zk.create(path, data, makepath=True)
        self._fired[schedule_id] = fire_time

    def _forget_deleted(self, live: set[str]) -> None:
        try:
            known = self._zk.get_children(zkpaths.SCHEDULES_FIRED)
        except NoNodeError:
            return
        for schedule_id in set(known) - live:
            self._fired.pop(schedule_id, None)
            with contextlib.suppress(NoNodeError):
                self._zk.delete(zkpaths.schedule_fired(schedule_id))
