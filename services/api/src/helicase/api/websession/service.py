"""The sign-in endpoints of the HTTP port (POST, GET and DELETE /auth/session) and the
credential a Connect call carries: its own `Authorization` header, else its session cookie's
token. A session is checked by the gRPC server on every call like any token, so a revoked key
ends it; the gateway then calls `end`."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import grpc
from aiohttp import web

from helicase.api import connect
from helicase.api.websession import tokens
from helicase.api.websession.store import SessionStore

SECURE_MODES = ("auto", "always", "never")
# Answers of the key check that say nothing about the key: the api is not there right now.
_UNREACHABLE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)

# Calls the gRPC server with `authorization` and returns the status it answered.
Verifier = Callable[[str], Awaitable[grpc.StatusCode]]


@dataclass(frozen=True)
class Credential:
    """What a Connect call is forwarded with: the `authorization` value (None: no token), and
    the session it came from, if it came from a cookie."""

    authorization: str | None = None
    session: bytes | None = None


def _error(status: int, code: grpc.StatusCode, text: str) -> web.Response:
    return web.Response(
        status=status,
        body=json.dumps(connect.error_json(code, text)).encode(),
        content_type=connect.UNARY_CONTENT_TYPE,
    )


def _no_origin() -> web.Response:
    return _error(
        403, grpc.StatusCode.PERMISSION_DENIED, "a cookie-authenticated call needs Origin"
    )


class SessionService:
    """Sessions bound to a caller's token, kept in `store` for `ttl`."""

    def __init__(
        self, store: SessionStore, verify: Verifier, *, ttl: timedelta, secure: str
    ) -> None:
        if secure not in SECURE_MODES:
            raise ValueError(f"HELICASE_WEB_SECURE_COOKIE={secure!r}: use one of {SECURE_MODES}")
        self._store = store
        self._verify = verify
        self._ttl = ttl
        self._secure = secure

    def routes(self) -> list[web.RouteDef]:
        return [
            web.post("/auth/session", self.sign_in),
            web.get("/auth/session", self.status),
            web.delete("/auth/session", self.sign_out),
        ]

    async def sign_in(self, request: web.Request) -> web.StreamResponse:
        """Body {"token": "..."}: checks the token with one call, then sets the cookie."""
        if "Origin" not in request.headers:
            return _no_origin()
        try:
            token = (await request.json())["token"]
        except (ValueError, KeyError, TypeError):
            token = None
        if not isinstance(token, str) or not tokens.well_formed_token(token):
            return _error(400, grpc.StatusCode.INVALID_ARGUMENT, 'send {"token": "<API key>"}')
        answer = await self._verify(f"Bearer {token}")
        if answer == grpc.StatusCode.UNAUTHENTICATED:
            return _error(401, answer, "the key was refused")
        if answer in _UNREACHABLE:
            return _error(503, answer, "the api cannot check the key right now")
        session_id = tokens.new_session_id()
        await self._store.create(
            tokens.lookup_key(session_id), tokens.seal_token(session_id, token), self._ttl
        )
        await self._end_cookie_session(request)  # a sign-in replaces the browser's last one
        response = web.Response(status=204)
        response.set_cookie(
            tokens.COOKIE,
            session_id,
            max_age=int(self._ttl.total_seconds()),
            path="/",
            secure=self._secure == "always" or (self._secure == "auto" and request.secure),
            httponly=True,
            samesite="Strict",
        )
        return response

    async def status(self, request: web.Request) -> web.StreamResponse:
        """{"signedIn": true} while the browser holds a live session (its key is checked by the
        calls it makes), else false."""
        credential = await self._from_cookie(request)
        return web.json_response({"signedIn": credential.authorization is not None})

    async def sign_out(self, request: web.Request) -> web.StreamResponse:
        if "Origin" not in request.headers:
            return _no_origin()
        await self._end_cookie_session(request)
        response = web.Response(status=204)
        self.forget_cookie(response)
        return response

    async def credential(self, request: web.Request) -> Credential | web.Response:
        """The credential of a Connect call, or the refusal of a cookie call without Origin."""
        header = request.headers.get("Authorization")
        if header is not None:
            return Credential(header)
        if tokens.COOKIE not in request.cookies:
            return Credential()
        if "Origin" not in request.headers:
            return _no_origin()
        return await self._from_cookie(request)

    async def end(self, session: bytes) -> None:
        """Ends a session whose token the api refused (revoked, expired)."""
        await self._store.delete(session)

    @staticmethod
    def forget_cookie(response: web.StreamResponse) -> None:
        response.del_cookie(tokens.COOKIE, path="/")

    async def _from_cookie(self, request: web.Request) -> Credential:
        session_id = request.cookies.get(tokens.COOKIE, "")
        if not tokens.well_formed_id(session_id):
            return Credential()
        lookup = tokens.lookup_key(session_id)
        sealed = await self._store.sealed_token(lookup)
        token = None if sealed is None else tokens.open_token(session_id, sealed)
        return Credential(None if token is None else f"Bearer {token}", lookup)

    async def _end_cookie_session(self, request: web.Request) -> None:
        session_id = request.cookies.get(tokens.COOKIE, "")
        if tokens.well_formed_id(session_id):
            await self._store.delete(tokens.lookup_key(session_id))
