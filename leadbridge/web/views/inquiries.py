"""Marketing's live feed of inquiries: filter by channel, campaign, class, kind and period, page
through with a cursor, the first page refreshing itself; beside it the period's junk share per
channel and per campaign. Adapters over `capture.selectors`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from leadbridge.capture import selectors
from leadbridge.capture.models import InquiryKind
from leadbridge.core import clock
from leadbridge.core.errors import ValidationFailed
from leadbridge.core.pagination import Page
from leadbridge.core.roles import Perm, has_perm
from leadbridge.marketing import selectors as marketing_selectors
from leadbridge.web.adapters import int_param, is_partial, require_perm, service_errors, vary_on_htmx

FILTERS = ("channel", "campaign", "class", "kind", "from", "to")
JUNK_DEFAULT_DAYS = 30
JUNK_ROWS = 15


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


def _junk_rows(rows: list[dict[str, Any]], labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    out = []
    for r in rows[:JUNK_ROWS]:
        key = r["key"]
        out.append({**r, "label": (labels or {}).get(key, key) if key else None, "percent": r["share"] * 100})
    return out


@login_required
@require_GET
@service_errors
def inquiry_feed(request: HttpRequest) -> HttpResponse:
    require_perm(request, Perm.INQUIRY_VIEW)
    filters = {k: request.GET.get(k, "").strip()[:200] for k in FILTERS}
    date_from, date_to = _date(filters["from"]), _date(filters["to"])
    if date_from and date_to and date_to < date_from:
        date_from, date_to = date_to, date_from
    cursor = request.GET.get("cursor") or None
    limit = int_param(request.GET.get("limit"), default=50, low=1, high=200)
    error: ValidationFailed | None = None
    try:
        page = selectors.inquiry_list(
            user=request.user,
            channel=filters["channel"],
            campaign=filters["campaign"] or None,
            class_key=filters["class"],
            kind=filters["kind"],
            date_from=date_from,
            date_to=date_to,
            cursor=cursor,
            limit=limit,
        )
    except ValidationFailed as exc:
        page, error = Page(items=[], next=None), exc
    context: dict[str, Any] = {
        "page": page,
        "filters": filters,
        "filtered": any(filters.values()),
        "cursor": cursor,
        "error": error,
    }
    status = 400 if error else 200
    if is_partial(request) and request.GET.get("part") == "feed":
        return vary_on_htmx(render(request, "web/inquiries/_feed.html", context, status=status))

    # Junk share over the chosen period, else over the last 30 days (the page says which).
    junk_from, junk_to = date_from, date_to
    if date_from is None and date_to is None:
        junk_to = clock.today()
        junk_from = junk_to - dt.timedelta(days=JUNK_DEFAULT_DAYS - 1)
    channels = list(marketing_selectors.channel_list())
    labels = {c.key: str(c.label) for c in channels}
    context.update(
        junk_from=junk_from,
        junk_to=junk_to,
        junk_by_channel=_junk_rows(
            selectors.junk_share(user=request.user, by="channel", date_from=junk_from, date_to=junk_to),
            labels,
        ),
        junk_by_campaign=_junk_rows(
            selectors.junk_share(user=request.user, by="campaign", date_from=junk_from, date_to=junk_to)
        ),
    )
    if is_partial(request):
        return vary_on_htmx(render(request, "web/inquiries/_area.html", context, status=status))
    context.update(
        channels=channels,
        campaigns=(
            list(marketing_selectors.campaign_choices(user=request.user))
            if has_perm(request.user, Perm.CAMPAIGN_VIEW)  # type: ignore[arg-type]
            else []
        ),
        classes=list(selectors.inquiry_class_list()),
        kinds=InquiryKind.choices,
    )
    return vary_on_htmx(render(request, "web/inquiries/list.html", context, status=status))
