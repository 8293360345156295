"""The internal plane's mutual TLS: who a component is (its kind, name and, for a participant,
group, written into its certificate), the server and channel credentials built from
HELICASE_TLS_CA/CERT/KEY, and the check that a peer's kind may call a method.

A component's certificate, signed by the deployment's CA, carries
- the subject's common name: the component's name (a participant's name);
- one URI subject alternative name: `helicase://<kind>/<name>`, and for a participant
  `helicase://participant/<group>/<name>`; this URI is the identity servers read;
- the DNS name `<kind>.helicase.internal`: clients verify a server against the kind they mean to
  reach (`ssl_target_name_override`), whatever address it was found at (a leader's pod IP).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509

from helicase.common.config import TLS_CA, TLS_CERT, TLS_KEY, ConfigError
from helicase.common.errors import PermissionDenied, Unauthenticated
from helicase.wire import channel_options

SCHEME = "helicase"
DOMAIN = "helicase.internal"
KINDS = frozenset({"api", "controller", "scheduler", "sink", "participant"})


@dataclass(frozen=True)
class Identity:
    """A component as its certificate names it; `group` is set for participants only."""

    kind: str
    name: str
    group: str = ""

    @property
    def uri(self) -> str:
        if self.kind == "participant":
            return f"{SCHEME}://participant/{self.group}/{self.name}"
        return f"{SCHEME}://{self.kind}/{self.name}"

    @property
    def dns_name(self) -> str:
        return server_name(self.kind)

    @property
    def subject(self) -> str:
        """The principal subject of this component: `component:<kind>:<name>` (a participant's
        name is `<group>/<name>`)."""
        name = f"{self.group}/{self.name}" if self.kind == "participant" else self.name
        return f"component:{self.kind}:{name}"


def server_name(kind: str) -> str:
    """The DNS name every server certificate of `kind` carries."""
    return f"{kind}.{DOMAIN}"


def parse_uri(uri: str) -> Identity | None:
    """The identity a `helicase://` URI names, or None when it names none."""
    prefix = f"{SCHEME}://"
    if not uri.startswith(prefix):
        return None
    parts = uri[len(prefix) :].split("/")
    if parts[0] == "participant" and len(parts) == 3 and all(parts):
        return Identity("participant", parts[2], parts[1])
    if parts[0] in KINDS and parts[0] != "participant" and len(parts) == 2 and parts[1]:
        return Identity(parts[0], parts[1])
    return None


@functools.lru_cache(maxsize=1024)
def identity_of_pem(pem: bytes) -> Identity | None:
    """The identity of a certificate (PEM): its one `helicase://` URI name (cached: a stream or
    a channel presents the same certificate on every call)."""
    cert = x509.load_pem_x509_certificate(pem)
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    found = {parse_uri(uri) for uri in names.get_values_for_type(x509.UniformResourceIdentifier)}
    found.discard(None)
    return found.pop() if len(found) == 1 else None


def peer_identity(context: grpc.aio.ServicerContext[Any, Any]) -> Identity:
    """The verified identity of the peer of a call on a mutual-TLS server; Unauthenticated when
    it presented no certificate naming one (the TLS handshake has already checked the CA)."""
    pems = context.auth_context().get("x509_pem_cert") or []
    identity = identity_of_pem(bytes(pems[0])) if pems else None
    if identity is None:
        raise Unauthenticated("a component certificate of the deployment's CA is required")
    return identity


def require_kind(identity: Identity, method: str, allowed: Mapping[str, frozenset[str]]) -> None:
    """PermissionDenied unless `identity`'s kind may call `method` ("/pkg.Service/Method"):
    `allowed` maps a full method or a service prefix ("/pkg.Service/") to the kinds allowed."""
    service = method[: method.rfind("/") + 1]
    kinds = allowed.get(method, allowed.get(service, frozenset()))
    if identity.kind not in kinds:
        raise PermissionDenied(f"a {identity.kind} may not call {method}")


@dataclass(frozen=True)
class TlsFiles:
    """The CA, certificate and key a component uses on the internal plane."""

    ca: Path
    cert: Path
    key: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TlsFiles:
        values = {s.name: s.read(environ) for s in (TLS_CA, TLS_CERT, TLS_KEY)}
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise ConfigError(
                f"{', '.join(missing)} not set: every internal connection is mutual TLS"
                " (docs/security.md, 'The internal plane')"
            )
        return cls(
            Path(values[TLS_CA.name]), Path(values[TLS_CERT.name]), Path(values[TLS_KEY.name])
        )

    def identity(self) -> Identity:
        identity = identity_of_pem(self.cert.read_bytes())
        if identity is None:
            raise ConfigError(f"{self.cert} names no helicase:// identity")
        return identity

    def server_credentials(self) -> grpc.ServerCredentials:
        """A server that requires and verifies a client certificate of the CA."""
        return grpc.ssl_server_credentials(
            [(self.key.read_bytes(), self.cert.read_bytes())],
            root_certificates=self.ca.read_bytes(),
            require_client_auth=True,
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca.read_bytes(),
            private_key=self.key.read_bytes(),
            certificate_chain=self.cert.read_bytes(),
        )


def channel(addr: str, files: TlsFiles, server_kind: str) -> grpc.aio.Channel:
    """A mutual-TLS channel to a server of `server_kind` at `addr`, with the suite's limits and
    reconnect backoff. One TLS session per channel: keep the channel, as streams and calls share
    it."""
    options: list[tuple[str, int | str]] = [*channel_options()]
    options.append(("grpc.ssl_target_name_override", server_name(server_kind)))
    return grpc.aio.secure_channel(addr, files.channel_credentials(), options=options)


Enter = Callable[[Identity, Mapping[str, str]], AbstractContextManager[Any]]

# How long a refused stream's first message is waited for before the refusal is sent.
REFUSAL_READ_SECONDS = 2.0


async def refuse(
    context: grpc.aio.ServicerContext[Any, Any],
    code: grpc.StatusCode,
    message: str,
    requests: AsyncIterator[Any] | None = None,
) -> None:
    """Ends the call with `code`. On a bidirectional stream the caller's first message is read
    first (for at most REFUSAL_READ_SECONDS): a status sent while that message is still on its
    way reaches the caller, now and then, as INTERNAL ("Internal error from Core") instead."""
    if requests is not None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(anext(aiter(requests)), REFUSAL_READ_SECONDS)
    await context.abort(code, message)


class PeerInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[misc]
    """On a mutual-TLS server: every call's peer certificate names a component (else
    UNAUTHENTICATED) whose kind `allowed` lets call the method (else PERMISSION_DENIED; health
    and reflection are open to every component). `enter(identity, metadata)`, when given, is a
    context the handler runs in (the api's principal)."""

    OPEN = ("/grpc.health.v1.Health/", "/grpc.reflection.")

    def __init__(self, allowed: Mapping[str, frozenset[str]], enter: Enter | None = None) -> None:
        self._allowed = allowed
        self._enter = enter

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method: str = details.method
        if handler is None:
            return handler
        metadata = {k: v for k, v in details.invocation_metadata or () if isinstance(v, str)}
        open_method = method.startswith(self.OPEN)

        async def admit(
            context: grpc.aio.ServicerContext[Any, Any], requests: Any = None
        ) -> AbstractContextManager[Any]:
            try:
                identity = peer_identity(context)
                if not open_method:
                    require_kind(identity, method, self._allowed)
            except Unauthenticated as exc:
                await refuse(context, grpc.StatusCode.UNAUTHENTICATED, str(exc), requests)
            except PermissionDenied as exc:
                await refuse(context, grpc.StatusCode.PERMISSION_DENIED, str(exc), requests)
            if self._enter is None or open_method:
                return contextlib.nullcontext()
            return self._enter(identity, metadata)

        if handler.unary_unary is not None:
            unary = handler.unary_unary

            async def unary_unary(request: Any, context: Any) -> Any:
                with await admit(context):
                    return await unary(request, context)

            return handler._replace(unary_unary=unary_unary)

        # A server stream (one request) or a bidirectional one (a request iterator) alike.
        def streaming(inner: Callable[[Any, Any], AsyncIterator[Any]]) -> Any:
            async def stream(request: Any, context: Any) -> AsyncIterator[Any]:
                requests = request if handler.request_streaming else None
                with await admit(context, requests):
                    async for item in inner(request, context):
                        yield item

            return stream

        if handler.unary_stream is not None:
            return handler._replace(unary_stream=streaming(handler.unary_stream))
        if handler.stream_stream is not None:
            return handler._replace(stream_stream=streaming(handler.stream_stream))
        raise NotImplementedError(f"{method}: client-streaming calls are not served internally")
