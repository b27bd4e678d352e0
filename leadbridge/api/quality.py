"""/quality: the data-quality queue (records that failed checks) and its resolution."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema
from pydantic import ConfigDict, Field

from leadbridge.api.auth import actor
from leadbridge.api.common import Id, PageParams
from leadbridge.api.errors import BASE, WITH_BODY, errors, located
from leadbridge.contacts.models import DataQualityItem
from leadbridge.contacts.selectors import dq_item_get, dq_items
from leadbridge.contacts.services import dq_item_resolve

router = Router(tags=["data quality"])


class QualityItemOut(Schema):
    id: int
    source: str
    reason: str
    raw: Any = Field(description="The input as received")
    errors: list[dict[str, Any]]
    contact_id: int | None = Field(description="The suspected duplicate, or the contact it was resolved into")
    status: str
    resolution_note: str
    resolved_by: str | None
    resolved_at: dt.datetime | None
    created_at: dt.datetime

    @staticmethod
    def resolve_resolved_by(obj: DataQualityItem) -> str | None:
        return obj.resolved_by.username if obj.resolved_by_id and obj.resolved_by else None


class QualityPage(Schema):
    items: list[QualityItemOut]
    next: str | None


class ResolveIn(Schema):
    model_config = ConfigDict(extra="forbid")

    action: Literal["fix", "merge", "discard"]
    data: dict[str, Any] = Field(
        default_factory=dict,
        description="fix: the corrected contact fields; merge: `contact_id` (default: the suspected "
        "duplicate) and fields to fill in where the contact has none",
    )
    note: str = Field("", description="Required to discard")


@router.get("", response={200: QualityPage, **errors(*BASE, 403)})
def list_quality_items(
    request: HttpRequest,
    page: Query[PageParams],
    status: Literal["open", "fixed", "merged", "discarded", "all"] = "open",
) -> Any:
    """The queue, newest first (open items unless `status` says otherwise)."""
    with located("query"):
        return dq_items(
            user=actor(request),
            status="" if status == "all" else status,
            cursor=page.cursor,
            limit=page.limit,
        )


@router.post("/{item_id}/resolve", response={200: QualityItemOut, **errors(*WITH_BODY, 403, 404, 409)})
def resolve_quality_item(request: HttpRequest, item_id: Id, payload: ResolveIn) -> Any:
    """Fix (create a contact from corrected data), merge (into an existing contact) or
    discard (with a note). A resolved item is a 409."""
    # fix and merge check `data` with the contact rules: their fields live under body.data.
    location = "body" if payload.action == "discard" else "body.data"
    with located(location):
        item = dq_item_resolve(
            actor=actor(request), item_id=item_id, action=payload.action, data=payload.data, note=payload.note
        )
    return dq_item_get(user=actor(request), item_id=item.pk)
