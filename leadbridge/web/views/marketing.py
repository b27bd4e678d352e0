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
    field_errors,
    form_post,
    htmx_page,
    int_param,
    is_partial,
    require_perm,
    safe_next,
    service_errors,
    values_form,
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


def _campaign_form(
    request: HttpRequest, form: CampaignForm, refusal: ServiceError | None = None, **context: Any
) -> HttpResponse:
    """The create/edit page; a refusal's errors show next to the fields they name."""
    if refusal is not None:
        form.add_service_errors(refusal.errors)
    context = {"form": form, "section": "campaigns", **context}
    status = refusal.status if refusal is not None else 200
    return render(request, "web/marketing/campaign_form.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def campaign_create(request: HttpRequest) -> HttpResponse:
    require_perm(request, Perm.CAMPAIGN_MANAGE)
    initial = {"is_active": True, "type": CampaignType.NOTIFICATION, "currency": default_currency()}
    form = CampaignForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method != "POST":
        return _campaign_form(request, form, creating=True)
    return form_post(
        request,
        lambda: services.campaign_create(actor=request.user, data=form.service_data()),
        ok_message=_("Campaign created."),
        redirect_to=lambda campaign: reverse("web:campaign_detail", args=[campaign.pk]),
        refused=lambda exc: _campaign_form(request, form, exc, creating=True),
    )


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def campaign_edit(request: HttpRequest, campaign_id: int) -> HttpResponse:
    require_perm(request, Perm.CAMPAIGN_MANAGE)
    campaign = selectors.campaign_get(user=request.user, campaign_id=campaign_id)
    initial = _campaign_initial(campaign)
    form = CampaignForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method != "POST":
        return _campaign_form(request, form, creating=False, campaign=campaign)
    return form_post(
        request,
        lambda: services.campaign_update(
            actor=request.user, campaign_id=campaign.pk, data=form.service_data()
        ),
        ok_message=_("Changes saved."),
        redirect_to=reverse("web:campaign_detail", args=[campaign.pk]),
        refused=lambda exc: _campaign_form(request, form, exc, creating=False, campaign=campaign),
    )


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
        # An id from the list; anything else goes to the service as typed (it names what it cannot find).
        ref = values["campaign"]
        campaign_ref: int | str | None = int(ref) if ref.isascii() and ref.isdigit() else ref or None
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
            errors, error_detail, status = field_errors(exc.errors), exc.detail, exc.status
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


def _channels_page(request: HttpRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    context = {"channels": list(selectors.channel_list()), "section": "channels", "values": {}, "errors": {}}
    page, rows = "web/marketing/channels.html", "web/marketing/_channel_rows.html"
    return htmx_page(request, page, rows, {**context, **extra}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def channel_settings(request: HttpRequest) -> HttpResponse:
    """The channel list; POST adds one."""
    require_perm(request, Perm.CHANNEL_MANAGE)
    return values_form(
        request,
        _channels_page,
        initial={},
        fields=("key", "name"),
        save=lambda data: services.channel_create(actor=request.user, data=data),
        ok_message=_("Channel added."),
        redirect_to=reverse("web:channel_settings"),
    )


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def channel_edit(request: HttpRequest, channel_id: int) -> HttpResponse:
    require_perm(request, Perm.CHANNEL_MANAGE)
    channel = selectors.channel_get(user=request.user, channel_id=channel_id)
    return values_form(
        request,
        "web/marketing/channel_form.html",
        context={"channel": channel, "section": "channels"},
        initial={"key": channel.key, "name": channel.name, "is_active": channel.is_active},
        fields=("key", "name"),
        checkboxes=("is_active",),
        save=lambda data: services.channel_update(actor=request.user, channel_id=channel.pk, data=data),
        ok_message=_("Changes saved."),
        redirect_to=reverse("web:channel_settings"),
    )


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
            return _channels_page(request, status=409, error_detail=exc.detail)
    return _channels_page(request) if is_partial(request) else redirect(reverse("web:channel_settings"))


@login_required
@require_POST
@service_errors
def channel_move(request: HttpRequest, channel_id: int) -> HttpResponse:
    require_perm(request, Perm.CHANNEL_MANAGE)
    direction: Literal["up", "down"] = "up" if request.POST.get("direction") == "up" else "down"
    services.channel_move(actor=request.user, channel_id=channel_id, direction=direction)
    return _channels_page(request) if is_partial(request) else redirect(reverse("web:channel_settings"))


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


def _rules_page(request: HttpRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    context: dict[str, Any] = {
        "rules": list(selectors.rule_list(user=request.user)),
        "section": "rules",
        "values": {},
        "errors": {},
        "probe": _probe(request),
        **_rule_choices(),
    }
    page, rows = "web/marketing/rules.html", "web/marketing/_rule_rows.html"
    return htmx_page(request, page, rows, {**context, **extra}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def rule_settings(request: HttpRequest) -> HttpResponse:
    """The rules in evaluation order; POST adds one (last)."""
    require_perm(request, Perm.CHANNEL_MANAGE)
    return values_form(
        request,
        _rules_page,
        initial={},
        fields=RULE_KEYS,
        save=lambda data: services.channel_rule_create(actor=request.user, data=data),
        ok_message=_("Rule added."),
        redirect_to=reverse("web:rule_settings"),
    )


def _rule_form(request: HttpRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    context = {"section": "rules", **_rule_choices(), **extra}
    return render(request, "web/marketing/rule_form.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def rule_edit(request: HttpRequest, rule_id: int) -> HttpResponse:
    require_perm(request, Perm.CHANNEL_MANAGE)
    rule: ChannelRule = selectors.rule_get(user=request.user, rule_id=rule_id)
    initial = {k: getattr(rule, k) for k in RULE_KEYS if k != "channel"}
    return values_form(
        request,
        _rule_form,
        context={"rule": rule},
        initial={**initial, "channel": rule.channel.key, "is_active": rule.is_active},
        fields=RULE_KEYS,
        checkboxes=("is_active",),
        save=lambda data: services.channel_rule_update(actor=request.user, rule_id=rule.pk, data=data),
        ok_message=_("Changes saved."),
        redirect_to=reverse("web:rule_settings"),
    )


@login_required
@require_POST
@service_errors
def rule_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    require_perm(request, Perm.CHANNEL_MANAGE)
    services.channel_rule_delete(actor=request.user, rule_id=rule_id)
    return _rules_page(request) if is_partial(request) else redirect(reverse("web:rule_settings"))


@login_required
@require_POST
@service_errors
def rule_move(request: HttpRequest, rule_id: int) -> HttpResponse:
    require_perm(request, Perm.CHANNEL_MANAGE)
    direction: Literal["up", "down"] = "up" if request.POST.get("direction") == "up" else "down"
    services.channel_rule_move(actor=request.user, rule_id=rule_id, direction=direction)
    return _rules_page(request) if is_partial(request) else redirect(reverse("web:rule_settings"))
