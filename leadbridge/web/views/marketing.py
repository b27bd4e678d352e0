"""Marketing pages: campaigns (list, detail with spend, create/edit with the sales script), spend
entry, and the channel and channel-rule settings. Adapters over marketing.selectors/services."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Literal

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from leadbridge.capture.attribution import click_ids_from_url, utm_from_url
from leadbridge.capture.ui_selectors import campaign_junk_share
from leadbridge.core import clock
from leadbridge.core.errors import Conflict, ServiceError, ValidationFailed
from leadbridge.core.pagination import Page
from leadbridge.core.roles import Perm, has_perm
from leadbridge.marketing import selectors, services
from leadbridge.marketing.models import Campaign, CampaignType, ChannelRule, RuleField, RuleOp
from leadbridge.marketing.services import resolve_channel
from leadbridge.marketing.values import default_currency
from leadbridge.web.adapters import (
    int_param,
    is_partial,
    require_perm,
    safe_next,
    service_errors,
    vary_on_htmx,
)
from leadbridge.web.forms import RawField, ServiceForm

# --- small helpers ------------------------------------------------------------------------------


def _text_field(label: Any, *, input_type: str = "text", help_text: Any = "", **attrs: Any) -> RawField:
    widget = forms.TextInput(attrs={"autocomplete": "off", **attrs})
    widget.input_type = input_type
    return RawField(label=label, required=False, help_text=help_text, widget=widget)


def _select(label: Any, choices: Iterable[tuple[Any, Any]], *, help_text: Any = "") -> RawField:
    return RawField(
        label=label, required=False, help_text=help_text, widget=forms.Select(choices=list(choices))
    )


def _channel_choices(blank: Any = "—") -> list[tuple[str, Any]]:
    options: list[tuple[str, Any]] = [] if blank is None else [("", blank)]
    return options + [(c.key, c.label) for c in selectors.channel_list()]


def _date_param(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat((value or "").strip()) if value and value.strip() else None
    except ValueError:
        return None


def _period(
    request: HttpRequest, *, start: dt.date | None = None, end: dt.date | None = None
) -> tuple[dt.date, dt.date]:
    """The period from ?from=&to= (ISO dates); by default the given one, else this month so far."""
    today = clock.today()
    date_from = _date_param(request.GET.get("from")) or start or today.replace(day=1)
    date_to = _date_param(request.GET.get("to")) or end or today
    if date_to < date_from:
        date_from, date_to = date_to, date_from
    return date_from, date_to


def _can(request: HttpRequest, perm: Perm) -> bool:
    return has_perm(request.user, perm)  # type: ignore[arg-type]


def _money(totals: Iterable[tuple[Decimal, str]]) -> list[dict[str, Any]]:
    return [{"amount": amount, "currency": currency} for amount, currency in totals]


# --- campaigns ----------------------------------------------------------------------------------


@login_required
@require_GET
@service_errors
def campaign_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:200]
    channel = request.GET.get("channel", "").strip()[:32]
    cursor = request.GET.get("cursor") or None
    limit = int_param(request.GET.get("limit"), default=50, low=1, high=200)
    date_from, date_to = _period(request)
    error: ValidationFailed | None = None
    try:
        page = selectors.campaign_list(user=request.user, q=q, channel=channel, cursor=cursor, limit=limit)
    except ValidationFailed as exc:
        page, error = Page(items=[], next=None), exc
    spend: dict[int, list[tuple[Decimal, str]]] = {}
    show_spend = _can(request, Perm.SPEND_VIEW)
    if show_spend and page.items:
        spend = selectors.spend_by_campaign(
            user=request.user, campaign_ids=[c.pk for c in page.items], date_from=date_from, date_to=date_to
        )
    rows = [{"campaign": c, "spend": _money(spend.get(c.pk, []))} for c in page.items]
    context: dict[str, Any] = {
        "page": page,
        "rows": rows,
        "q": q,
        "channel": channel,
        "channels": _channel_choices(blank=_("All channels")),
        "cursor": cursor,
        "error": error,
        "date_from": date_from,
        "date_to": date_to,
        "show_spend": show_spend,
        "section": "campaigns",
    }
    template = (
        "web/marketing/_campaign_rows.html" if is_partial(request) else "web/marketing/campaign_list.html"
    )
    return vary_on_htmx(render(request, template, context, status=400 if error else 200))


def _junk_share(
    request: HttpRequest, campaign: Campaign, date_from: dt.date, date_to: dt.date
) -> dict[str, Any] | None:
    """JUNK SHARE SLOT, filled by capture: {"inquiries": n, "junk": n, "share": percent Decimal}
    over the inquiries this user may see. None shows "not measured yet" on the campaign page
    (template web/marketing/_junk_share.html)."""
    if not _can(request, Perm.INQUIRY_VIEW):
        return None
    return campaign_junk_share(
        user=request.user, campaign_id=campaign.pk, date_from=date_from, date_to=date_to
    )


@login_required
@require_GET
@service_errors
def campaign_detail(request: HttpRequest, campaign_id: int) -> HttpResponse:
    campaign = selectors.campaign_get(user=request.user, campaign_id=campaign_id)
    today = clock.today()
    default_end = min(campaign.ends_on, today) if campaign.ends_on else today
    default_start = campaign.starts_on or default_end - dt.timedelta(days=29)
    date_from, date_to = _period(request, start=default_start, end=max(default_start, default_end))
    show_spend = _can(request, Perm.SPEND_VIEW)
    by_day: list[dict[str, Any]] = []
    totals: dict[str, Decimal] = {}
    if show_spend:
        by_day = selectors.spend_totals(
            user=request.user, by="day", campaign=campaign.pk, date_from=date_from, date_to=date_to
        )
        for row in by_day:
            totals[row["currency"]] = totals.get(row["currency"], Decimal("0")) + row["amount"]
    context = {
        "campaign": campaign,
        "date_from": date_from,
        "date_to": date_to,
        "show_spend": show_spend,
        "by_day": by_day,
        "totals": [{"currency": c, "amount": a} for c, a in sorted(totals.items())],
        "junk_share": _junk_share(request, campaign, date_from, date_to),
        "section": "campaigns",
    }
    return render(request, "web/marketing/campaign_detail.html", context)


class CampaignForm(ServiceForm):
    groups = [
        (gettext_lazy("Campaign"), ["name", "type", "channel", "utm_campaign", "is_active"]),
        (gettext_lazy("Dates and budget"), ["starts_on", "ends_on", "budget", "currency"]),
        (gettext_lazy("Sales script"), ["sales_script"]),
    ]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        f = self.fields
        f["name"] = _text_field(gettext_lazy("Name"), maxlength=200)
        f["type"] = _select(gettext_lazy("Type"), CampaignType.choices)
        f["channel"] = _select(gettext_lazy("Channel"), _channel_choices())
        f["utm_campaign"] = _text_field(
            "utm_campaign",
            maxlength=255,
            help_text=gettext_lazy("Inquiries tagged with this utm_campaign belong to the campaign"),
        )
        f["is_active"] = RawField(label=gettext_lazy("Active"), required=False, widget=forms.CheckboxInput)
        f["starts_on"] = _text_field(gettext_lazy("Starts on"), input_type="date")
        f["ends_on"] = _text_field(gettext_lazy("Ends on"), input_type="date")
        f["budget"] = _text_field(gettext_lazy("Budget"), inputmode="decimal")
        f["currency"] = _text_field(gettext_lazy("Currency"), maxlength=3, size=4)
        f["sales_script"] = RawField(
            label=gettext_lazy("Sales script"),
            required=False,
            help_text=gettext_lazy("Talking points sales see on every inquiry this campaign brought"),
            widget=forms.Textarea(attrs={"rows": 8}),
        )

    def service_data(self) -> dict[str, Any]:
        data = super().service_data()
        data["is_active"] = bool(data.get("is_active"))
        return data


def _campaign_initial(campaign: Campaign) -> dict[str, Any]:
    return {
        "name": campaign.name,
        "type": campaign.type,
        "channel": campaign.channel.key if campaign.channel else "",
        "utm_campaign": campaign.utm_campaign,
        "is_active": campaign.is_active,
        "starts_on": campaign.starts_on.isoformat() if campaign.starts_on else "",
        "ends_on": campaign.ends_on.isoformat() if campaign.ends_on else "",
        "budget": f"{campaign.budget:.2f}" if campaign.budget is not None else "",
        "currency": campaign.currency,
        "sales_script": campaign.sales_script,
    }


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def campaign_create(request: HttpRequest) -> HttpResponse:
    require_perm(request, Perm.CAMPAIGN_MANAGE)
    initial = {"is_active": True, "type": CampaignType.NOTIFICATION, "currency": default_currency()}
    form = CampaignForm(request.POST if request.method == "POST" else None, initial=initial)
    status = 200
    if request.method == "POST":
        try:
            campaign = services.campaign_create(actor=request.user, data=form.service_data())
        except (ValidationFailed, Conflict) as exc:
            form.add_service_errors(exc.errors or [])
            status = exc.status
        else:
            messages.success(request, _("Campaign created."))
            return redirect(reverse("web:campaign_detail", args=[campaign.pk]))
    context = {"form": form, "creating": True, "section": "campaigns"}
    return render(request, "web/marketing/campaign_form.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def campaign_edit(request: HttpRequest, campaign_id: int) -> HttpResponse:
    require_perm(request, Perm.CAMPAIGN_MANAGE)
    campaign = selectors.campaign_get(user=request.user, campaign_id=campaign_id)
    form = CampaignForm(
        request.POST if request.method == "POST" else None, initial=_campaign_initial(campaign)
    )
    status = 200
    if request.method == "POST":
        try:
            services.campaign_update(actor=request.user, campaign_id=campaign.pk, data=form.service_data())
        except (ValidationFailed, Conflict) as exc:
            form.add_service_errors(exc.errors or [])
            status = exc.status
        else:
            messages.success(request, _("Changes saved."))
            return redirect(reverse("web:campaign_detail", args=[campaign.pk]))
    context = {"form": form, "creating": False, "campaign": campaign, "section": "campaigns"}
    return render(request, "web/marketing/campaign_form.html", context, status=status)


# --- spend ----------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def spend_page(request: HttpRequest) -> HttpResponse:
    """The spend entry form, the period's totals per channel and the rows recorded."""
    require_perm(request, Perm.SPEND_VIEW)
    values: dict[str, str] = {"date": clock.today().isoformat(), "campaign": request.GET.get("campaign", "")}
    errors: dict[str, list[str]] = {}
    error_detail = ""
    status = 200
    if request.method == "POST":
        require_perm(request, Perm.SPEND_MANAGE)
        post = request.POST
        values = {k: post.get(k, "").strip() for k in ("date", "channel", "campaign", "amount", "currency")}
        campaign_ref: int | None = int(values["campaign"]) if values["campaign"].isdigit() else None
        try:
            _spend, outcome = services.spend_record(
                actor=request.user,
                date=values["date"],
                channel=values["channel"] or None,
                campaign=campaign_ref,
                amount=values["amount"],
                currency=values["currency"],
            )
        except ValidationFailed as exc:
            for err in exc.errors:
                errors.setdefault(err.field, []).append(err.message)
            error_detail, status = exc.detail, exc.status
        else:
            if outcome == "unchanged":
                messages.info(request, _("That spend was already recorded; nothing changed."))
            elif outcome == "updated":
                messages.success(request, _("Spend updated."))
            else:
                messages.success(request, _("Spend recorded."))
            return redirect(safe_next(request, reverse("web:spend_page")))
    date_from, date_to = _period(request)
    channel = request.GET.get("channel", "").strip()[:32]
    cursor = request.GET.get("cursor") or None
    try:
        page = selectors.spend_list(
            user=request.user, date_from=date_from, date_to=date_to, channel=channel, cursor=cursor, limit=50
        )
    except ValidationFailed:
        page = Page(items=[], next=None)
    context = {
        "values": values,
        "errors": errors,
        "error_detail": error_detail,
        "channels": _channel_choices(),
        "filter_channels": _channel_choices(blank=_("All channels")),
        "campaigns": list(selectors.campaign_choices(user=request.user)),
        "totals": selectors.spend_totals(
            user=request.user, by="channel", date_from=date_from, date_to=date_to
        ),
        "page": page,
        "cursor": cursor,
        "channel": channel,
        "date_from": date_from,
        "date_to": date_to,
        "can_record": _can(request, Perm.SPEND_MANAGE),
        "section": "spend",
    }
    return render(request, "web/marketing/spend.html", context, status=status)


