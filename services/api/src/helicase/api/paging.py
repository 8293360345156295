"""Listing, the one way every List RPC reads and pages (AIP-158): tenant-scoped keyset paging.

A List handler reads `page_size` (0 means the default) and `page_token` with `page_request`,
which raises InvalidArgument naming either field when it is out of range or not a token this API
made. Its store lists with `list_page`, which confines the query to the caller's tenant
(helicase.api.tenancy), orders it by a unique key (e.g. (create_time, id)) and continues after
the token's key with a row comparison, so a page is one index range scan.

A token is opaque to clients: base64 of the last row's key and a digest of what the listing was
made for (the table, the caller's tenant and the request's filters). A token presented with
other filters or by another tenant is INVALID_ARGUMENT naming page_token. The tenant condition
itself never comes from the token but from the caller's principal, so a forged token can only
move the position within the caller's own rows.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Column, ColumnElement, Row, Select, Table, literal, tuple_
from sqlalchemy.ext.asyncio import AsyncConnection

from helicase.api import tenancy
from helicase.common.errors import FieldViolation, InvalidArgument

ANSWER_BYTES = 8 * 2**20  # what one List answer stays under (HELICASE_ANSWER_BYTES's default)
T = TypeVar("T")
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
BAD_TOKEN = "is not a token from this API"
OTHER_LISTING = "was made for other filters or another caller; start again without it"


@dataclass(frozen=True)
class Page:
    """A validated page request: how many rows, and where the previous page ended."""

    size: int
    after: tuple[Any, ...] | None = None  # the last row's key; None on the first page
    made_for: str = ""  # the digest of the listing the token came from


def page_request(
    page_size: int,
    page_token: str,
    *,
    default: int = DEFAULT_PAGE_SIZE,
    maximum: int = MAX_PAGE_SIZE,
) -> Page:
    """The page a List request asks for; every violation of both fields in one InvalidArgument."""
    violations = []
    if not 0 <= page_size <= maximum:
        violations.append(FieldViolation("page_size", f"must be 0..{maximum}"))
    after, made_for = None, ""
    if page_token:
        try:
            after, made_for = decode(page_token)
        except ValueError:
            violations.append(FieldViolation("page_token", BAD_TOKEN))
    if violations:
        raise InvalidArgument(violations)
    return Page(size=page_size or default, after=after, made_for=made_for)


# -- the token ----------------------------------------------------------------------------------


def _tagged(value: Any) -> list[str]:
    if isinstance(value, datetime):
        return ["t", value.isoformat()]
    if isinstance(value, uuid.UUID):
        return ["u", str(value)]
    if isinstance(value, str):
        return ["s", value]
    if isinstance(value, int) and not isinstance(value, bool):
        return ["i", str(value)]
    raise TypeError(f"no page key of type {type(value).__name__}")


_UNTAG: dict[str, Callable[[str], Any]] = {
    "t": datetime.fromisoformat, "u": uuid.UUID, "s": str, "i": int,
}  # fmt: skip


def encode(key: Sequence[Any], made_for: str) -> str:
    raw = json.dumps({"k": [_tagged(v) for v in key], "f": made_for}).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode(token: str) -> tuple[tuple[Any, ...], str]:
    """Raises ValueError for a token this server did not make."""
    try:
        body = json.loads(base64.urlsafe_b64decode(token.encode()))
        key = tuple(_UNTAG[tag](text) for tag, text in body["k"])
        made_for = body["f"]
    except (ValueError, TypeError, KeyError, binascii.Error) as exc:
        raise ValueError("invalid page_token") from exc
    if not key or not isinstance(made_for, str):
        raise ValueError("invalid page_token")
    return key, made_for


def listing_digest(table: str, tenant: str | None, filters: Mapping[str, Any]) -> str:
    """What a token is bound to: the listed table, the tenant (None: every tenant) and the
    filters, in a canonical form (mapping keys sorted; the caller sorts list values)."""
    canonical = json.dumps([table, tenant, filters], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


# -- listing ------------------------------------------------------------------------------------


def _scoped(
    table: Table,
    filters: Mapping[str, Any] | None,
    within: tuple[Column[Any], str | None] | None,
    parent_checked: bool,
) -> tuple[str, list[ColumnElement[bool]]]:
    """(the digest a token of this listing carries, the tenant conditions of its query)."""
    conditions: list[ColumnElement[bool]]
    if within is not None:
        column, tenant = within
        conditions = [] if tenant is None else [column == tenant]
    elif parent_checked:
        tenant, conditions = tenancy.scope(), []
    else:
        tenant, conditions = tenancy.scope(), tenancy.where(table)
    return listing_digest(table.name, tenant, filters or {}), conditions


async def list_page(
    conn: AsyncConnection,
    query: Select[Any],
    table: Table,
    page: Page,
    *,
    key: Sequence[Column[Any]],
    descending: bool = True,
    filters: Mapping[str, Any] | None = None,
    within: tuple[Column[Any], str | None] | None = None,
    parent_checked: bool = False,
) -> tuple[list[Row[Any]], str]:
    """One page of `query` (rows of `table`, already filtered by `filters`) in the caller's
    tenant, ordered by the unique `key` columns, and the next page's token ("" on the last).

    `within` is for the platform's own tables (tenants, API keys, audit events), whose tenant
    column is named otherwise and which the admin service scopes itself (a platform admin lists
    every tenant's): (the tenant column, the tenant or None for all). `parent_checked` is for a
    table without a tenant column whose rows belong to one parent (a workflow's tasks): the
    caller found the parent in the caller's tenant and `filters` name it; the token is still
    bound to the tenant."""
    made_for, conditions = _scoped(table, filters, within, parent_checked)
    if page.after is not None and (page.made_for != made_for or len(page.after) != len(key)):
        raise InvalidArgument([FieldViolation("page_token", OTHER_LISTING)])
    query = query.where(*conditions)
    query = query.order_by(*(c.desc() for c in key) if descending else key)
    if page.after is not None:
        position = tuple_(*key)
        after = tuple_(*(literal(v, c.type) for v, c in zip(page.after, key, strict=True)))
        query = query.where(position < after if descending else position > after)
    rows = (await conn.execute(query.limit(page.size + 1))).all()
    if len(rows) <= page.size:
        return list(rows), ""
    kept = list(rows[: page.size])
    return kept, encode([kept[-1]._mapping[c] for c in key], made_for)


def token_after(
    row: Row[Any] | Mapping[Any, Any],
    table: Table,
    *,
    key: Sequence[Column[Any]],
    filters: Mapping[str, Any] | None = None,
    within: tuple[Column[Any], str | None] | None = None,
    parent_checked: bool = False,
) -> str:
    """The token of the page that follows `row` in the listing that `list_page` with the same
    arguments makes: for a page cut short (to stay within a size budget) or a listing entered
    in the middle (a workflow's tasks after those it inlines)."""
    made_for, _ = _scoped(table, filters, within, parent_checked)
    values = row._mapping if isinstance(row, Row) else row
    return encode([values[c.name] for c in key], made_for)


# -- size ---------------------------------------------------------------------------------------


def fitting(sizes: Iterable[int], budget: int) -> int:
    """How many items, in order, fit in `budget` bytes: at least one (a single item is bounded
    by the field limits checked at the edge), then as many as stay within the budget."""
    total = kept = 0
    for size in sizes:
        total += size
        if kept and total > budget:
            break
        kept += 1
    return kept


def fit_page(
    items: list[T],
    sizes: Iterable[int],
    rows: Sequence[Row[Any]],
    token: str,
    table: Table,
    *,
    key: Sequence[Column[Any]],
    filters: Mapping[str, Any] | None = None,
    parent_checked: bool = False,
    budget: int = ANSWER_BYTES,
) -> tuple[list[T], str]:
    """A page (`items` built from `rows` of `list_page`, with their `sizes` in bytes) cut short
    before it would pass `budget`, with the token of the page after the last item kept; as it
    was when it fits. However large the stored rows, no List answer nears the message limit."""
    kept = fitting(sizes, budget)
    if kept >= len(items):
        return items, token
    after = token_after(
        rows[kept - 1], table, key=key, filters=filters, parent_checked=parent_checked
    )
    return items[:kept], after
