"""The Python client's deadlines and retries: the pure backoff policy, and the client against a
small in-process gRPC server that plays an api going away (nothing listening, UNAVAILABLE mid
stream) or hanging (a call past its deadline)."""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import AsyncIterator
from datetime import timedelta

import grpc
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helicase.client import NO_RETRY, HelicaseClient, RetryPolicy
from helicase.client._retry import call_with_retries
from helicase.common.errors import ResourceExhausted
from helicase.common.status import resource_exhausted_status
from helicase.devstack import free_port
from helicase.v1 import workflow_pb2, workflow_service_pb2

RUNNING = workflow_pb2.WORKFLOW_STATE_RUNNING
COMPLETED = workflow_pb2.WORKFLOW_STATE_COMPLETED
FAST = RetryPolicy(max_attempts=30, initial_backoff=0.02, max_backoff=0.1)


def rpc_error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="test")


# --- the policy (pure)


@given(
    attempts=st.integers(1, 12),
    initial=st.floats(0, 5),
    multiplier=st.floats(1, 4),
    cap=st.floats(0, 10),
    jitter=st.floats(0, 0.99),
    seed=st.integers(),
)
def test_backoff_waits_once_per_retry_and_never_past_the_jittered_cap(
    attempts: int, initial: float, multiplier: float, cap: float, jitter: float, seed: int
) -> None:
    policy = RetryPolicy(
        max_attempts=attempts,
        initial_backoff=initial,
        multiplier=multiplier,
        max_backoff=cap,
        jitter=jitter,
    )
    delays = list(policy.delays(random.Random(seed)))
    assert len(delays) == attempts - 1
    assert all(
        0 <= d <= min(cap, initial * multiplier**i) * (1 + jitter) + 1e-9
        for i, d in enumerate(delays)
    )


def test_without_jitter_the_backoff_doubles_up_to_its_cap() -> None:
    policy = RetryPolicy(max_attempts=6, initial_backoff=0.1, max_backoff=0.5, jitter=0)
    assert [round(d, 6) for d in policy.delays()] == [0.1, 0.2, 0.4, 0.5, 0.5]


def test_a_policy_that_cannot_work_is_refused() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        RetryPolicy(multiplier=0.5)


async def test_only_unavailable_is_retried_and_the_last_error_surfaces() -> None:
    calls: list[grpc.StatusCode] = []
    waits: list[float] = []

    async def sleep(delay: float) -> None:
        waits.append(delay)

    async def failing(code: grpc.StatusCode) -> str:
        calls.append(code)
        raise rpc_error(code)

    policy = RetryPolicy(max_attempts=4, jitter=0)
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call_with_retries(lambda: failing(grpc.StatusCode.UNAVAILABLE), policy, sleep=sleep)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE
    assert len(calls) == 4 and len(waits) == 3

    calls.clear()
    for code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.DEADLINE_EXCEEDED):
        with pytest.raises(grpc.aio.AioRpcError):
            await call_with_retries(functools.partial(failing, code), policy, sleep=sleep)
    assert calls == [grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.DEADLINE_EXCEEDED]


def throttled(after: float) -> grpc.aio.AioRpcError:
    """RESOURCE_EXHAUSTED as the api answers it: a RetryInfo in the status details."""
    status = resource_exhausted_status(ResourceExhausted("over", timedelta(seconds=after)))
    trailing = grpc.aio.Metadata(*status.trailing_metadata)
    return grpc.aio.AioRpcError(status.code, grpc.aio.Metadata(), trailing, details=status.details)


async def test_a_throttled_call_is_tried_again_after_the_advised_time_within_a_budget() -> None:
    waits: list[float] = []
    answers = [throttled(1.5), throttled(2.5), None]

    async def sleep(delay: float) -> None:
        waits.append(delay)

    async def call() -> str:
        err = answers.pop(0)
        if err is not None:
            raise err
        return "ok"

    assert await call_with_retries(call, RetryPolicy(max_throttled=5), sleep=sleep) == "ok"
    assert waits == [1.5, 2.5]

    # Past the budget, or with no advice (a message over the size limit), the error surfaces.
    for policy, err in (
        (RetryPolicy(max_throttled=3), throttled(4.0)),
        (NO_RETRY, throttled(0.1)),
        (RetryPolicy(), rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED)),
    ):
        waits.clear()
        answers[:] = [err, None]
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await call_with_retries(call, policy, sleep=sleep)
        assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and waits == []


