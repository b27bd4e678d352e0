"""Keyset (cursor) pagination: constant cost per page at any depth, no COUNT(*)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from django.utils.translation import gettext as _

from leadbridge.core.errors import field_error

M = TypeVar("M", bound=Model)


@dataclass
class Page[M: Model]:
    items: list[M]
    next: str | None


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(values, separators=(",", ":"), default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise field_error("cursor", _("Invalid cursor")) from exc
    if not isinstance(values, list):
        raise field_error("cursor", _("Invalid cursor"))
    return values


def keyset_page[M: Model](
    qs: QuerySet[M],
    *,
    cursor: str | None,
    limit: int,
    descending: bool = True,
    key: str = "pk",
    where: dict[str, Any] | None = None,
) -> Page[M]:
    """Page by primary key. `qs` must not be ordered by anything else.

    `key` orders by another column that holds the row's primary key, reached through a join
    (e.g. `tag_links__contact_id`), so that the database can walk that table's index; `where`
    is the join's own filter (`{"tag_links__tag_id": 7}`). The join filter and both cursor
    bounds go into one `filter()` call: a second call on a multi-valued relation would make
    Django join the table a second time. The primary-key bound is redundant for the result but
    lets PostgreSQL's merge join start at the cursor instead of at the top.
    """
    bounds: dict[str, Any] = dict(where or {})
    if cursor:
        (last_id,) = decode_cursor(cursor)[:1] or [None]
        if not isinstance(last_id, int):
            raise field_error("cursor", _("Invalid cursor"))
        op = "lt" if descending else "gt"
        bounds[f"pk__{op}"] = last_id
        if key != "pk":
            bounds[f"{key}__{op}"] = last_id
    if bounds:
        qs = qs.filter(**bounds)
    qs = qs.order_by(f"-{key}" if descending else key)
    rows = list(qs[: limit + 1])
    nxt = encode_cursor([rows[limit - 1].pk]) if len(rows) > limit else None
    return Page(items=rows[:limit], next=nxt)
