"""Keyset (cursor) pagination: constant cost per page at any depth, no COUNT(*)."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db.models import Model, Q, QuerySet

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
        raise field_error("cursor", "Invalid cursor") from exc
    if not isinstance(values, list):
        raise field_error("cursor", "Invalid cursor")
    return values


def keyset_page[M: Model](
    qs: QuerySet[M], *, cursor: str | None, limit: int, descending: bool = True
) -> Page[M]:
    """Page by primary key. `qs` must not be ordered by anything else."""
    if cursor:
        (last_id,) = decode_cursor(cursor)[:1] or [None]
        if not isinstance(last_id, int):
            raise field_error("cursor", "Invalid cursor")
        qs = qs.filter(Q(pk__lt=last_id) if descending else Q(pk__gt=last_id))
    qs = qs.order_by("-pk" if descending else "pk")
    rows = list(qs[: limit + 1])
    nxt = encode_cursor([rows[limit - 1].pk]) if len(rows) > limit else None
    return Page(items=rows[:limit], next=nxt)
