"""Building and running an asyncio gRPC server the same way in every service."""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio
from grpc_reflection.v1alpha import reflection

# The services' channels and limits are the public client's (helicase.wire, beside the stubs).
from helicase import wire
from helicase.common import metrics, tracing
from helicase.wire import MAX_MESSAGE_BYTES as MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)


def channel(addr: str, token: str = "") -> grpc.aio.Channel:
    """A service's channel to another: `token` as its bearer token, never $HELICASE_TOKEN (a
    user's token in a service's environment is not the service's)."""
    return wire.channel(addr, token=token)


SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.so_reuseport", 0),
]


class ObservingInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """Per unary call: a span (child of the caller's `traceparent` metadata, when tracing is
    on), the call count by status code and the handling time; each method is logged at debug
    level. Health and reflection calls are left out; streams are counted when they end."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith(("/grpc.health", "/grpc.reflection")):
            return handler
        log.debug("rpc", extra={"method": method})
        parent = {
            k: v for k, v in handler_call_details.invocation_metadata or () if k == "traceparent"
        }
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                start = time.perf_counter()
                failed = True
                call = inner(request, context)
                del request  # held by the call's frames alone (release_frames)
                try:
                    with tracing.span(method, parent):
                        answer = await call
                    failed = False
                    return answer
                except BaseException as exc:
                    release_frames(exc)
                    raise
                finally:
                    _observe(method, context, time.perf_counter() - start, failed=failed)

            return handler._replace(unary_unary=unary)
        if handler.unary_stream is not None:
            inner_stream = handler.unary_stream

            async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
                failed = True
                try:
                    with tracing.span(method, parent):
                        made = inner_stream(request, context)
                        if inspect.isawaitable(made):  # a handler that writes with context.write
                            await made
                        else:
                            async for item in made:
                                yield item
                    failed = False
                finally:
                    _observe(method, context, None, failed=failed)

            return handler._replace(unary_stream=stream)
        return handler


def release_frames(exc: BaseException) -> None:
    """Drops the tracebacks of `exc` and of the exceptions it chains, so that the frames they
    hold (and those frames' locals: the request) are freed as the call ends. Else grpc's abort
    makes a cycle (the call's state holds its AbortError, whose traceback holds the handler's
    frames, which hold the call's context) that only the cyclic collector frees, and it runs by
    counts of objects, not bytes: refused 15.5 MiB requests took the api to 1.4 GiB with one
    caller, 8.8 GiB with 64 (docs/reliability.md, "Large requests at once"). The
    error mapping has logged an unexpected error's traceback by then."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        current.__traceback__ = None
        pending += [current.__context__, current.__cause__]


Continuation = Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]]
"""What a server interceptor's intercept_service is given to look up the next handler."""


def around_calls(
    handler: grpc.RpcMethodHandler, around: Callable[[], AbstractContextManager[object]]
) -> grpc.RpcMethodHandler:
    """`handler` with each of its unary or server-streaming calls run inside `around()` (a
    context manager made per call, e.g. one setting a context variable for the call)."""
    if handler.unary_unary is not None:
        inner = handler.unary_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            with around():
                return await inner(request, context)

        return handler._replace(unary_unary=unary)
    if handler.unary_stream is not None:
        inner_stream = handler.unary_stream

        async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            with around():
                async for item in inner_stream(request, context):
                    yield item

        return handler._replace(unary_stream=stream)
    return handler


def _observe(
    method: str,
    context: grpc.aio.ServicerContext[Any, Any],
    seconds: float | None,
    *,
    failed: bool,
) -> None:
    code = context.code()  # an abort sets it; an exception escaping the handler does not
    fallback = "UNKNOWN" if failed else "OK"
    name = fallback if code is None else getattr(code, "name", str(code))
    metrics.GRPC_HANDLED.labels(method, name).inc()
    if seconds is not None:
        metrics.GRPC_SECONDS.labels(method).observe(seconds)


def build_server(
    addr: str,
    register: Callable[[grpc.aio.Server], None],
    service_names: Iterable[str],
    *,
    interceptors: Iterable[grpc.aio.ServerInterceptor] = (),
    credentials: grpc.ServerCredentials | None = None,
) -> tuple[grpc.aio.Server, int, health_aio.HealthServicer]:
    """A server on `addr` with health and reflection on; returns (server, port, health).
    `interceptors` run inside the observing one (so it counts the status they set);
    `credentials` (helicase.common.tls) make it a mutual-TLS server, else it is plaintext."""
    server = grpc.aio.server(
        interceptors=[ObservingInterceptor(), *interceptors], options=SERVER_OPTIONS
    )
    register(server)
    health = health_aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    names = [*service_names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name]
    reflection.enable_server_reflection([*names, reflection.SERVICE_NAME], server)
    if credentials is None:
        port = server.add_insecure_port(addr)
    else:
        port = server.add_secure_port(addr, credentials)
    if port == 0:
        raise OSError(f"cannot listen on {addr}")
    return server, port, health


async def set_serving(health: health_aio.HealthServicer, names: Iterable[str], ok: bool) -> None:
    status = (
        health_pb2.HealthCheckResponse.SERVING if ok else health_pb2.HealthCheckResponse.NOT_SERVING
    )
    for name in ["", *names]:
        await health.set(name, status)


async def follow_zk_session(health: health_aio.HealthServicer, client: Any) -> None:
    """Keeps the process SERVING while its ZooKeeper session is connected (so its ephemeral
    nodes, a registration or owner nodes, are alive), NOT_SERVING otherwise."""
    serving: bool | None = None
    while True:
        now = bool(client.connected)
        if now != serving:
            serving = now
            await set_serving(health, [], now)
        await asyncio.sleep(0.5)


async def run_until_stopped(
    server: grpc.aio.Server,
    *,
    on_stop: Callable[[], Awaitable[Any]] | None = None,
    grace: float = 5.0,
) -> None:
    """Serves until SIGTERM or SIGINT, then runs `on_stop` and stops with a grace period."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await server.start()
    await stop.wait()
    log.info("stopping")
    if on_stop is not None:
        await on_stop()
    await server.stop(grace)
