"""The HTTP port (the composer and Connect) holds the same line as the gRPC port: a call carries
its caller's token, in its own header or in a session made at sign-in; a session is an HttpOnly,
SameSite=Strict cookie whose id the server keeps only hashed, ends at sign-out, after its
lifetime and when its key is revoked; requests naming another Host or coming from another
Origin are refused; every answer carries the security headers. Browser scenarios:
web/e2e/signin.mjs."""

from __future__ import annotations

import asyncio
import time
from http.cookies import SimpleCookie
from typing import Any

import aiohttp
import psycopg
import pytest

from helicase.api.websession.tokens import COOKIE, lookup_key
from helicase.devstack.testing import RunningSuite, SuiteFactory
from tests.integration.trust.web_browser import cookie_of, run_scenario
from tests.integration.trust.web_callers import revocable_key

LIST_TYPES = "/helicase.v1.TaskTypeService/ListTaskTypes"


def url_of(suite: RunningSuite) -> str:
    return "http://" + suite.specs["api"].env["HELICASE_WEB_ADDR"]


async def http(
    suite: RunningSuite, verb: str, path: str, body: Any = None, **headers: str
) -> tuple[int, dict[str, str], Any]:
    """One request: (status, headers, JSON body or text)."""
    async with (
        aiohttp.ClientSession() as client,
        client.request(verb, url_of(suite) + path, json=body, headers=headers) as resp,
    ):
        text = await resp.text()
        try:
            parsed: Any = await resp.json(content_type=None)
        except ValueError:
            parsed = text
        out = {k: v for k, v in resp.headers.items() if k.lower() != "set-cookie"}
        for raw in resp.headers.getall("Set-Cookie", []):
            out.setdefault("set-cookie", raw)
        return resp.status, out, parsed


async def sign_in(suite: RunningSuite, key: str) -> tuple[int, dict[str, str]]:
    status, headers, _ = await http(
        suite, "POST", "/auth/session", {"token": key}, Origin=url_of(suite)
    )
    return status, headers


def session_id(set_cookie: str) -> str:
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(set_cookie)
    return cookie[COOKIE].value


async def with_cookie(suite: RunningSuite, sid: str, **headers: str) -> tuple[int, Any]:
    status, _, body = await http(suite, "POST", LIST_TYPES, {}, Cookie=f"{COOKIE}={sid}", **headers)
    return status, body


def stored_sessions(suite: RunningSuite) -> list[tuple[bytes, bytes]]:
    with psycopg.connect(suite.database_url) as conn:
        rows = conn.execute("SELECT lookup, sealed_token FROM web_sessions").fetchall()
    return [(bytes(a), bytes(b)) for a, b in rows]


# --- Host, Origin and headers


async def test_a_request_naming_another_host_is_refused(suite: RunningSuite) -> None:
    for verb, path in (("GET", "/"), ("POST", LIST_TYPES), ("POST", "/auth/session")):
        status, _, _ = await http(suite, verb, path, {}, Host="evil.example")
        assert status == 421, (verb, path, status)
    status, _, _ = await http(
        suite, "GET", "/", Host=f"evil.example:{url_of(suite).split(':')[-1]}"
    )
    assert status == 421


async def test_a_call_from_another_origin_is_refused_even_with_a_token(
    suite: RunningSuite,
) -> None:
    bearer = f"Bearer {suite.token}"
    for origin in ("http://evil.example", "null", url_of(suite).replace("http:", "ftp:")):
        status, _, _ = await http(
            suite, "POST", LIST_TYPES, {}, Origin=origin, Authorization=bearer
        )
        assert status == 403, origin
    status, _, _ = await http(
        suite, "POST", LIST_TYPES, {}, Origin=url_of(suite), Authorization=bearer
    )
    assert status == 200


async def test_every_answer_carries_the_security_headers(suite: RunningSuite) -> None:
    answers = [
        await http(suite, "GET", "/"),
        await http(suite, "GET", "/workflows/x"),
        await http(suite, "POST", LIST_TYPES, {}, Authorization=f"Bearer {suite.token}"),
        await http(suite, "POST", LIST_TYPES, {}),  # refused
        await http(suite, "GET", "/", Host="evil.example"),  # refused
    ]
    for status, headers, _ in answers:
        policy = headers.get("Content-Security-Policy", "")
        assert "default-src 'self'" in policy, (status, headers)
        assert "frame-ancestors 'none'" in policy
        assert "script-src 'self'" in policy and "unsafe-eval" not in policy
        assert headers.get("X-Content-Type-Options") == "nosniff"


# --- the caller's token on Connect calls


async def test_a_connect_call_is_answered_with_a_token_and_refused_without(
    suite: RunningSuite,
) -> None:
    status, _, body = await http(suite, "POST", LIST_TYPES, {})
    assert (status, body["code"]) == (401, "unauthenticated")
    status, _, body = await http(suite, "POST", LIST_TYPES, {}, Authorization="Bearer hlc_nope")
    assert (status, body["code"]) == (401, "unauthenticated")
    status, _, body = await http(
        suite, "POST", LIST_TYPES, {}, Authorization=f"Bearer {suite.token}"
    )
    assert status == 200, body


# --- sessions


