"""Calling the controller leader: found through ZooKeeper, retried while there is none."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import grpc

from helicase.common import tls, tracing
from helicase.common.events import WORKFLOW_TERMINAL
from helicase.common.leader import LeaderWatch
from helicase.internal.v1 import controller_pb2, controller_pb2_grpc

log = logging.getLogger(__name__)
T = TypeVar("T")
Stub = controller_pb2_grpc.ControllerServiceStub
# No leader, a standby, a leader stepping down, a network blip: wait and ask the leader again.
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
    }
)
CALL_TIMEOUT = 30.0


class WorkflowUnknown(Exception):
    """The controller does not hold the workflow (never submitted, or already released)."""


class Controller:
    def __init__(self, leader: LeaderWatch, files: tls.TlsFiles) -> None:
        self._leader = leader
        self._files = files  # mutual TLS with this scheduler's certificate
        self._channels: dict[str, grpc.aio.Channel] = {}

    def _stub(self, addr: str) -> Stub:
        if addr not in self._channels:
            self._channels[addr] = tls.channel(addr, self._files, "controller")
        return Stub(self._channels[addr])

    async def call(self, rpc: Callable[[Stub], Awaitable[T]], what: str) -> T:
        """Runs `rpc` against the current leader until it answers; NOT_FOUND raises
        WorkflowUnknown, other non-retryable errors propagate."""
        backoff = 0.1
        while True:
            addr = await self._leader.wait_for_leader()
            try:
                return await rpc(self._stub(addr))
            except grpc.aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.NOT_FOUND:
                    raise WorkflowUnknown(err.details() or "") from err
                if err.code() not in RETRYABLE:
                    raise
                log.info(
                    "controller call failed; retrying",
                    extra={
                        "call": what,
                        "leader": addr,
                        "code": err.code().name,
                        "detail": err.details(),
                    },
                )
            await self._sleep_or_leader_change(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _sleep_or_leader_change(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._leader.wait_changed(), timeout=seconds)

    async def submit(
        self, request: controller_pb2.SubmitWorkflowRequest
    ) -> controller_pb2.SubmitWorkflowResponse:
        metadata = tracing.grpc_metadata()
        return await self.call(
            lambda s: s.SubmitWorkflow(request, timeout=CALL_TIMEOUT, metadata=metadata), "submit"
        )

    async def cancel(self, workflow_id: str, reason: str) -> None:
        request = controller_pb2.CancelWorkflowRequest(workflow_id=workflow_id, reason=reason)
        await self.call(lambda s: s.CancelWorkflow(request, timeout=CALL_TIMEOUT), "cancel")

    async def release(self, workflow_id: str) -> None:
        request = controller_pb2.ReleaseWorkflowRequest(workflow_id=workflow_id)
        await self.call(lambda s: s.ReleaseWorkflow(request, timeout=CALL_TIMEOUT), "release")

    async def watch(self, workflow_id: str) -> AsyncIterator[controller_pb2.WorkflowStatus]:
        """Every status change until the terminal one, across leader changes."""
        request = controller_pb2.WatchWorkflowRequest(workflow_id=workflow_id)
        backoff = 0.1
        while True:
            addr = await self._leader.wait_for_leader()
            stream = self._stub(addr).WatchWorkflow(request)
            try:
                async for response in stream:
                    backoff = 0.1
                    yield response.status
                    if response.status.state in WORKFLOW_TERMINAL:
                        return
            except grpc.aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.NOT_FOUND:
                    raise WorkflowUnknown(err.details() or "") from err
                if err.code() not in RETRYABLE:
                    raise
            finally:
                stream.cancel()
            await self._sleep_or_leader_change(backoff)
            backoff = min(backoff * 2, 2.0)

    async def close(self) -> None:
        for chan in self._channels.values():
            await chan.close()
