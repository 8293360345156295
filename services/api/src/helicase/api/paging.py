"""Keyset paging, the one way every List RPC pages (AIP-158).

A List request's `page_size` (0 means the default) and `page_token` are read with `page_request`,
which raises InvalidArgument naming either field when it is out of range or not a token this API
made. Stores page by (create_time, id) with `by_time` and `next_token`, or by a unique name
(`encode_name`). Tokens are opaque to clients: base64 of the last row's key.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, or_

from helicase.common.errors import FieldViolation, InvalidArgument

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
BAD_TOKEN = "is not a token from this API"

C = TypeVar("C")


@dataclass(frozen=True)
class Page:
    """A validated page request: how many rows, and the key of the row to continue after."""

    size: int
    after: Any = None  # (create_time, id) or a name; None on the first page


def page_request(page_size: int, page_token: str, decode: Callable[[str], C]) -> Page:
    """The page a List request asks for; every violation of both fields in one InvalidArgument."""
    violations = []
    if not 0 <= page_size <= MAX_PAGE_SIZE:
        violations.append(FieldViolation("page_size", f"must be 0..{MAX_PAGE_SIZE}"))
    after = None
    if page_token:
        try:
            after = decode(page_token)
        except ValueError:
            violations.append(FieldViolation("page_token", BAD_TOKEN))
    if violations:
        raise InvalidArgument(violations)
    return Page(size=page_size or DEFAULT_PAGE_SIZE, after=after)


# -- newest first, by (create_time, id) ---------------------------------------------------------


def encode_time_id(create_time: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([create_time.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_time_id(token: str) -> tuple[datetime, uuid.UUID]:
    """Raises ValueError for a token this server did not make."""
    try:
        when, ident = json.loads(base64.urlsafe_b64decode(token.encode()))
        return datetime.fromisoformat(when), uuid.UUID(ident)
    except (ValueError, TypeError, binascii.Error) as exc:
        raise ValueError("invalid page_token") from exc


def by_time(
    query: Select[Any],
    create_time: ColumnElement[Any],
    row_id: ColumnElement[Any],
    page: Page,
    *,
    newest_first: bool = True,
) -> Select[Any]:
    """`query` ordered by (create_time, id), newest first unless told otherwise, after the
    page's key, one row more than the page (the extra row tells `next_token` whether another
    page follows)."""
    if newest_first:
        query = query.order_by(create_time.desc(), row_id.desc())
    else:
        query = query.order_by(create_time, row_id)
    if page.after is not None:
        when, last = page.after
        if newest_first:
            after = or_(create_time < when, and_(create_time == when, row_id < last))
        else:
            after = or_(create_time > when, and_(create_time == when, row_id > last))
        query = query.where(after)
    return query.limit(page.size + 1)


def next_token(rows: Sequence[C], page: Page, token_of: Callable[[C], str]) -> tuple[list[C], str]:
    """The rows of the page (`rows` holds one more when another page follows) and the token of
    the next page, made by `token_of` from the page's last row ("" on the last page)."""
    if len(rows) <= page.size:
        return list(rows), ""
    kept = list(rows[: page.size])
    return kept, token_of(kept[-1])


def time_id_token(row: Any) -> str:
    """The token continuing after `row`, a row with `create_time` and `id`."""
    return encode_time_id(row.create_time, row.id)


# -- by a unique name --------------------------------------------------------------------------


def encode_name(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode()


def decode_name(token: str) -> str:
    """Raises ValueError for a token this server did not make."""
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ValueError("invalid page_token") from exc
