"""What the HTTP port checks on every request and adds to every response: the `Host` and
`Origin` must name this deployment (a DNS-rebinding page or another site's form is refused), and
every answer carries a Content-Security-Policy and `X-Content-Type-Options: nosniff`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

# The composer is one bundle from this origin; React Flow positions nodes with style attributes.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}
_WILDCARDS = frozenset({"", "0.0.0.0", "::", "[::]"})
_LOOPBACK = ("localhost", "127.0.0.1", "[::1]")


def split_host(value: str) -> tuple[str, str]:
    """(host, port) of `host[:port]`, lower case; an IPv6 host keeps its brackets."""
    value = value.strip().lower()
    if value.startswith("["):
        host, _, rest = value.partition("]")
        return host + "]", rest[1:] if rest.startswith(":") else ""
    host, _, port = value.partition(":")
    return host, port


@dataclass(frozen=True)
class AllowedHosts:
    """The names this port answers to: `host` (any port) or `host:port`."""

    entries: frozenset[tuple[str, str]]

    @classmethod
    def of(cls, configured: Iterable[str], listen_host: str, port: int) -> AllowedHosts:
        """`configured` (HELICASE_WEB_ALLOWED_HOSTS) if any, else the listen host and the
        loopback names, each at `port` (any port when `port` is 0, chosen at bind time)."""
        names = [split_host(entry) for entry in configured if entry.strip()]
        if not names:
            hosts = list(_LOOPBACK)
            if listen_host.lower() not in _WILDCARDS:
                hosts.append(split_host(listen_host)[0])
            names = [(host, str(port) if port else "") for host in hosts]
        return cls(frozenset(names))

    def allows_host(self, value: str | None) -> bool:
        if not value:
            return False
        host, port = split_host(value)
        return (host, port) in self.entries or (host, "") in self.entries

    def allows_origin(self, origin: str) -> bool:
        """`origin` is http(s)://<an allowed host>."""
        try:
            parts = urlsplit(origin)
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or parts.path or parts.query:
            return False
        return self.allows_host(parts.netloc)


def guard(allowed: AllowedHosts) -> Middleware:
    """Refuses a request whose Host is not ours (421) or whose Origin is another site's (403)."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not allowed.allows_host(request.headers.get("Host")):
            return web.Response(status=421, text="this server does not answer to that Host")
        origin = request.headers.get("Origin")
        if origin is not None and not allowed.allows_origin(origin):
            return web.Response(status=403, text="cross-origin requests are refused")
        return await handler(request)

    return check


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: every answer, files, calls and refusals alike."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
