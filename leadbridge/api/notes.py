"""Notes on a contact (/contacts/{id}/notes) and the director's list of product issues."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from leadbridge.api.auth import actor
from leadbridge.api.common import ContactRef, Id, PageParams
from leadbridge.api.errors import BASE, WITH_BODY, errors, located
from leadbridge.contacts.models import Note
from leadbridge.contacts.selectors import contact_get, contact_notes, product_issues
from leadbridge.contacts.services import note_add
from leadbridge.core.pagination import keyset_page

router = Router(tags=["notes"])


class NoteOut(Schema):
    id: int
    contact_id: int
    author: str | None = Field(description="Username of the author")
    body: str
    is_product_issue: bool
    product: str
    resolved_at: dt.datetime | None
    created_at: dt.datetime

    @staticmethod
    def resolve_author(obj: Note) -> str | None:
        return obj.author.username if obj.author_id and obj.author else None


class NotePage(Schema):
    items: list[NoteOut]
    next: str | None


class ProductIssueOut(NoteOut):
    contact: ContactRef

    @staticmethod
    def resolve_contact(obj: Note) -> dict[str, Any]:
        return {"id": obj.contact_id, "name": obj.contact.display_name}


class ProductIssuePage(Schema):
    items: list[ProductIssueOut]
    next: str | None


class NoteIn(Schema):
    model_config = ConfigDict(extra="forbid")

    body: str
    is_product_issue: bool = Field(False, description="A product problem the director should see")
    product: str = ""


@router.get("/contacts/{contact_id}/notes", response={200: NotePage, **errors(*BASE, 404)})
def list_notes(request: HttpRequest, contact_id: Id, page: Query[PageParams]) -> Any:
    """Notes on the contact, newest first."""
    contact = contact_get(user=actor(request), contact_id=contact_id)
    with located("query"):
        return keyset_page(contact_notes(contact=contact), cursor=page.cursor, limit=page.limit)


@router.post("/contacts/{contact_id}/notes", response={201: NoteOut, **errors(*WITH_BODY, 403, 404)})
def add_note(request: HttpRequest, contact_id: Id, payload: NoteIn) -> Any:
    with located("body"):
        note = note_add(
            actor=actor(request),
            contact_id=contact_id,
            body=payload.body,
            is_product_issue=payload.is_product_issue,
            product=payload.product,
        )
    return Status(201, note)


@router.get("/notes/product-issues", response={200: ProductIssuePage, **errors(*BASE, 403)})
def list_product_issues(request: HttpRequest, page: Query[PageParams], include_resolved: bool = False) -> Any:
    """Notes flagged as product issues across all contacts, newest first; open ones only
    unless `include_resolved=true`."""
    with located("query"):
        return product_issues(
            user=actor(request), open_only=not include_resolved, cursor=page.cursor, limit=page.limit
        )
