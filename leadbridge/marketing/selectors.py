"""Reads of the marketing app: querysets joined for their pages, totals aggregated in SQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Literal

from django.db.models import Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from leadbridge.core.errors import NotFound, field_error
from leadbridge.core.pagination import Page, keyset_page
from leadbridge.core.permissions import require
from leadbridge.core.roles import Perm
from leadbridge.marketing.models import Campaign, Channel, ChannelRule, Spend


def channel_list(*, active_only: bool = False) -> QuerySet[Channel]:
    """Channels in display order. Not permission-scoped: channel names are not confidential and
    every inquiry/report filter offers them."""
    qs = Channel.objects.order_by("position", "id")
    return qs.filter(is_active=True) if active_only else qs


def channel_get(*, user: Any, channel_id: int) -> Channel:
    require(user, Perm.CAMPAIGN_VIEW)
    channel = Channel.objects.filter(pk=channel_id).first()
    if channel is None:
        raise NotFound(_("Channel not found"))
    return channel


def rule_list(*, user: Any) -> QuerySet[ChannelRule]:
    """The channel rules in evaluation order (first match wins)."""
    require(user, Perm.CAMPAIGN_VIEW)
    return ChannelRule.objects.select_related("channel").order_by("position", "id")


def rule_get(*, user: Any, rule_id: int) -> ChannelRule:
    rule = rule_list(user=user).filter(pk=rule_id).first()
    if rule is None:
        raise NotFound(_("Channel rule not found"))
    return rule


def campaign_list(
    *,
    user: Any,
    q: str = "",
    channel: str = "",
    type: str = "",
    active: bool | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Campaign]:
    """Campaigns, newest first; `q` matches part of the name or the utm_campaign."""
    require(user, Perm.CAMPAIGN_VIEW)
    qs = Campaign.objects.select_related("channel")
    q = q.strip()
    if q:
        qs = qs.filter(Q(name__icontains=q) | Q(utm_campaign__icontains=q.lower()))
    if channel:
        qs = qs.filter(channel__key=channel.strip().lower())
    if type:
        qs = qs.filter(type=type)
    if active is not None:
        qs = qs.filter(is_active=active)
    return keyset_page(qs, cursor=cursor, limit=limit)


def campaign_get(*, user: Any, campaign_id: int) -> Campaign:
    require(user, Perm.CAMPAIGN_VIEW)
    campaign = Campaign.objects.select_related("channel").filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound(_("Campaign not found"))
    return campaign


def campaign_choices(*, user: Any) -> QuerySet[Campaign]:
    """Campaigns for a picker (spend form): active first, then by name."""
    require(user, Perm.CAMPAIGN_VIEW)
    return Campaign.objects.only("id", "name", "utm_campaign", "is_active").order_by("-is_active", "name")


def _period(qs: QuerySet[Spend], date_from: dt.date | None, date_to: dt.date | None) -> QuerySet[Spend]:
    if date_from and date_to and date_to < date_from:
        raise field_error("to", _("The period ends before it starts"))
    if date_from:
        qs = qs.filter(date__gte=date_from)
    if date_to:
        qs = qs.filter(date__lte=date_to)
    return qs


def _spend_filtered(
    *,
    date_from: dt.date | None,
    date_to: dt.date | None,
    channel: str | int | None,
    campaign: int | None,
) -> QuerySet[Spend]:
    qs = _period(Spend.objects.all(), date_from, date_to)
    if isinstance(channel, int):
        qs = qs.filter(channel_id=channel)
    elif channel:
        qs = qs.filter(channel__key=channel.strip().lower())
    if campaign is not None:
        qs = qs.filter(campaign_id=campaign)
    return qs


def spend_list(
    *,
    user: Any,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    channel: str | int | None = None,
    campaign: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> Page[Spend]:
    """Spend rows, most recently recorded first."""
    require(user, Perm.SPEND_VIEW)
    qs = _spend_filtered(date_from=date_from, date_to=date_to, channel=channel, campaign=campaign)
    return keyset_page(qs.select_related("channel", "campaign"), cursor=cursor, limit=limit)


Dimension = Literal["channel", "campaign", "day"]
_GROUP = {
    "channel": ("channel__key", "channel__name"),
    "campaign": ("campaign_id", "campaign__name"),
    "day": ("date", "date"),
}


def spend_totals(
    *,
    user: Any,
    by: Dimension,
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    channel: str | int | None = None,
    campaign: int | None = None,
    campaign_ids: Iterable[int] | None = None,
) -> list[dict[str, Any]]:
    """Spend summed per channel, campaign or day (and currency: amounts in different currencies
    are never added up), largest first (by day: in date order). One GROUP BY query.

    Rows: {"key", "name", "currency", "amount"}; `key` is the channel key, the campaign id
    (None for spend on no campaign) or the date.
    """
    require(user, Perm.SPEND_VIEW)
    if by not in _GROUP:
        raise field_error("by", _("One of: %(choices)s") % {"choices": ", ".join(_GROUP)})
    key, name = _GROUP[by]
    qs = _spend_filtered(date_from=date_from, date_to=date_to, channel=channel, campaign=campaign)
    if campaign_ids is not None:
        qs = qs.filter(campaign_id__in=list(campaign_ids))
    fields = [key, "currency"] if key == name else [key, name, "currency"]
    order = [key, "currency"] if by == "day" else ["-total", name, "currency"]
    rows = qs.values(*fields).annotate(total=Coalesce(Sum("amount"), Decimal("0"))).order_by(*order)
    cent = Decimal("0.01")
    return [
        {
            "key": r[key],
            "name": r[name],
            "currency": r["currency"],
            "amount": Decimal(r["total"]).quantize(cent),
        }
        for r in rows
    ]


def spend_by_campaign(
    *,
    user: Any,
    campaign_ids: Iterable[int],
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
) -> dict[int, list[tuple[Decimal, str]]]:
    """{campaign id: [(amount, currency), ...]} for a page of campaigns, in one query."""
    totals = spend_totals(
        user=user, by="campaign", date_from=date_from, date_to=date_to, campaign_ids=campaign_ids
    )
    out: dict[int, list[tuple[Decimal, str]]] = {}
    for row in totals:
        out.setdefault(row["key"], []).append((row["amount"], row["currency"]))
    return out
