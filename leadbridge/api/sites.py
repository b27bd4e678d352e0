"""/sites: tracked sites, their public keys and allowed origins."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from leadbridge.api.auth import actor
from leadbridge.api.common import Id, PageParams
from leadbridge.api.errors import BASE, WITH_BODY, errors, located
from leadbridge.capture.selectors import site_list
from leadbridge.capture.services import site_create, site_update
from leadbridge.core.pagination import keyset_page

router = Router(tags=["sites"])


class SiteOut(Schema):
    id: int
    name: str
    site_key: str = Field(description="Public key to paste into the tracker snippet and forms")
    origins: list[str]
    is_active: bool
    created_at: dt.datetime

    @staticmethod
    def resolve_site_key(obj: Any) -> str:
        return str(obj.key)


class SitePage(Schema):
    items: list[SiteOut]
    next: str | None


class SiteIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str
    origins: list[str] = Field(default_factory=list, description="Allowed origins, e.g. https://example.com")


class SitePatch(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    origins: list[str] | None = None
    is_active: bool | None = None
    rotate_key: bool = Field(False, description="Issue a new key; the old one stops working")


@router.get("", response={200: SitePage, **errors(*BASE, 403)})
def list_sites(request: HttpRequest, page: Query[PageParams]) -> Any:
    with located("query"):
        return keyset_page(
            site_list(user=actor(request)), cursor=page.cursor, limit=page.limit, descending=False
        )


@router.post("", response={201: SiteOut, **errors(*WITH_BODY, 403)})
def create_site(request: HttpRequest, payload: SiteIn) -> Any:
    with located("body"):
        site = site_create(actor=actor(request), name=payload.name, origins=payload.origins)
    return Status(201, site)


@router.patch("/{site_id}", response={200: SiteOut, **errors(*WITH_BODY, 403, 404)})
def update_site(request: HttpRequest, site_id: Id, payload: SitePatch) -> Any:
    with located("body"):
        return site_update(
            actor=actor(request),
            site_id=site_id,
            name=payload.name,
            origins=payload.origins,
            is_active=payload.is_active,
            rotate_key=payload.rotate_key,
        )
