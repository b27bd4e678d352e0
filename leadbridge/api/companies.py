"""/companies: list (q), create, read (with its contacts count), edit."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from leadbridge.api.auth import actor
from leadbridge.api.common import Id, PageParams
from leadbridge.api.errors import BASE, WITH_BODY, errors, located
from leadbridge.contacts.models import Company
from leadbridge.contacts.selectors import company_contact_count, company_get, company_list
from leadbridge.contacts.services import company_create, company_update

router = Router(tags=["companies"])


class CompanyOut(Schema):
    id: int
    name: str
    domain: str
    industry: str
    phone: str
    city: str
    country: str
    address: str
    employees: int | None
    owner: str | None = Field(description="Username of the owner")
    custom: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_owner(obj: Company) -> str | None:
        return obj.owner.username if obj.owner_id and obj.owner else None


class CompanyDetailOut(CompanyOut):
    contacts_count: int = Field(description="Contacts of this company that you can see")

    @staticmethod
    def resolve_contacts_count(obj: Company, context: dict[str, Any]) -> int:
        return company_contact_count(user=actor(context["request"]), company=obj)


class CompanyPage(Schema):
    items: list[CompanyOut]
    next: str | None


class CompanyIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    domain: str | None = None
    industry: str | None = None
    phone: str | None = None
    city: str | None = None
    country: str | None = Field(None, description="Two-letter ISO code")
    address: str | None = None
    employees: int | None = Field(None, ge=0, le=2_147_483_647)


@router.get("", response={200: CompanyPage, **errors(*BASE)})
def list_companies(request: HttpRequest, page: Query[PageParams], q: str = "") -> Any:
    """Companies, newest first; `q` matches part of the name."""
    with located("query"):
        return company_list(user=actor(request), q=q, cursor=page.cursor, limit=page.limit)


@router.post("", response={201: CompanyDetailOut, **errors(*WITH_BODY, 403)})
def create_company(request: HttpRequest, payload: CompanyIn) -> Any:
    with located("body"):
        company = company_create(actor=actor(request), data=payload.model_dump(exclude_unset=True))
    return Status(201, company)


@router.get("/{company_id}", response={200: CompanyDetailOut, **errors(*BASE, 404)})
def get_company(request: HttpRequest, company_id: Id) -> Any:
    return company_get(user=actor(request), company_id=company_id)


@router.patch("/{company_id}", response={200: CompanyDetailOut, **errors(*WITH_BODY, 403, 404)})
def update_company(request: HttpRequest, company_id: Id, payload: CompanyIn) -> Any:
    """Change the fields sent."""
    with located("body"):
        company = company_update(
            actor=actor(request), company_id=company_id, data=payload.model_dump(exclude_unset=True)
        )
    return company_get(user=actor(request), company_id=company.pk)
