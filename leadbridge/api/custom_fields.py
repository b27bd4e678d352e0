"""/custom-fields: the admin-defined fields of contacts and companies."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from leadbridge.api.auth import actor
from leadbridge.api.common import Id, PageParams
from leadbridge.api.errors import BASE, WITH_BODY, errors, located
from leadbridge.contacts.models import CustomField
from leadbridge.contacts.selectors import custom_field_list
from leadbridge.contacts.services import custom_field_create, custom_field_delete
from leadbridge.core.pagination import keyset_page
from leadbridge.core.permissions import require
from leadbridge.core.roles import Perm

router = Router(tags=["custom fields"])

Entity = Literal["contact", "company"]


class CustomFieldOut(Schema):
    id: int
    entity: str
    key: str
    label: str
    kind: str
    choices: list[str]
    required: bool
    position: int
    created_at: dt.datetime


class CustomFieldPage(Schema):
    items: list[CustomFieldOut]
    next: str | None


class CustomFieldIn(Schema):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(description="1-64 lower-case latin letters, digits and _; starts with a letter")
    label: str = ""
    kind: CustomField.Kind
    entity: Entity = "contact"
    choices: list[str] = Field(default_factory=list, description="For choice and multi_choice")
    required: bool = False


@router.get("", response={200: CustomFieldPage, **errors(*BASE)})
def list_custom_fields(request: HttpRequest, page: Query[PageParams], entity: Entity = "contact") -> Any:
    require(actor(request), Perm.CONTACT_VIEW)
    with located("query"):
        return keyset_page(custom_field_list(entity), cursor=page.cursor, limit=page.limit, descending=False)


@router.post("", response={201: CustomFieldOut, **errors(*WITH_BODY, 403, 409)})
def create_custom_field(request: HttpRequest, payload: CustomFieldIn) -> Any:
    with located("body"):
        field = custom_field_create(
            actor=actor(request),
            key=payload.key,
            label=payload.label,
            kind=payload.kind.value,
            entity=payload.entity,
            choices=payload.choices,
            required=payload.required,
        )
    return Status(201, field)


@router.delete("/{field_id}", response={204: None, **errors(*BASE, 403, 404)})
def delete_custom_field(request: HttpRequest, field_id: Id) -> Any:
    """Remove the definition; values already stored on records are kept (not shown)."""
    custom_field_delete(actor=actor(request), field_id=field_id)
    return Status(204, None)