async def test_sign_in_sets_a_strict_http_only_cookie_and_the_server_keeps_no_secret(
    suite: RunningSuite,
) -> None:
    key = suite.token
    status, headers = await sign_in(suite, key)
    assert status == 204
    raw = headers["set-cookie"]
    attributes = {part.strip().split("=")[0].lower() for part in raw.split(";")}
    assert {"httponly", "path", "max-age"} <= attributes and "secure" not in attributes  # http
    assert "samesite=strict" in raw.lower().replace(" ", "")
    sid = session_id(raw)
    assert len(sid) == 43  # 256 random bits, base64url
    rows = dict(stored_sessions(suite))
    assert lookup_key(sid) in rows
    for lookup, sealed in rows.items():
        assert sid.encode() not in lookup + sealed
        assert key.encode() not in lookup + sealed
    assert (await with_cookie(suite, sid, Origin=url_of(suite)))[0] == 200
    # A cookie alone (a form on another site would send one where SameSite is ignored) is not
    # enough: the call must say where it came from.
    status, body = await with_cookie(suite, sid)
    assert (status, body["code"]) == (403, "permission_denied")
    _, _, body = await http(suite, "GET", "/auth/session", Cookie=f"{COOKIE}={sid}")
    assert body == {"signedIn": True}


async def test_a_refused_key_makes_no_session(suite: RunningSuite) -> None:
    before = stored_sessions(suite)
    status, headers = await sign_in(suite, "hlc_this-key-was-never-issued")
    assert status == 401 and "set-cookie" not in headers
    status, _, _ = await http(suite, "POST", "/auth/session", {"token": suite.token})
    assert status == 403, "a sign-in without Origin is refused"
    assert stored_sessions(suite) == before


async def test_sign_out_ends_the_session_and_removes_the_cookie(suite: RunningSuite) -> None:
    _, headers = await sign_in(suite, suite.token)
    sid = session_id(headers["set-cookie"])
    status, out, _ = await http(
        suite, "DELETE", "/auth/session", Cookie=f"{COOKIE}={sid}", Origin=url_of(suite)
    )
    assert status == 204
    assert session_id(out["set-cookie"]) == "" and "max-age=0" in out["set-cookie"].lower()
    assert lookup_key(sid) not in dict(stored_sessions(suite))
    _, _, body = await http(suite, "GET", "/auth/session", Cookie=f"{COOKIE}={sid}")
    assert body == {"signedIn": False}
    status, body = await with_cookie(suite, sid, Origin=url_of(suite))
    assert (status, body["code"]) == (401, "unauthenticated")


async def test_a_revoked_key_ends_its_session(suite: RunningSuite) -> None:
    key, revoke = await revocable_key(suite)
    _, headers = await sign_in(suite, key)
    sid = session_id(headers["set-cookie"])
    assert (await with_cookie(suite, sid, Origin=url_of(suite)))[0] == 200
    await revoke()
    for _ in range(60):  # a revoked key is refused within seconds
        status, body = await with_cookie(suite, sid, Origin=url_of(suite))
        if status != 200:
            break
        await asyncio.sleep(0.5)
    assert (status, body["code"]) == (401, "unauthenticated")
    assert lookup_key(sid) not in dict(stored_sessions(suite)), "the session was deleted"


@pytest.mark.timeout(240)
async def test_a_session_ends_after_its_lifetime_and_outlives_an_api_restart(
    make_suite: SuiteFactory,
) -> None:
    # Long enough for an api restart on a loaded machine (one took over 6 s in a full run).
    ttl = 20
    short = make_suite(["api"], {"HELICASE_WEB_SESSION_TTL": f"{ttl}s"})
    _, headers = await sign_in(short, short.token)
    signed_in = time.monotonic()
    sid = session_id(headers["set-cookie"])
    assert f"max-age={ttl}" in headers["set-cookie"].lower()
    await asyncio.to_thread(short.restart, "api")  # sessions live in PostgreSQL, not the process
    assert time.monotonic() - signed_in < ttl, "the restart outlasted the session: no verdict"
    assert (await with_cookie(short, sid, Origin=url_of(short)))[0] == 200
    await asyncio.sleep(signed_in + ttl + 0.5 - time.monotonic())
    status, body = await with_cookie(short, sid, Origin=url_of(short))
    assert (status, body["code"]) == (401, "unauthenticated")


# --- the composer in a browser


def test_the_composer_shows_a_refused_key_and_sets_no_cookie(suite: RunningSuite) -> None:
    run_scenario("refused", url_of(suite), suite.token)


def test_the_composer_signs_in_and_out_and_the_old_cookie_is_refused(
    suite: RunningSuite,
) -> None:
    lines = run_scenario("sign-in-out", url_of(suite), suite.token)
    assert lookup_key(cookie_of(lines)) not in dict(stored_sessions(suite))


def test_a_revoked_key_sends_the_composer_back_to_sign_in(suite: RunningSuite) -> None:
    key, revoke = asyncio.run(revocable_key(suite))

    def on_line(line: str) -> str | None:
        if line == "revoke":
            asyncio.run(revoke())
            return "revoked"
        return None

    lines = run_scenario("revoked", url_of(suite), key, on_line)
    assert lookup_key(cookie_of(lines)) not in dict(stored_sessions(suite))
