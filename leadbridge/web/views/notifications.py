"""The user's own notifications (junk alerts, disputes, ...): the list, the header bell's count,
marking read and following one. Everyone has notifications, so no role is needed beyond being
signed in; nobody reaches another user's (the selectors filter by the user)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import Resolver404, resolve, reverse
from django.views.decorators.http import require_GET, require_POST

from leadbridge.accounts import selectors as account_selectors
from leadbridge.accounts import services as account_services
from leadbridge.capture import ui_selectors
from leadbridge.core.errors import ValidationFailed
from leadbridge.core.pagination import keyset_page
from leadbridge.web.adapters import safe_next, service_errors, vary_on_htmx

PAGE = 30


@login_required
@require_GET
@service_errors
def notification_list(request: HttpRequest) -> HttpResponse:
    cursor = request.GET.get("cursor") or None
    qs = account_selectors.notification_list(user=request.user)
    try:
        page = keyset_page(qs, cursor=cursor, limit=PAGE)
    except ValidationFailed:
        page, cursor = keyset_page(qs, cursor=None, limit=PAGE), None
    context = {"page": page, "cursor": cursor, "unread": ui_selectors.unread_notifications(user=request.user)}
    return render(request, "web/notifications/list.html", context)


@require_GET
def notification_count(request: HttpRequest) -> HttpResponse:
    """The bell's number as a bare fragment: empty when nothing is unread (or the session ended,
    so an expired login never swaps a login page into the header)."""
    if not request.user.is_authenticated:
        return HttpResponse("")
    n = ui_selectors.unread_notifications(user=request.user)
    text = "" if n == 0 else ("99+" if n >= ui_selectors.UNREAD_CAP else str(n))
    response = HttpResponse(text, content_type="text/html; charset=utf-8")
    response["Cache-Control"] = "no-store"
    return vary_on_htmx(response)


@login_required
@require_POST
@service_errors
def notification_read(request: HttpRequest) -> HttpResponse:
    """Mark the posted `id`s read, or every unread one when none is posted."""
    ids = [int(v) for v in request.POST.getlist("id") if v.isdigit()]
    account_services.notification_mark_read(user=request.user, ids=ids or None)  # type: ignore[arg-type]
    return redirect(safe_next(request, reverse("web:notifications")))


def _local(url: str) -> bool:
    """Only paths of this app are followed (a notification never sends anyone elsewhere)."""
    if not url.startswith("/") or url.startswith("//") or "\\" in url:
        return False
    try:
        resolve(url.split("?", 1)[0])
    except Resolver404:
        return False
    return True


@login_required
@require_GET
@service_errors
def notification_open(request: HttpRequest, notification_id: int) -> HttpResponse:
    """Follow a notification's link, marking it read on the way."""
    item = ui_selectors.notification_get(user=request.user, notification_id=notification_id)
    if item.read_at is None:
        account_services.notification_mark_read(user=request.user, ids=[item.pk])  # type: ignore[arg-type]
    return redirect(item.url if _local(item.url) else reverse("web:notifications"))
