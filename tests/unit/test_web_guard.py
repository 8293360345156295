"""The HTTP port's pure checks: which Host and Origin names it answers to, and how a session's
id and token are kept (a hash to find it, the token sealed under a key only the id gives)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from helicase.api.webguard import AllowedHosts, split_host
from helicase.api.websession import tokens


def test_by_default_the_listen_host_and_loopback_names_at_the_port_are_allowed() -> None:
    allowed = AllowedHosts.of((), "10.0.0.5", 8080)
    for host in (
        "localhost:8080",
        "127.0.0.1:8080",
        "[::1]:8080",
        "10.0.0.5:8080",
        "LOCALHOST:8080",
    ):
        assert allowed.allows_host(host), host
    for other in ("evil.example", "evil.example:8080", "localhost:8081", "localhost", "", None):
        assert not allowed.allows_host(other), other
    wildcard = AllowedHosts.of((), "0.0.0.0", 8080)
    assert not wildcard.allows_host("0.0.0.0:8080") and wildcard.allows_host("localhost:8080")


def test_configured_names_replace_the_defaults_and_a_bare_name_takes_any_port() -> None:
    allowed = AllowedHosts.of(("helicase.example.org", "gw.example.org:8443"), "0.0.0.0", 8080)
    assert allowed.allows_host("helicase.example.org") and allowed.allows_host(
        "helicase.example.org:443"
    )
    assert allowed.allows_host("gw.example.org:8443") and not allowed.allows_host("gw.example.org")
    assert not allowed.allows_host("localhost:8080")


def test_an_origin_must_be_http_or_https_at_an_allowed_host() -> None:
    allowed = AllowedHosts.of((), "127.0.0.1", 8080)
    assert allowed.allows_origin("http://127.0.0.1:8080")
    assert allowed.allows_origin("https://localhost:8080")
    for origin in ("null", "http://evil.example", "ftp://127.0.0.1:8080", "http://127.0.0.1:8080/x",
                   "http://127.0.0.1:9999", "http://[::1"):  # fmt: skip
        assert not allowed.allows_origin(origin), origin


def test_split_host_keeps_ipv6_brackets() -> None:
    assert split_host("[::1]:80") == ("[::1]", "80")
    assert split_host("[::1]") == ("[::1]", "")
    assert split_host("Example.ORG:1") == ("example.org", "1")


def test_a_session_id_is_256_random_bits_and_only_its_hash_finds_it() -> None:
    first, second = tokens.new_session_id(), tokens.new_session_id()
    assert first != second and tokens.well_formed_id(first)
    assert not tokens.well_formed_id(first[:-1]) and not tokens.well_formed_id(first + "=")
    assert tokens.lookup_key(first) != tokens.lookup_key(second)
    assert first.encode() not in tokens.lookup_key(first)


@given(st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1))
def test_a_sealed_token_opens_only_with_its_own_session_id(token: str) -> None:
    session, other = tokens.new_session_id(), tokens.new_session_id()
    sealed = tokens.seal_token(session, token)
    assert tokens.open_token(session, sealed) == token
    assert tokens.open_token(other, sealed) is None


def test_only_header_safe_tokens_are_taken() -> None:
    assert tokens.well_formed_token("hlc_abc.DEF-123")
    for bad in ("", "two words", "line\nbreak", "é", "x" * 8193):
        assert not tokens.well_formed_token(bad), bad
