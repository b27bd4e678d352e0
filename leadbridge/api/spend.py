"""/spend: money spent per day per channel (and campaign); POST is an upsert, so sending the same
day again replaces it and re-sending changes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import ConfigDict, Field

from leadbridge.api.auth import actor
from leadbridge.api.common import MAX_ID, PageParams
from leadbridge.api.errors import BASE, WITH_BODY, errors, located
from leadbridge.marketing import selectors, services
from leadbridge.marketing.models import Spend, SpendSource

router = Router(tags=["spend"])


class CampaignRef(Schema):
    id: int
    name: str


class SpendOut(Schema):
    id: int
    date: dt.date
    channel: str = Field(description="Channel key")
    campaign: CampaignRef | None
    amount: str = Field(description='Decimal as a string, e.g. "1250.00"')
    currency: str
    source: str = Field(description="manual, import or api")
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_channel(obj: Spend) -> str:
        return obj.channel.key

    @staticmethod
    def resolve_amount(obj: Spend) -> str:
        return f"{obj.amount:.2f}"


class SpendPage(Schema):
    items: list[SpendOut]
    next: str | None


class SpendIn(Schema):
    model_config = ConfigDict(extra="forbid")

    date: str = Field(description="YYYY-MM-DD")
    channel: str | None = Field(
        None, description="Channel key; may be omitted when the campaign has a channel"
    )
    campaign: int | str | None = Field(None, description="Campaign id, utm_campaign or name")
    amount: str | int | float = Field(description="At most 2 decimals; a string keeps it exact")
    currency: str | None = Field(
        None, description="Three letters; default: the campaign's, else DEFAULT_CURRENCY"
    )


class SpendFilter(Schema):
    model_config = ConfigDict(populate_by_name=True)

    date_from: dt.date | None = Field(None, alias="from", description="First day (YYYY-MM-DD)")
    date_to: dt.date | None = Field(None, alias="to", description="Last day, inclusive")
    channel: str = Field("", max_length=32, description="Channel key")
    campaign: int | None = Field(None, ge=1, le=MAX_ID, description="Campaign id")


class TotalOut(Schema):
    key: str | int | None = Field(description="Channel key, campaign id (null: no campaign) or date")
    name: str | None
    currency: str
    amount: str


class TotalsOut(Schema):
    by: str
    date_from: dt.date | None = Field(serialization_alias="from")
    date_to: dt.date | None = Field(serialization_alias="to")
    rows: list[TotalOut]


@router.get("", response={200: SpendPage, **errors(*BASE, 403)})
def list_spend(request: HttpRequest, page: Query[PageParams], filters: Query[SpendFilter]) -> Any:
    """Spend rows, most recently recorded first, filtered by period, channel and campaign."""
    with located("query"):
        return selectors.spend_list(
            user=actor(request),
            date_from=filters.date_from,
            date_to=filters.date_to,
            channel=filters.channel,
            campaign=filters.campaign,
            cursor=page.cursor,
            limit=page.limit,
        )


@router.get("/totals", response={200: TotalsOut, **errors(*BASE, 403)}, by_alias=True)
def spend_totals(
    request: HttpRequest, filters: Query[SpendFilter], by: Literal["channel", "campaign", "day"] = "channel"
) -> Any:
    """Spend summed per channel, campaign or day and currency over the period."""
    with located("query"):
        rows = selectors.spend_totals(
            user=actor(request),
            by=by,
            date_from=filters.date_from,
            date_to=filters.date_to,
            channel=filters.channel,
            campaign=filters.campaign,
        )
    out = [
        {
            "key": r["key"].isoformat() if isinstance(r["key"], dt.date) else r["key"],
            "name": r["name"].isoformat() if isinstance(r["name"], dt.date) else r["name"],
            "currency": r["currency"],
            "amount": f"{r['amount']:.2f}",
        }
        for r in rows
    ]
    return {"by": by, "date_from": filters.date_from, "date_to": filters.date_to, "rows": out}


@router.post("", response={200: SpendOut, 201: SpendOut, **errors(*WITH_BODY, 403)})
def record_spend(request: HttpRequest, payload: SpendIn) -> Any:
    """Set the spend of a day (201 when new, 200 when it replaced or matched an existing row)."""
    with located("body"):
        spend, outcome = services.spend_record(
            actor=actor(request),
            date=payload.date,
            channel=payload.channel,
            campaign=payload.campaign,
            amount=payload.amount,
            currency=payload.currency or "",
            source=SpendSource.API,
        )
    spend = Spend.objects.select_related("channel", "campaign").get(pk=spend.pk)
    return Status(201 if outcome == "created" else 200, spend)