# --- the client against a server that comes, goes and hangs


class FlakyWorkflows:
    """GetWorkflow answers (after `hang` seconds); the first WatchWorkflow stream breaks with
    UNAVAILABLE after one RUNNING update, the next one reports COMPLETED."""

    def __init__(self, hang: float = 0.0) -> None:
        self.hang = hang
        self.gets = 0
        self.watches = 0

    async def GetWorkflow(
        self, request: workflow_service_pb2.GetWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> workflow_service_pb2.GetWorkflowResponse:
        self.gets += 1
        await asyncio.sleep(self.hang)
        workflow = workflow_pb2.Workflow(id=request.id, state=RUNNING)
        return workflow_service_pb2.GetWorkflowResponse(workflow=workflow)

    async def WatchWorkflow(
        self, request: workflow_service_pb2.WatchWorkflowRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[workflow_service_pb2.WatchWorkflowResponse]:
        self.watches += 1
        if self.watches == 1:
            yield workflow_service_pb2.WatchWorkflowResponse(
                workflow=workflow_pb2.Workflow(id=request.id, state=RUNNING)
            )
            await context.abort(grpc.StatusCode.UNAVAILABLE, "api going away")
        yield workflow_service_pb2.WatchWorkflowResponse(
            workflow=workflow_pb2.Workflow(id=request.id, state=COMPLETED)
        )


async def serve(port: int, servicer: FlakyWorkflows) -> grpc.aio.Server:
    # Only the two methods the tests call, served under WorkflowService's real method names.
    messages = workflow_service_pb2
    handler = grpc.method_handlers_generic_handler(
        "helicase.v1.WorkflowService",
        {
            "GetWorkflow": grpc.unary_unary_rpc_method_handler(
                servicer.GetWorkflow,
                request_deserializer=messages.GetWorkflowRequest.FromString,
                response_serializer=messages.GetWorkflowResponse.SerializeToString,
            ),
            "WatchWorkflow": grpc.unary_stream_rpc_method_handler(
                servicer.WatchWorkflow,
                request_deserializer=messages.WatchWorkflowRequest.FromString,
                response_serializer=messages.WatchWorkflowResponse.SerializeToString,
            ),
        },
    )
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((handler,))
    assert server.add_insecure_port(f"127.0.0.1:{port}") == port
    await server.start()
    return server


async def test_a_call_made_before_the_api_listens_succeeds_once_it_does() -> None:
    port = free_port()
    servicer = FlakyWorkflows()
    servers: list[grpc.aio.Server] = []

    async def start_late() -> None:
        await asyncio.sleep(0.4)
        servers.append(await serve(port, servicer))

    starter = asyncio.create_task(start_late())
    try:
        async with HelicaseClient(f"127.0.0.1:{port}", timeout=2, retry=FAST) as client:
            workflow = await client.get("w-1")
        assert workflow.id == "w-1" and servicer.gets == 1
    finally:
        await starter
        for server in servers:
            await server.stop(None)


async def test_without_retries_an_absent_api_fails_at_once_with_unavailable() -> None:
    async with HelicaseClient(f"127.0.0.1:{free_port()}", timeout=2, retry=NO_RETRY) as client:
        with pytest.raises(grpc.aio.AioRpcError) as info:
            await client.get("w-1")
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_a_call_past_its_deadline_fails_and_is_not_repeated() -> None:
    port = free_port()
    servicer = FlakyWorkflows(hang=3.0)
    server = await serve(port, servicer)
    try:
        async with HelicaseClient(f"127.0.0.1:{port}", timeout=0.3, retry=FAST) as client:
            started = asyncio.get_running_loop().time()
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await client.get("w-1")
            elapsed = asyncio.get_running_loop().time() - started
        assert info.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        assert elapsed < 2.0 and servicer.gets == 1
    finally:
        await server.stop(None)


async def test_a_watch_broken_by_unavailable_resumes_until_the_workflow_is_terminal() -> None:
    port = free_port()
    servicer = FlakyWorkflows()
    server = await serve(port, servicer)
    try:
        async with HelicaseClient(f"127.0.0.1:{port}", retry=FAST) as client:
            states = [w.state async for w in client.watch("w-1", within=10)]
        assert states == [RUNNING, COMPLETED]
        assert servicer.watches == 2
    finally:
        await server.stop(None)
