"""The api's HTTP port: the composer's files (web/dist), its sign-in (/auth/session) and the
Connect protocol (JSON) for the public services, forwarded to the api's own gRPC server through a
loopback channel with the caller's `authorization` (its own header, or its session's token), so
the browser gets exactly what gRPC clients get: the same authentication, validation, errors and
streams. Host, Origin and the security headers: helicase.api.webguard."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import grpc
from aiohttp import web
from google.protobuf import descriptor, message
from sqlalchemy.ext.asyncio import AsyncEngine

from helicase.api import connect, webguard
from helicase.api.websession import Credential, SessionService, SessionStore
from helicase.common.grpc_server import channel as grpc_channel
from helicase.v1 import task_type_pb2

log = logging.getLogger(__name__)

INDEX = "index.html"
NOT_BUILT = (
    "<!doctype html><title>Helicase</title><p>The composer is not built: run "
    "<code>make install</code> (it builds web/dist).</p>"
)


def default_dist(configured: str = "") -> Path | None:
    """`configured` (HELICASE_WEB_DIST) if set, else web/dist of the checkout this package runs
    from."""
    if configured:
        return Path(configured)
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "web" / "dist"
        if (parent / "web" / "package.json").is_file():
            return candidate
    return None


def _serialize(msg: message.Message) -> bytes:
    return msg.SerializeToString()


# The call that checks a key at sign-in: cheap, and open to every role.
_CHECK_PATH = "/helicase.v1.TaskTypeService/ListTaskTypes"


def verifier(channel: grpc.aio.Channel) -> Callable[[str], Awaitable[grpc.StatusCode]]:
    """Asks the gRPC server, with one call, what it makes of an `authorization` value."""
    call = channel.unary_unary(
        _CHECK_PATH,
        request_serializer=_serialize,
        response_deserializer=task_type_pb2.ListTaskTypesResponse.FromString,
    )

    async def verify(authorization: str) -> grpc.StatusCode:
        try:
            await call(
                task_type_pb2.ListTaskTypesRequest(),
                timeout=10.0,
                metadata=(("authorization", authorization),),
            )
        except grpc.aio.AioRpcError as exc:
            return exc.code()
        return grpc.StatusCode.OK

    return verify


def _metadata(credential: Credential) -> tuple[tuple[str, str], ...]:
    if credential.authorization is None:
        return ()
    return (("authorization", credential.authorization),)


class ConnectGateway:
    """Answers Connect calls by forwarding them on `channel` with the caller's credential."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        services: Iterable[descriptor.ServiceDescriptor],
        sessions: SessionService,
    ) -> None:
        self._channel = channel
        self._methods = connect.methods_of(services)
        self._sessions = sessions

    async def handle(self, request: web.Request) -> web.StreamResponse:
        method = self._methods.get(request.path)
        if method is None:
            return _unary_error(grpc.StatusCode.UNIMPLEMENTED, f"no method {request.path}")
        credential = await self._sessions.credential(request)
        if isinstance(credential, web.Response):
            return credential
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        deadline = connect.parse_timeout(request.headers.get("Connect-Timeout-Ms"))
        body = await request.read()
        if method.server_streaming:
            if content_type != connect.STREAM_CONTENT_TYPE:
                return web.Response(status=415, text=f"use {connect.STREAM_CONTENT_TYPE}")
            return await self._stream(request, method, body, deadline, credential)
        if content_type != connect.UNARY_CONTENT_TYPE:
            return web.Response(status=415, text=f"use {connect.UNARY_CONTENT_TYPE}")
        response = await self._unary(method, body, deadline, credential)
        if response.status == 401 and credential.session is not None:
            self._sessions.forget_cookie(response)
        return response

    async def _refused(self, credential: Credential, code: grpc.StatusCode) -> None:
        """A session whose token the api no longer takes (revoked, expired) ends here."""
        if code == grpc.StatusCode.UNAUTHENTICATED and credential.session is not None:
            await self._sessions.end(credential.session)

    async def _unary(
        self, method: connect.Method, body: bytes, deadline: float | None, credential: Credential
    ) -> web.Response:
        try:
            req = connect.decode_json(method.request, body)
        except connect.ProtocolError as exc:
            return _unary_error(exc.code, str(exc))
        call = self._channel.unary_unary(
            method.path,
            request_serializer=_serialize,
            response_deserializer=method.response.FromString,
        )
        try:
            response = await call(req, timeout=deadline, metadata=_metadata(credential))
        except grpc.aio.AioRpcError as exc:
            await self._refused(credential, exc.code())
            details = connect.status_details(exc.trailing_metadata())
            return _unary_error(exc.code(), exc.details() or "", details)
        return web.Response(
            body=connect.encode_json(response), content_type=connect.UNARY_CONTENT_TYPE
        )

    async def _stream(
        self,
        request: web.Request,
        method: connect.Method,
        body: bytes,
        deadline: float | None,
        credential: Credential,
    ) -> web.StreamResponse:
        out = web.StreamResponse(status=200)
        out.content_type = connect.STREAM_CONTENT_TYPE
        await out.prepare(request)
        try:
            req = connect.decode_json(method.request, connect.first_envelope(body))
        except connect.ProtocolError as exc:
            await out.write(connect.end_stream(connect.error_json(exc.code, str(exc))))
            return out
        call = self._channel.unary_stream(
            method.path,
            request_serializer=_serialize,
            response_deserializer=method.response.FromString,
        )(req, timeout=deadline, metadata=_metadata(credential))
        error = None
        try:
            async for item in call:
                await out.write(connect.envelope(connect.encode_json(item)))
        except grpc.aio.AioRpcError as exc:
            await self._refused(credential, exc.code())
            details = connect.status_details(exc.trailing_metadata())
            error = connect.error_json(exc.code(), exc.details() or "", details)
        except (ConnectionResetError, OSError):
            call.cancel()  # the browser went away: stop the watch
            return out
        finally:
            call.cancel()
        await out.write(connect.end_stream(error))
        await out.write_eof()
        return out