# --- channels -------------------------------------------------------------------------------------


def _field_errors(exc: ServiceError) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    for err in exc.errors:
        out.setdefault(err.field, []).append(err.message)
    return {k: " ".join(v) for k, v in out.items()}


def _channels_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    return {
        "channels": list(selectors.channel_list()),
        "section": "channels",
        "values": {},
        "errors": {},
        **extra,
    }


def _channels_response(request: HttpRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    context = _channels_context(request, **extra)
    if is_partial(request) and status == 200:
        return vary_on_htmx(render(request, "web/marketing/_channel_rows.html", context))
    return vary_on_htmx(render(request, "web/marketing/channels.html", context, status=status))


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def channel_settings(request: HttpRequest) -> HttpResponse:
    """The channel list; POST adds one."""
    require_perm(request, Perm.CHANNEL_MANAGE)
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in ("key", "name")}
        try:
            services.channel_create(actor=request.user, data=values)
        except (ValidationFailed, Conflict) as exc:
            return _channels_response(
                request, status=exc.status, values=values, errors=_field_errors(exc), error_detail=exc.detail
            )
        messages.success(request, _("Channel added."))
        return redirect(reverse("web:channel_settings"))
    return _channels_response(request)


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def channel_edit(request: HttpRequest, channel_id: int) -> HttpResponse:
    require_perm(request, Perm.CHANNEL_MANAGE)
    channel = selectors.channel_get(user=request.user, channel_id=channel_id)
    values: dict[str, Any] = {"key": channel.key, "name": channel.name, "is_active": channel.is_active}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        values = {
            "key": request.POST.get("key", ""),
            "name": request.POST.get("name", ""),
            "is_active": bool(request.POST.get("is_active")),
        }
        try:
            services.channel_update(actor=request.user, channel_id=channel.pk, data=values)
        except (ValidationFailed, Conflict) as exc:
            errors, status = _field_errors(exc), exc.status
        else:
            messages.success(request, _("Changes saved."))
            return redirect(reverse("web:channel_settings"))
    context = {"channel": channel, "values": values, "errors": errors, "section": "channels"}
    return render(request, "web/marketing/channel_form.html", context, status=status)


