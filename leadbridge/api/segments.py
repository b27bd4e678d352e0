"""/segments: saved filters over contacts — list, create, read, change, delete, count, members,
and a preview of a filter being edited (the builder's count, first matches, text and tree).

Filters are given as text (`filter`, the segment language) or as a JSON tree (`tree`, the
builder's form). A filter that cannot be read or compiled is a 400 whose error names the field
(`body.filter`, `body.tree`, `query.q`) and gives the character `position` of the problem.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from leadbridge.api.auth import actor
from leadbridge.api.common import Id, PageParams
from leadbridge.api.contacts import ContactOut, ContactPage
from leadbridge.api.errors import BASE, WITH_BODY, errors, located
from leadbridge.segments.models import Segment
from leadbridge.segments.selectors import (
    filter_preview,
    segment_count,
    segment_get,
    segment_list,
    segment_members,
)
from leadbridge.segments.services import segment_create, segment_delete, segment_update

router = Router(tags=["segments"])

FILTER_DOC = (
    "Filter text in the segment language, e.g. `tag:beach and (tag:forest or tag:income) and not "
    "tag:investor` or `stage >= mql and score >= 40`"
)
TREE_DOC = 'The same filter as the builder\'s JSON tree, e.g. `{"op": "tag", "name": "beach"}`'


class SegmentOut(Schema):
    id: int
    name: str
    description: str
    filter: str = Field(description="The canonical filter text")
    tree: dict[str, Any] = Field(description="The filter as a JSON tree")
    uses: list[str] = Field(description="Names of the saved segments the filter uses")
    owner: str | None = Field(description="Username of who created it")
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_filter(obj: Segment) -> str:
        return obj.filter_text

    @staticmethod
    def resolve_tree(obj: Segment) -> dict[str, Any]:
        return dict(obj.filter_json)

    @staticmethod
    def resolve_uses(obj: Segment) -> list[str]:
        return sorted(s.name for s in obj.uses.all())

    @staticmethod
    def resolve_owner(obj: Segment) -> str | None:
        return obj.owner.username if obj.owner_id and obj.owner else None


class SegmentPage(Schema):
    items: list[SegmentOut]
    next: str | None


class SegmentIn(Schema):
    """A new segment: a name (unique regardless of case) and a filter as text or as a tree."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=1000)
    description: str = Field("", max_length=10_000)
    filter: str | None = Field(None, max_length=10_000, description=FILTER_DOC)
    tree: dict[str, Any] | None = Field(None, description=TREE_DOC)


class SegmentPatch(Schema):
    """Only the keys sent change."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=1000)
    description: str | None = Field(None, max_length=10_000)
    filter: str | None = Field(None, max_length=10_000, description=FILTER_DOC)
    tree: dict[str, Any] | None = Field(None, description=TREE_DOC)


class CountOut(Schema):
    count: int = Field(description="Matching contacts you may see")


class PreviewIn(Schema):
    model_config = ConfigDict(extra="forbid")

    filter: str | None = Field(None, max_length=10_000, description=FILTER_DOC)
    tree: dict[str, Any] | None = Field(None, description=TREE_DOC)
    segment_id: Id | None = Field(
        None,
        description="The saved segment this filter is meant for (when editing it): segments that "
        "use it are evaluated with the new filter, and a cycle through it is an error",
    )


class PreviewOut(Schema):
    count: int
    items: list[ContactOut] = Field(description="The newest matching contacts (at most 10)")
    filter: str = Field(description="The canonical filter text")
    tree: dict[str, Any] = Field(description="The filter as a JSON tree")


@router.get("", response={200: SegmentPage, **errors(*BASE, 403)})
def list_segments(request: HttpRequest, page: Query[PageParams]) -> Any:
    """Saved segments, newest first."""
    with located("query"):
        return segment_list(user=actor(request), cursor=page.cursor, limit=page.limit)


@router.post("", response={201: SegmentOut, **errors(*WITH_BODY, 403, 409)})
def create_segment(request: HttpRequest, payload: SegmentIn) -> Any:
    """Save a filter as a segment (marketing, admins, heads of sales). A filter naming a segment
    that does not exist, or segments that use each other in a cycle, are refused."""
    with located("body"):
        segment = segment_create(
            actor=actor(request),
            name=payload.name,
            description=payload.description,
            filter=payload.filter,
            tree=payload.tree,
        )
    return Status(201, segment_get(user=actor(request), segment_id=segment.pk))


@router.post("/preview", response={200: PreviewOut, **errors(*WITH_BODY, 403)})
def preview_filter(request: HttpRequest, payload: PreviewIn) -> Any:
    """Evaluate a filter without saving it: the count, the newest matches, the canonical text
    and the JSON tree (send either `filter` or `tree`)."""
    with located("body"):
        preview = filter_preview(
            user=actor(request), text=payload.filter, tree=payload.tree, segment_id=payload.segment_id
        )
    return {"count": preview.count, "items": preview.items, "filter": preview.text, "tree": preview.tree}


@router.get("/{segment_id}", response={200: SegmentOut, **errors(*BASE, 403, 404)})
def get_segment(request: HttpRequest, segment_id: Id) -> Any:
    return segment_get(user=actor(request), segment_id=segment_id)


@router.patch("/{segment_id}", response={200: SegmentOut, **errors(*WITH_BODY, 403, 404, 409)})
def update_segment(request: HttpRequest, segment_id: Id, payload: SegmentPatch) -> Any:
    """Change the name, description or filter. Renaming a segment that others use is a 409."""
    data = payload.model_dump(exclude_unset=True)
    with located("body"):
        segment_update(
            actor=actor(request),
            segment_id=segment_id,
            name=data.get("name"),
            description=data.get("description"),
            filter=data.get("filter"),
            tree=data.get("tree"),
        )
    return segment_get(user=actor(request), segment_id=segment_id)


@router.delete("/{segment_id}", response={204: None, **errors(*BASE, 403, 404, 409)})
def delete_segment(request: HttpRequest, segment_id: Id) -> Any:
    """Delete a segment; one that other segments use is a 409 naming them."""
    segment_delete(actor=actor(request), segment_id=segment_id)
    return Status(204, None)


@router.get("/{segment_id}/count", response={200: CountOut, **errors(*BASE, 403, 404)})
def count_segment(request: HttpRequest, segment_id: Id) -> Any:
    """How many contacts you may see are in the segment now."""
    return {"count": segment_count(user=actor(request), segment_id=segment_id)}


@router.get("/{segment_id}/members", response={200: ContactPage, **errors(*BASE, 403, 404)})
def segment_members_page(request: HttpRequest, segment_id: Id, page: Query[PageParams]) -> Any:
    """The segment's contacts (that you may see), newest first, cursor-paginated."""
    with located("query"):
        return segment_members(
            user=actor(request), segment_id=segment_id, cursor=page.cursor, limit=page.limit
        )
