"""/campaigns: list, read, create, edit. The sales script is what sales see on every inquiry
the campaign brought."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from leadbridge.api.auth import actor
from leadbridge.api.common import Id, PageParams
from leadbridge.api.errors import BASE, WITH_BODY, errors, located
from leadbridge.marketing import selectors, services
from leadbridge.marketing.models import Campaign

router = Router(tags=["campaigns"])

CampaignTypeName = Literal["notification", "nurture", "expert"]


class CampaignOut(Schema):
    id: int
    name: str
    type: str = Field(description="notification, nurture or expert")
    channel: str | None = Field(description="Channel key")
    utm_campaign: str = Field(description="Lower-case; inquiries tagged with it belong to this campaign")
    starts_on: dt.date | None
    ends_on: dt.date | None
    budget: str | None = Field(description='Decimal as a string, e.g. "150000.00"')
    currency: str
    sales_script: str
    is_active: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_channel(obj: Campaign) -> str | None:
        return obj.channel.key if obj.channel_id and obj.channel else None

    @staticmethod
    def resolve_budget(obj: Campaign) -> str | None:
        return None if obj.budget is None else f"{obj.budget:.2f}"


class CampaignPage(Schema):
    items: list[CampaignOut]
    next: str | None


class CampaignIn(Schema):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    type: CampaignTypeName | None = None
    channel: str | None = Field(None, description="Channel key; null for none")
    utm_campaign: str | None = None
    starts_on: str | None = Field(None, description="YYYY-MM-DD")
    ends_on: str | None = Field(None, description="YYYY-MM-DD")
    budget: str | int | float | None = Field(None, description="At most 2 decimals; a string keeps it exact")
    currency: str | None = Field(None, description="Three letters; default DEFAULT_CURRENCY")
    sales_script: str | None = None
    is_active: bool | None = None


class CampaignFilter(Schema):
    q: str = Field("", max_length=200, description="Part of the name or utm_campaign")
    channel: str = Field("", max_length=32, description="Channel key")
    type: CampaignTypeName | Literal[""] = ""
    active: bool | None = None


@router.get("", response={200: CampaignPage, **errors(*BASE, 403)})
def list_campaigns(request: HttpRequest, page: Query[PageParams], filters: Query[CampaignFilter]) -> Any:
    """Campaigns, newest first."""
    with located("query"):
        return selectors.campaign_list(
            user=actor(request),
            q=filters.q,
            channel=filters.channel,
            type=filters.type,
            active=filters.active,
            cursor=page.cursor,
            limit=page.limit,
        )


@router.post("", response={201: CampaignOut, **errors(*WITH_BODY, 403, 409)})
def create_campaign(request: HttpRequest, payload: CampaignIn) -> Any:
    """Create a campaign (409 when its utm_campaign belongs to another)."""
    with located("body"):
        campaign = services.campaign_create(actor=actor(request), data=payload.model_dump(exclude_unset=True))
    return Status(201, selectors.campaign_get(user=actor(request), campaign_id=campaign.pk))


@router.get("/{campaign_id}", response={200: CampaignOut, **errors(*BASE, 403, 404)})
def get_campaign(request: HttpRequest, campaign_id: Id) -> Any:
    return selectors.campaign_get(user=actor(request), campaign_id=campaign_id)


@router.patch("/{campaign_id}", response={200: CampaignOut, **errors(*WITH_BODY, 403, 404, 409)})
def update_campaign(request: HttpRequest, campaign_id: Id, payload: CampaignIn) -> Any:
    """Change the fields sent (null clears dates, budget and channel)."""
    with located("body"):
        services.campaign_update(
            actor=actor(request), campaign_id=campaign_id, data=payload.model_dump(exclude_unset=True)
        )
    return selectors.campaign_get(user=actor(request), campaign_id=campaign_id)