@login_required
@require_POST
@service_errors
def channel_delete(request: HttpRequest, channel_id: int) -> HttpResponse:
    require_perm(request, Perm.CHANNEL_MANAGE)
    try:
        services.channel_delete(actor=request.user, channel_id=channel_id)
    except Conflict as exc:
        messages.error(request, exc.detail)
        if is_partial(request):
            return _channels_response(request, status=409, error_detail=exc.detail)
    return _channels_response(request) if is_partial(request) else redirect(reverse("web:channel_settings"))


@login_required
@require_POST
@service_errors
def channel_move(request: HttpRequest, channel_id: int) -> HttpResponse:
    require_perm(request, Perm.CHANNEL_MANAGE)
    direction: Literal["up", "down"] = "up" if request.POST.get("direction") == "up" else "down"
    services.channel_move(actor=request.user, channel_id=channel_id, direction=direction)
    return _channels_response(request) if is_partial(request) else redirect(reverse("web:channel_settings"))


# --- channel rules ---------------------------------------------------------------------------------

RULE_KEYS = ("channel", "field", "op", "value", "field2", "op2", "value2")


def _rule_choices() -> dict[str, Any]:
    return {
        "fields": RuleField.choices,
        "ops": RuleOp.choices,
        "rule_channels": _channel_choices(blank=None),
    }


