"""/tags: list, create, delete."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from leadbridge.api.auth import actor
from leadbridge.api.common import Id, PageParams
from leadbridge.api.errors import BASE, WITH_BODY, errors, located
from leadbridge.contacts.selectors import tag_list
from leadbridge.contacts.services import tag_create, tag_delete
from leadbridge.core.pagination import keyset_page
from leadbridge.core.permissions import require
from leadbridge.core.roles import Perm

router = Router(tags=["tags"])


class TagOut(Schema):
    id: int
    name: str
    color: str
    created_at: dt.datetime


class TagPage(Schema):
    items: list[TagOut]
    next: str | None


class TagIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str
    color: str = Field("", max_length=16, description="A CSS colour, e.g. #3b82f6")


@router.get("", response={200: TagPage, **errors(*BASE)})
def list_tags(request: HttpRequest, page: Query[PageParams]) -> Any:
    """All tags, oldest first."""
    require(actor(request), Perm.CONTACT_VIEW)
    with located("query"):
        return keyset_page(tag_list(), cursor=page.cursor, limit=page.limit, descending=False)


@router.post("", response={201: TagOut, **errors(*WITH_BODY, 403, 409)})
def create_tag(request: HttpRequest, payload: TagIn) -> Any:
    """Create a tag; names are unique regardless of case (409 if taken)."""
    with located("body"):
        tag = tag_create(actor=actor(request), name=payload.name, color=payload.color)
    return Status(201, tag)


@router.delete("/{tag_id}", response={204: None, **errors(*BASE, 403, 404)})
def delete_tag(request: HttpRequest, tag_id: Id) -> Any:
    """Delete a tag and remove it from every contact."""
    tag_delete(actor=actor(request), tag_id=tag_id)
    return Status(204, None)