def _unary_error(code: grpc.StatusCode, text: str, details: Iterable[object] = ()) -> web.Response:
    body = connect.error_json(code, text, details)  # type: ignore[arg-type]
    return web.Response(
        status=connect.http_status(code),
        body=json.dumps(body).encode(),
        content_type=connect.UNARY_CONTENT_TYPE,
    )


def _static_handler(
    dist: Path | None,
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    root = dist.resolve() if dist is not None else None

    async def serve(request: web.Request) -> web.StreamResponse:
        if root is None or not (root / INDEX).is_file():
            return web.Response(text=NOT_BUILT, content_type="text/html")
        wanted = (root / request.match_info.get("tail", "")).resolve()
        if wanted.is_file() and wanted.is_relative_to(root):
            return web.FileResponse(wanted)
        # Client-side routes (/workflows/<id>) get the single page.
        return web.FileResponse(root / INDEX, headers={"Cache-Control": "no-cache"})

    return serve


@dataclass(frozen=True, kw_only=True)
class WebSettings:
    """The HTTP port's settings (helicase.api.config: HELICASE_WEB_*)."""

    allowed_hosts: tuple[str, ...] = ()
    session_ttl: timedelta = timedelta(hours=12)
    secure_cookie: str = "auto"


def build_app(
    gateway: ConnectGateway,
    sessions: SessionService,
    dist: Path | None,
    allowed: webguard.AllowedHosts,
) -> web.Application:
    app = web.Application(client_max_size=16 * 1024 * 1024, middlewares=[webguard.guard(allowed)])
    app.on_response_prepare.append(webguard.add_security_headers)
    app.router.add_routes(sessions.routes())
    app.router.add_post("/{service:helicase\\.v1\\.[A-Za-z]+}/{method}", gateway.handle)
    app.router.add_get("/{tail:.*}", _static_handler(dist))
    return app


def grpc_target(listen: str, port: int) -> str:
    """Where the gateway reaches the api's gRPC server listening on `listen` (bound `port`)."""
    host = listen.rsplit(":", 1)[0]
    if host in ("", "0.0.0.0", "[::]", "::"):
        host = "127.0.0.1"
    return f"{host}:{port}"


class WebServer:
    """The running HTTP port; `stop()` closes it and the loopback channel."""

    def __init__(self, runner: web.AppRunner, channel: grpc.aio.Channel, port: int) -> None:
        self.runner = runner
        self.channel = channel
        self.port = port

    async def stop(self) -> None:
        await self.runner.cleanup()
        await self.channel.close()


async def start(
    addr: str,
    target: str,
    services: Iterable[descriptor.ServiceDescriptor],
    engine: AsyncEngine,
    settings: WebSettings,
    dist: Path | None = None,
) -> WebServer:
    """Serves `services` (forwarded to gRPC `target`), sign-in and the composer on `addr`."""
    channel = grpc_channel(target)
    sessions = SessionService(
        SessionStore(engine),
        verifier(channel),
        ttl=settings.session_ttl,
        secure=settings.secure_cookie,
    )
    host, _, port = addr.rpartition(":")
    allowed = webguard.AllowedHosts.of(settings.allowed_hosts, host, int(port))
    gateway = ConnectGateway(channel, services, sessions)
    app = build_app(gateway, sessions, dist if dist is not None else default_dist(), allowed)
    # A browser that goes away cancels its handler (and so its gRPC watch); open watches must not
    # hold a stop; one access line per call would drown the api log.
    runner = web.AppRunner(app, shutdown_timeout=2.0, access_log=None, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, host.strip("[]") or None, int(port), reuse_port=False)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        await channel.close()
        raise OSError(
            f"cannot serve HTTP on HELICASE_WEB_ADDR={addr}: {exc.strerror or exc} "
            "(HELICASE_WEB_ADDR=off serves no HTTP)"
        ) from exc
    bound = port
    server = getattr(site, "_server", None)
    sockets = getattr(server, "sockets", None) or []
    if sockets:
        bound = str(sockets[0].getsockname()[1])
    log.info("web serving", extra={"addr": addr, "port": bound})
    return WebServer(runner, channel, int(bound))
