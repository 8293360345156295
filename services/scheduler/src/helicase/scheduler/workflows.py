"""What the scheduler does for each workflow: launch, cancel, follow to the end, adopt."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import grpc
from google.protobuf import timestamp_pb2
from kazoo.client import KazooClient

from helicase.common import events, ownership, topics
from helicase.common.kafka import AsyncProducer
from helicase.common.states import WS
from helicase.internal.v1 import command_pb2, controller_pb2
from helicase.scheduler import metrics
from helicase.scheduler.admission import Admission
from helicase.scheduler.controller_client import Controller, WorkflowUnknown
from helicase.v1 import workflow_pb2, workflow_service_pb2
from helicase.v1 import workflow_service_pb2_grpc as wf_grpc

log = logging.getLogger(__name__)
Blocking = Callable[..., Awaitable[Any]]
TERMINAL_FALLBACK = timedelta(seconds=15)


def _refusal(workflow_id: str, err: grpc.aio.AioRpcError) -> dict[str, str | None]:
    """The log fields of a call the controller refused."""
    return {"workflow_id": workflow_id, "code": err.code().name, "detail": err.details()}


class WorkflowNotStored(Exception):
    """A launch of a workflow the api does not have: no api wrote the command (garbage on the
    commands topic), or the workflow finished and was purged. It never runs; the consumer
    dead-letters the command."""


class Workflows:
    def __init__(
        self,
        *,
        scheduler_id: str,
        zk: KazooClient,
        controller: Controller,
        producer: AsyncProducer,
        api: wf_grpc.WorkflowServiceStub,
        admission: Admission,
        claim_wait: timedelta,
        blocking: Blocking = asyncio.to_thread,
        api_retry_pause: timedelta = timedelta(milliseconds=50),
    ) -> None:
        self.scheduler_id = scheduler_id
        self._api_retry_pause = api_retry_pause.total_seconds()  # first pause; doubles to 2 s
        self._blocking = blocking  # how the (blocking) ZooKeeper calls run off the event loop
        self._claim_wait = claim_wait
        self._zk = zk
        self._controller = controller
        self._producer = producer
        self._api = api
        self._admission = admission
        self._admitted: dict[str, asyncio.Future[None]] = {}
        self._waiting_bytes: dict[str, int] = {}  # a waiting launch's size, as read
        self.following: dict[str, asyncio.Task[None]] = {}
        self._source = f"scheduler/{scheduler_id}"
        # Commands of one workflow run in order (a cancel waits for its launch).
        self._last_command: dict[str, asyncio.Future[None]] = {}

    # Commands --------------------------------------------------------------------------------

    async def handle(self, command: command_pb2.Command) -> None:
        """Runs one command after the previous command of the same workflow has finished."""
        workflow_id = command.workflow_id
        previous = self._last_command.get(workflow_id)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._last_command[workflow_id] = mine
        try:
            if command.HasField("cancel") and self._admission.expedite(workflow_id):
                self._wake(workflow_id)  # its launch is held by admission: let it in now
            if previous is not None:
                await previous
            if command.HasField("launch"):
                await self._launch(command)
            elif command.HasField("cancel"):
                await self._cancel(workflow_id, command.cancel.reason)
        finally:
            mine.set_result(None)
            if self._last_command.get(workflow_id) is mine:
                del self._last_command[workflow_id]

    async def _launch(self, command: command_pb2.Command) -> None:
        workflow_id = command.workflow_id
        if workflow_id in self.following:
            return  # a re-delivered launch of a workflow we already run
        launch = command.launch
        await self._admit(
            workflow_id, launch.workflow.tenant, launch.max_running_workflows, command.ByteSize
        )
        if not await self._claim_for_launch(workflow_id):
            self._release_slot(workflow_id)
            log.info("workflow already owned", extra={"workflow_id": workflow_id})
            return
        try:
            finished = await self._already_finished(workflow_id)
        except WorkflowNotStored:
            await self._drop_owner(workflow_id)
            self._release_slot(workflow_id)
            raise
        if finished:
            # A launch re-read after its workflow finished and was released: never run it twice.
            log.info("launch of a finished workflow ignored", extra={"workflow_id": workflow_id})
            await self._drop_owner(workflow_id)
            self._release_slot(workflow_id)
            return
        workflow = workflow_pb2.Workflow()
        workflow.CopyFrom(command.launch.workflow)
        workflow.id = workflow.id or workflow_id
        request = controller_pb2.SubmitWorkflowRequest(workflow=workflow, owner=self.scheduler_id)
        try:
            response = await self._controller.submit(request)
        except grpc.aio.AioRpcError as err:
            # The controller refuses it for good (e.g. INVALID_ARGUMENT): record the failure so
            # the workflow does not stay PENDING forever, and move on.
            log.error("controller refused workflow", extra=_refusal(workflow_id, err))
            await self._publish(workflow_id, WS.WORKFLOW_STATE_FAILED, f"refused: {err.details()}")
            await self._drop_owner(workflow_id)
            self._release_slot(workflow_id)
            return
        log.info(
            "workflow submitted",
            extra={"workflow_id": workflow_id, "already_submitted": response.already_submitted},
        )
        self.start_following(workflow_id)

    async def _claim_for_launch(self, workflow_id: str) -> bool:
        """Creates our owner node; True if we own the workflow now (or already did).

        Another scheduler's node means it owns the workflow: for good once the workflow is
        submitted, else only while that scheduler lives. So this waits until the workflow is
        submitted (False) or the node is gone (claimed here): a launch given up while its owner
        had not submitted yet (it may be asking an api that is down) would be lost for good if
        that owner then died, its command's offset committed here. Until then this launch's
        offset is not committed."""
        waited_since = asyncio.get_running_loop().time()
        while True:
            holder = await self._blocking(ownership.claim, self._zk, workflow_id, self.scheduler_id)
            if holder is None:
                return True  # ours now, or from an earlier try of this launch
            if await self._blocking(ownership.is_running, self._zk, workflow_id):
                return False
            waited = asyncio.get_running_loop().time() - waited_since
            if waited >= self._claim_wait.total_seconds():
                waited_since = asyncio.get_running_loop().time()
                log.info(
                    "waiting for the owner to submit the workflow",
                    extra={"workflow_id": workflow_id, "owner": holder},
                )
            await asyncio.sleep(0.5)

    async def _cancel(self, workflow_id: str, reason: str) -> None:
        try:
            await self._controller.cancel(workflow_id, reason)
            log.info("workflow cancel requested", extra={"workflow_id": workflow_id})
        except WorkflowUnknown:
            log.info(
                "cancel of a workflow the controller does not hold",
                extra={"workflow_id": workflow_id},
            )
        except grpc.aio.AioRpcError as err:
            log.error("controller refused cancel", extra=_refusal(workflow_id, err))

    # Admission -------------------------------------------------------------------------------

    async def _admit(
        self, workflow_id: str, tenant: str, tenant_limit: int, size: Callable[[], int]
    ) -> None:
        if self._admission.request(workflow_id, tenant, tenant_limit):
            return
        self._waiting_bytes[workflow_id] = size()
        log.info(
            "launch waits for admission",
            extra={
                "workflow_id": workflow_id,
                "tenant": tenant,
                "running": len(self._admission.running),
            },
        )
        waiter = self._admitted.setdefault(workflow_id, asyncio.get_running_loop().create_future())
        for admitted in self._admission.admit_waiting():  # this launch raised its tenant's limit
            self._wake(admitted)
        metrics.WAITING.set(self._admission.waiting)
        try:
            await waiter
        finally:
            self._waiting_bytes.pop(workflow_id, None)
        metrics.WAITING.set(self._admission.waiting)

    def held_by_tenant(self) -> tuple[int, int]:
        """Launches waiting only for their own tenant's running limit, and their bytes."""
        held = self._admission.held_ids()
        return len(held), sum(self._waiting_bytes.get(i, 0) for i in held)

    def _wake(self, workflow_id: str) -> None:
        waiter = self._admitted.pop(workflow_id, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _release_slot(self, workflow_id: str) -> None:
        for admitted in self._admission.release(workflow_id):
            self._wake(admitted)

    # Following -------------------------------------------------------------------------------

    def start_following(self, workflow_id: str) -> None:
        if workflow_id not in self.following:
            self.following[workflow_id] = asyncio.create_task(self._follow(workflow_id))
            metrics.FOLLOWED.set(len(self.following))

    async def _follow(self, workflow_id: str) -> None:
        try:
            await self._follow_to_release(workflow_id)
            await self._drop_owner(workflow_id)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("following workflow failed", extra={"workflow_id": workflow_id})
            # Our owner node goes too, so another scheduler (or our own next adoption) retries.
            await self._drop_owner(workflow_id)
        finally:
            self.following.pop(workflow_id, None)
            metrics.FOLLOWED.set(len(self.following))
            self._release_slot(workflow_id)

    async def _follow_to_release(self, workflow_id: str) -> None:
        last: controller_pb2.WorkflowStatus | None = None
        try:
            async for status in self._controller.watch(workflow_id):
                if last is not None and status.state == last.state:
                    continue
                last = status
                # The terminal event is the controller's to publish: it follows the final task
                # events (SKIPPED, CANCELED) on the controller's own producer, so the stored
                # workflow never reads terminal while its tasks still look unfinished. Ours
                # would race ahead of them; it is only a fallback (see _until_stored).
                if status.state not in events.WORKFLOW_TERMINAL:
                    await self._publish(workflow_id, status.state, status.message, _when(status))
        except WorkflowUnknown:
            log.info(
                "workflow not held by the controller (already released)",
                extra={"workflow_id": workflow_id},
            )
            return
        assert last is not None
        await self._until_stored(last)
        with contextlib.suppress(WorkflowUnknown):  # released already
            await self._controller.release(workflow_id)
        log.info(
            "workflow released", extra={"workflow_id": workflow_id, "state": WS.Name(last.state)}
        )

    async def _until_stored(self, final: controller_pb2.WorkflowStatus) -> None:
        """Waits until the api shows the terminal state, i.e. it is in PostgreSQL. If it has
        not arrived after TERMINAL_FALLBACK (the controller's event was lost), publishes it
        itself: the same event id, so it is stored once whoever wins."""
        request = workflow_service_pb2.GetWorkflowRequest(
            id=final.workflow_id, view=workflow_pb2.WORKFLOW_VIEW_BASIC
        )

        async def check() -> bool:
            return await self._terminal_stored(request) is True

        if await _poll_until(check, within=TERMINAL_FALLBACK.total_seconds()):
            return
        log.warning(
            "terminal event not stored yet; publishing it", extra={"workflow_id": final.workflow_id}
        )
        await self._publish(final.workflow_id, final.state, final.message, _when(final))
        await _poll_until(check, within=None)

    async def _already_finished(self, workflow_id: str) -> bool:
        """Whether PostgreSQL has the workflow finished. Asks until the api answers: an api that
        is down must not make a finished (and released) workflow look unfinished, or its
        re-read launch would run it again from the start. WorkflowNotStored when the api has no
        such workflow (a launch is published only after its workflow is committed)."""
        request = workflow_service_pb2.GetWorkflowRequest(
            id=workflow_id, view=workflow_pb2.WORKFLOW_VIEW_BASIC
        )
        backoff = self._api_retry_pause
        while (
            finished := await self._terminal_stored(request, deadline=2.0, missing=True)
        ) is None:
            log.info(
                "api not answering; asking again before launching",
                extra={"workflow_id": workflow_id},
            )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)
        return finished

    async def _terminal_stored(
        self,
        request: workflow_service_pb2.GetWorkflowRequest,
        deadline: float = 10.0,
        *,
        missing: bool = False,
    ) -> bool | None:
        """Whether the api shows the workflow in a terminal state (an unknown one is not, or
        raises WorkflowNotStored if `missing`); None when the api gave no answer."""
        try:
            response = await self._api.GetWorkflow(request, timeout=deadline)
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                if missing:
                    raise WorkflowNotStored(f"the api has no workflow {request.id}") from err
                return False
            if err.code() not in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                log.warning(
                    "GetWorkflow failed", extra={"code": err.code().name, "detail": err.details()}
                )
            return None
        return response.workflow.state in events.WORKFLOW_TERMINAL

    async def _publish(
        self,
        workflow_id: str,
        state: int,
        message: str,
        at: timestamp_pb2.Timestamp | None = None,
    ) -> None:
        event = events.workflow_event(
            workflow_id=workflow_id, state=state, source=self._source, message=message, at=at
        )
        data = event.SerializeToString()
        backoff = 0.2
        while True:
            try:
                await self._producer.send(topics.EVENTS, workflow_id, data)
                return
            except Exception as exc:
                log.warning("event publish failed; retrying", extra={"error": str(exc)})
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _drop_owner(self, workflow_id: str) -> None:
        try:
            await self._blocking(ownership.release, self._zk, workflow_id, self.scheduler_id)
        except Exception:
            log.exception("owner node not deleted", extra={"workflow_id": workflow_id})

    # Adoption --------------------------------------------------------------------------------

    async def adopt_orphans(self) -> int:
        """Takes over running workflows without an owner node; re-claims ours that lost theirs
        (our session expired). Returns how many it adopted."""
        running = await self._blocking(ownership.running, self._zk)
        owned = await self._blocking(ownership.owned, self._zk)
        adopted = 0
        for workflow_id in ownership.orphans(running, owned):
            if not await self._blocking(ownership.take, self._zk, workflow_id, self.scheduler_id):
                continue  # another scheduler won it (or its launch is just starting)
            if workflow_id in self.following:
                continue  # ours all along: the node is back
            log.info("adopted orphan workflow", extra={"workflow_id": workflow_id})
            self._admission.adopt(workflow_id)
            metrics.ADOPTED.inc()
            self.start_following(workflow_id)
            adopted += 1
        return adopted


def _when(status: controller_pb2.WorkflowStatus) -> timestamp_pb2.Timestamp | None:
    """The time the controller gives the state, so events from several producers agree."""
    if status.state in events.WORKFLOW_TERMINAL and status.HasField("end_time"):
        return status.end_time
    if status.state == WS.WORKFLOW_STATE_RUNNING and status.HasField("start_time"):
        return status.start_time
    return None


async def _poll_until(check: Callable[[], Awaitable[bool]], *, within: float | None) -> bool:
    """Polls `check` with backoff until it holds (True) or `within` seconds pass (False)."""
    loop = asyncio.get_running_loop()
    deadline = None if within is None else loop.time() + within
    delay = 0.05
    while not await check():
        if deadline is not None and loop.time() >= deadline:
            return False
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)
    return True