def _probe(request: HttpRequest) -> dict[str, Any] | None:
    """The "which channel would this visit get?" tester on the rules page."""
    if "probe" not in request.GET:
        return None
    get = request.GET
    utm = {k: get.get(f"utm_{k}", "")[:500] for k in ("source", "medium", "campaign")}
    click_ids = {}
    for pair in get.get("click_ids", "")[:500].split(","):
        name, _sep, value = pair.strip().partition("=")
        if name.strip():
            click_ids[name.strip()] = value.strip() or "1"
    referrer = get.get("referrer", "")[:2000]
    landing = get.get("landing_page", "")[:2000]
    # A pasted landing page URL counts as the tracker reads it: its utm_* tags and click ids fill
    # the fields left blank.
    from_url = utm_from_url(landing)
    for name, value in click_ids_from_url(landing).items():
        click_ids.setdefault(name, value)
    channel = resolve_channel(
        utm={k: v or from_url.get(k, "") for k, v in utm.items()},
        referrer=referrer,
        click_ids=click_ids,
        landing_page=landing,
    )
    return {"values": {**{f"utm_{k}": v for k, v in utm.items()}, "referrer": referrer,
                       "landing_page": landing, "click_ids": get.get("click_ids", "")[:500]},
            "channel": channel}  # fmt: skip


