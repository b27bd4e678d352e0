"""/inquiry-classes: the verdicts sales give inquiries (target, upsell, service, junk kinds)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import ConfigDict, Field

from leadbridge.api.auth import actor
from leadbridge.api.common import Id
from leadbridge.api.errors import BASE, WITH_BODY, errors, located
from leadbridge.capture.models import ClassKind, InquiryClass
from leadbridge.capture.selectors import inquiry_class_list
from leadbridge.capture.services import inquiry_class_create, inquiry_class_update
from leadbridge.core.permissions import require
from leadbridge.core.roles import Perm

router = Router(tags=["inquiry classes"])


class InquiryClassOut(Schema):
    id: int
    key: str
    name: str
    label: str = Field(description="The name in your language")
    kind: str = Field(description="target, upsell, service or junk")
    product: str
    position: int
    is_active: bool

    @staticmethod
    def resolve_label(obj: InquiryClass) -> str:
        return obj.label


class InquiryClassPage(Schema):
    items: list[InquiryClassOut]
    next: str | None


class InquiryClassIn(Schema):
    model_config = ConfigDict(extra="forbid")

    key: str = Field(description="1-64 lower-case latin letters, digits, _ and -; starts with a letter")
    name: str
    kind: ClassKind
    product: str = Field("", description="For a target class: the product or service it is about")
    position: int | None = Field(None, ge=0)
    is_active: bool = True


class InquiryClassPatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    kind: ClassKind | None = None
    product: str | None = None
    position: int | None = Field(None, ge=0)
    is_active: bool | None = None


@router.get("", response={200: InquiryClassPage, **errors(*BASE, 403)})
def list_inquiry_classes(request: HttpRequest, active: bool = False) -> Any:
    """Every class in display order (a short list: one page)."""
    require(actor(request), Perm.INQUIRY_VIEW)
    return {"items": list(inquiry_class_list(active_only=active)), "next": None}


@router.post("", response={201: InquiryClassOut, **errors(*WITH_BODY, 403, 409)})
def create_inquiry_class(request: HttpRequest, payload: InquiryClassIn) -> Any:
    data = payload.model_dump(exclude_none=True)
    data["kind"] = payload.kind.value
    with located("body"):
        cls = inquiry_class_create(actor=actor(request), data=data)
    return Status(201, cls)


@router.patch("/{class_id}", response={200: InquiryClassOut, **errors(*WITH_BODY, 403, 404)})
def update_inquiry_class(request: HttpRequest, class_id: Id, payload: InquiryClassPatch) -> Any:
    data = payload.model_dump(exclude_unset=True)
    if payload.kind is not None:
        data["kind"] = payload.kind.value
    with located("body"):
        return inquiry_class_update(actor=actor(request), class_id=class_id, data=data)
