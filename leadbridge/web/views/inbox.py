"""The sales inbox and the inquiry page: unclassified inquiries first (with their age), the
dialog beside the campaign's sales script, one-click classification, marketing's review and the
head of sales' decision on disputes.

Adapters only: reads come from `capture.selectors`/`capture.ui_selectors`, every change from
one `capture.services` function (which also checks who may do it and on which inquiry).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from leadbridge.capture import selectors, services, ui_selectors
from leadbridge.capture.models import Inquiry, ReviewStatus
from leadbridge.core.errors import Conflict, ValidationFailed
from leadbridge.core.pagination import Page
from leadbridge.core.roles import Perm, has_perm
from leadbridge.web.adapters import field_errors, is_partial, require_perm, service_errors, vary_on_htmx

QUEUE_PAGE = 50
RECENT = 20


def age_label(age: dt.timedelta) -> str:
    """How long an inquiry has waited, the way people say it: "12 min", "3 h", "2 d"."""
    minutes = max(0, int(age.total_seconds() // 60))
    if minutes < 60:
        return _("%(n)s min") % {"n": minutes}
    if minutes < 48 * 60:
        return _("%(n)s h") % {"n": minutes // 60}
    return _("%(n)s d") % {"n": minutes // (24 * 60)}


def _queue_rows(page: Page[Inquiry]) -> list[dict[str, Any]]:
    return [{"inquiry": i, "age": age_label(i.age)} for i in page.items]


# --- inbox ---------------------------------------------------------------------------------------


@login_required
@require_GET
@service_errors
def inbox(request: HttpRequest) -> HttpResponse:
    require_perm(request, Perm.INQUIRY_CLASSIFY)
    show = "disputes" if request.GET.get("show") == "disputes" else "queue"
    cursor = request.GET.get("cursor") or None
    context: dict[str, Any] = {
        "show": show,
        "classes": list(selectors.inquiry_class_list(active_only=True)),
        "can_resolve": has_perm(request.user, Perm.INQUIRY_RESOLVE),  # type: ignore[arg-type]
    }
    if show == "disputes":
        context["disputes"] = ui_selectors.disputed_inquiries(user=request.user)
        return vary_on_htmx(render(request, "web/inbox/inbox.html", context))
    try:
        page = selectors.unclassified_queue(user=request.user, cursor=cursor, limit=QUEUE_PAGE)
    except ValidationFailed:
        page, cursor = selectors.unclassified_queue(user=request.user, limit=QUEUE_PAGE), None
    context.update(queue=_queue_rows(page), queue_next=page.next, cursor=cursor)
    if is_partial(request) and cursor:
        return vary_on_htmx(render(request, "web/inbox/_queue_rows.html", context))
    context["recent"] = ui_selectors.recent_classified(user=request.user, limit=RECENT)
    return vary_on_htmx(render(request, "web/inbox/inbox.html", context))


# --- the inquiry page ----------------------------------------------------------------------------


def _detail_context(request: HttpRequest, inquiry: Inquiry) -> dict[str, Any]:
    touch = inquiry.touch
    campaign = touch.campaign if touch is not None else None
    return {
        "inquiry": inquiry,
        "touch": touch,
        "campaign": campaign,
        "reviews": list(inquiry.reviews.all()),
        "classes": list(selectors.inquiry_class_list(active_only=True)),
        "extra_fields": sorted((inquiry.fields or {}).items()) if isinstance(inquiry.fields, dict) else [],
        "duration": _duration(inquiry.duration_seconds),
        # Links from providers are shown only when they are web links (never javascript: or data:).
        "recording": inquiry.recording_url
        if inquiry.recording_url.lower().startswith(("http://", "https://"))
        else "",
        "age": age_label(inquiry.age),
        "disputed": inquiry.review_status == ReviewStatus.DISPUTED,
        "errors": {},
        "values": {},
        "form": "",
    }


def _duration(seconds: int | None) -> str:
    if seconds is None:
        return ""
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@login_required
@require_GET
@service_errors
def inquiry_detail(request: HttpRequest, inquiry_id: int) -> HttpResponse:
    require_perm(request, Perm.INQUIRY_VIEW)
    inquiry = selectors.inquiry_get(user=request.user, inquiry_id=inquiry_id)
    return render(request, "web/inbox/detail.html", _detail_context(request, inquiry))


def _answer(
    request: HttpRequest,
    inquiry_id: int,
    *,
    done: str = "",
    form: str = "",
    exc: ValidationFailed | Conflict | None = None,
    values: dict[str, str] | None = None,
) -> HttpResponse:
    """After an action: htmx gets the verdict block (or the inbox row) again, a plain form post
    a redirect to the page; a refused action shows its errors beside the form it came from."""
    if exc is None and not is_partial(request):
        if done:
            messages.success(request, done)
        return redirect(reverse("web:inquiry_detail", args=[inquiry_id]))
    inquiry = selectors.inquiry_get(user=request.user, inquiry_id=inquiry_id)
    context = _detail_context(request, inquiry)
    status = 200
    if exc is not None:
        context["errors"] = field_errors(exc.errors) if exc.errors else {"form": [exc.detail]}
        context["values"] = values or {}
        context["form"] = form
        status = exc.status
    if is_partial(request) and request.POST.get("from") == "inbox":
        context["row"] = {"inquiry": inquiry, "age": age_label(inquiry.age)}
        return vary_on_htmx(render(request, "web/inbox/_queue_row.html", context, status=status))
    template = "web/inbox/_verdict.html" if is_partial(request) else "web/inbox/detail.html"
    return vary_on_htmx(render(request, template, context, status=status))


@login_required
@require_POST
@service_errors
def inquiry_classify(request: HttpRequest, inquiry_id: int) -> HttpResponse:
    require_perm(request, Perm.INQUIRY_CLASSIFY)
    values = {"class": request.POST.get("class", ""), "comment": request.POST.get("comment", "")}
    try:
        inquiry = services.inquiry_classify(
            actor=request.user, inquiry_id=inquiry_id, class_key=values["class"], comment=values["comment"]
        )
    except (ValidationFailed, Conflict) as exc:
        return _answer(request, inquiry_id, form="classify", exc=exc, values=values)
    label = inquiry.cls.label if inquiry.cls else values["class"]
    return _answer(request, inquiry_id, done=_("Classified as “%(cls)s”.") % {"cls": label})


@login_required
@require_POST
@service_errors
def inquiry_responded(request: HttpRequest, inquiry_id: int) -> HttpResponse:
    """The manager answered (called back, replied): starts nothing, records speed to lead."""
    require_perm(request, Perm.INQUIRY_CLASSIFY)
    try:
        services.inquiry_first_response(actor=request.user, inquiry_id=inquiry_id)
    except (ValidationFailed, Conflict) as exc:
        return _answer(request, inquiry_id, form="responded", exc=exc, values={})
    return _answer(request, inquiry_id, done=_("First response recorded."))


@login_required
@require_POST
@service_errors
def inquiry_review(request: HttpRequest, inquiry_id: int) -> HttpResponse:
    require_perm(request, Perm.INQUIRY_REVIEW)
    values = {"action": request.POST.get("action", ""), "comment": request.POST.get("comment", "")}
    try:
        services.inquiry_review(
            actor=request.user, inquiry_id=inquiry_id, action=values["action"], comment=values["comment"]
        )
    except (ValidationFailed, Conflict) as exc:
        return _answer(request, inquiry_id, form="review", exc=exc, values=values)
    done = _("Class confirmed.") if values["action"] == "confirm" else _("Class disputed.")
    return _answer(request, inquiry_id, done=done)


@login_required
@require_POST
@service_errors
def inquiry_resolve(request: HttpRequest, inquiry_id: int) -> HttpResponse:
    require_perm(request, Perm.INQUIRY_RESOLVE)
    values = {"class": request.POST.get("class", ""), "comment": request.POST.get("comment", "")}
    try:
        services.inquiry_resolve(
            actor=request.user, inquiry_id=inquiry_id, class_key=values["class"], comment=values["comment"]
        )
    except (ValidationFailed, Conflict) as exc:
        return _answer(request, inquiry_id, form="resolve", exc=exc, values=values)
    return _answer(request, inquiry_id, done=_("Dispute resolved."))
