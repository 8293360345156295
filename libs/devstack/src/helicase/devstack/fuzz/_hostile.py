"""Hostile scalar values as Hypothesis strategies: strings that break parsers, paths, SQL and
shells (harmless ones: nothing here deletes or writes anything if a shell ever ran it), huge and
negative numbers, the edges of each integer type, invalid UTF-8, and ids that look valid."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from hypothesis import strategies as st

INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
UINT32 = (0, 2**32 - 1)
UINT64 = (0, 2**64 - 1)
T = TypeVar("T")

HOSTILE_TEXT: tuple[str, ...] = (
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x01\x02\x1b[31m\x7f",
    "\r\n\t\v\f",
    "\u202e\u200b\ufeff",
    "\ud7ff\ue000\U0010ffff",
    "😀" * 50,
    "\u03a9\u2248\u00e7\u221a\u222b\u02dc\u00b5\u2264",
    "' OR '1'='1",
    "'; SELECT pg_sleep(0); --",
    '"; --',
    "%s%s%s%n",
    "{0}{1}{__class__}",
    "$(id)",
    "`true`",
    "; echo fuzz",
    "| cat",
    "&& true",
    "../../../../etc/passwd",
    "..\\..\\windows",
    "/",
    "//",
    "./.",
    "~root",
    "*",
    "?*[]{}",
    "${HOME}",
    "%00",
    "%2e%2e%2f",
    "<script>alert(1)</script>",
    "null",
    "undefined",
    "NaN",
    "-1",
    "0",
    "9" * 40,
    "1e309",
    "true",
    "[]",
    "{}",
    '{"a":',
    "tenants/../../x",
    "workflows/",
    "0 0 30 2 *",
    "* * * * * * *",
    "Mars/Olympus_Mons",
    "UTC\x00",
)
INVALID_UTF8: tuple[bytes, ...] = (
    b"\xff",
    b"\xc3\x28",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
    b"\xc0\xaf",
    b"\x00\xff\xfe",
)


@dataclass(frozen=True)
class Budget:
    """How big a hostile value may get: `huge` is the length of the largest strings and byte
    strings (about one string in `huge_one_in` is huge), `many` the most items of a repeated
    field or map, `depth` the deepest nesting of messages and google.protobuf.Struct values."""

    huge: int = 300_000
    huge_one_in: int = 50
    many: int = 300
    depth: int = 40


@dataclass(frozen=True)
class Pools:
    """Values that look valid, mixed into strings: existing ids and names from the suite,
    known task types, and so on."""

    ids: Sequence[str] = field(default_factory=tuple)
    names: Sequence[str] = field(default_factory=tuple)

    def strategy(self) -> st.SearchStrategy[str]:
        values = [*self.ids, *self.names]
        return st.sampled_from(values) if values else st.nothing()


def huge_text(budget: Budget) -> st.SearchStrategy[str]:
    """A string of one repeated character (ASCII, multi-byte or NUL) up to `budget.huge`."""
    return st.builds(
        lambda char, size: char * size,
        st.sampled_from(["a", "é", "😀", "\x00", "/", "'"]),
        st.sampled_from([1_000, 10_000, budget.huge // 4, budget.huge]),
    )


def rarely(
    strategy: st.SearchStrategy[T], otherwise: st.SearchStrategy[T], one_in: int
) -> st.SearchStrategy[T]:
    """`strategy` about once in `one_in` draws, else `otherwise` (huge values are costly to send:
    a few go a long way)."""
    return st.integers(1, one_in).flatmap(lambda roll: strategy if roll == 1 else otherwise)


def text(budget: Budget, pools: Pools) -> st.SearchStrategy[str]:
    """Any string a caller could send."""
    return rarely(huge_text(budget), _text(pools), budget.huge_one_in)


def _text(pools: Pools) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(HOSTILE_TEXT),
        st.text(max_size=40),
        st.text(alphabet=st.characters(codec="utf-8"), max_size=300),
        pools.strategy(),
        pools.strategy().map(lambda value: value + "\x00"),
        pools.strategy().map(str.upper),
        st.uuids().map(str),
    )


def binary(budget: Budget) -> st.SearchStrategy[bytes]:
    """Bytes, invalid UTF-8 among them."""
    huge = st.builds(lambda size: b"\xff" * size, st.sampled_from([1_000, budget.huge]))
    common = st.one_of(st.sampled_from(INVALID_UTF8), st.binary(max_size=200))
    return rarely(huge, common, budget.huge_one_in)


def integers(lo: int, hi: int) -> st.SearchStrategy[int]:
    """Any integer of [lo, hi], with its edges, 0, -1 and near-edges favoured."""
    edges = [v for v in (lo, hi, 0, -1, 1, lo + 1, hi - 1, 2**31, 2**53 + 1) if lo <= v <= hi]
    return st.one_of(st.sampled_from(edges), st.integers(lo, hi))


def floats(*, width: int = 64) -> st.SearchStrategy[float]:
    """Any float of `width` bits: NaN, infinities, -0.0, subnormals and huge values included."""
    return st.floats(width=width)  # type: ignore[arg-type]