def _rules_response(request: HttpRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    context: dict[str, Any] = {
        "rules": list(selectors.rule_list(user=request.user)),
        "section": "rules",
        "values": {},
        "errors": {},
        "probe": _probe(request),
        **_rule_choices(),
        **extra,
    }
    if is_partial(request) and status == 200:
        return vary_on_htmx(render(request, "web/marketing/_rule_rows.html", context))
    return vary_on_htmx(render(request, "web/marketing/rules.html", context, status=status))


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def rule_settings(request: HttpRequest) -> HttpResponse:
    """The rules in evaluation order; POST adds one (last)."""
    require_perm(request, Perm.CHANNEL_MANAGE)
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in RULE_KEYS}
        try:
            services.channel_rule_create(actor=request.user, data=values)
        except ValidationFailed as exc:
            return _rules_response(
                request, status=exc.status, values=values, errors=_field_errors(exc), error_detail=exc.detail
            )
        messages.success(request, _("Rule added."))
        return redirect(reverse("web:rule_settings"))
    return _rules_response(request)


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    require_perm(request, Perm.CHANNEL_MANAGE)
    rule: ChannelRule = selectors.rule_get(user=request.user, rule_id=rule_id)
    values: dict[str, Any] = {k: getattr(rule, k) for k in RULE_KEYS if k != "channel"}
    values["channel"] = rule.channel.key
    values["is_active"] = rule.is_active
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in RULE_KEYS}
        values["is_active"] = bool(request.POST.get("is_active"))
        try:
            services.channel_rule_update(actor=request.user, rule_id=rule.pk, data=values)
        except ValidationFailed as exc:
            errors, status = _field_errors(exc), exc.status
        else:
            messages.success(request, _("Changes saved."))
            return redirect(reverse("web:rule_settings"))
    context = {"rule": rule, "values": values, "errors": errors, "section": "rules", **_rule_choices()}
    return render(request, "web/marketing/rule_form.html", context, status=status)


@login_required
@require_POST
@service_errors
def rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    require_perm(request, Perm.CHANNEL_MANAGE)
    services.channel_rule_delete(actor=request.user, rule_id=rule_id)
    return _rules_response(request) if is_partial(request) else redirect(reverse("web:rule_settings"))


@login_required
@require_POST
@service_errors
def rule_move(request: HttpRequest, rule_id: int) -> HttpResponse:
    require_perm(request, Perm.CHANNEL_MANAGE)
    direction: Literal["up", "down"] = "up" if request.POST.get("direction") == "up" else "down"
    services.channel_rule_move(actor=request.user, rule_id=rule_id, direction=direction)
    return _rules_response(request) if is_partial(request) else redirect(reverse("web:rule_settings"))
