"""Settings: custom fields, tags, the user's own API tokens and (for admins) users."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from leadbridge.accounts import selectors as account_selectors
from leadbridge.accounts import services as account_services
from leadbridge.contacts import selectors, services
from leadbridge.contacts.models import CustomField
from leadbridge.core.errors import ServiceError
from leadbridge.core.permissions import require
from leadbridge.core.roles import ROLE_LABELS, Perm, Role, has_perm
from leadbridge.web.adapters import field_errors, service_errors

# tab → (label, permission needed; None = every signed-in user)
TABS: dict[str, tuple[Any, Perm | None]] = {
    "tokens": (_("API tokens"), None),
    "tags": (_("Tags"), Perm.TAG_MANAGE),
    "fields": (_("Custom fields"), Perm.CUSTOM_FIELD_MANAGE),
    "users": (_("Users"), Perm.USER_MANAGE),
}


def _errors(error: ServiceError) -> dict[str, str]:
    return {name: " ".join(messages) for name, messages in field_errors(error.errors).items()}


def _tab_context(request: HttpRequest, tab: str) -> dict[str, Any]:
    user = request.user
    if tab == "tokens":
        return {"tokens": list(account_selectors.token_list(user=user))}
    if tab == "tags":
        return {"tags": list(selectors.tag_list_with_counts(user=user))}
    if tab == "fields":
        require(user, Perm.CUSTOM_FIELD_MANAGE)
        return {
            "contact_fields": list(selectors.custom_field_list("contact")),
            "company_fields": list(selectors.custom_field_list("company")),
            "kinds": CustomField.Kind.choices,
            "entities": CustomField.Entity.choices,
        }
    if tab == "users":
        return {
            "users": list(account_selectors.user_list(user=user)),
            "teams": list(account_selectors.team_list()),
            "roles": [(r.value, ROLE_LABELS[r]) for r in Role],
        }
    return {}


def _render(
    request: HttpRequest,
    tab: str,
    *,
    error: ServiceError | None = None,
    values: Mapping[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
    status: int | None = None,
) -> HttpResponse:
    context: dict[str, Any] = {
        "tab": tab,
        "tabs": [
            (key, label)
            for key, (label, perm) in TABS.items()
            if perm is None or has_perm(request.user, perm)  # type: ignore[arg-type]
        ],
        "errors": _errors(error) if error else {},
        "error_detail": error.detail if error is not None else "",
        "values": values or {},
        **_tab_context(request, tab),
        **(extra or {}),
    }
    if error is not None and status is None:
        status = error.status if error.status in (400, 409, 422) else 422
    return render(request, "web/settings/page.html", context, status=status or 200)


def _back(tab: str) -> HttpResponse:
    return redirect(reverse("web:settings") + f"?tab={tab}")


@require_GET
@login_required
@service_errors
def settings_page(request: HttpRequest) -> HttpResponse:
    tab = request.GET.get("tab", "tokens")
    if tab not in TABS:
        tab = "tokens"
    perm = TABS[tab][1]
    if perm is not None:
        require(request.user, perm)
    return _render(request, tab)


# --- API tokens (the current user's own) ------------------------------------------------------


@require_POST
@login_required
@service_errors
def token_create(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "")
    try:
        raw = account_services.token_create(user=request.user, name=name, actor=request.user)  # type: ignore[arg-type]
    except ServiceError as exc:
        return _render(request, "tokens", error=exc, values=request.POST)
    # Rendered, not redirected: the clear token exists only in this one response.
    response = _render(request, "tokens", extra={"new_token": raw, "new_token_name": name.strip()})
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@login_required
@service_errors
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    account_services.token_revoke(token_id=token_id, actor=request.user)
    return _back("tokens")


# --- tags ---------------------------------------------------------------------------------------


@require_POST
@login_required
@service_errors
def tag_create(request: HttpRequest) -> HttpResponse:
    try:
        services.tag_create(
            actor=request.user, name=request.POST.get("name", ""), color=request.POST.get("color", "")
        )
    except ServiceError as exc:
        if exc.status == 403:
            raise
        return _render(request, "tags", error=exc, values=request.POST)
    return _back("tags")


@require_POST
@login_required
@service_errors
def tag_delete(request: HttpRequest, tag_id: int) -> HttpResponse:
    services.tag_delete(actor=request.user, tag_id=tag_id)
    return _back("tags")


# --- custom fields --------------------------------------------------------------------------


@require_POST
@login_required
@service_errors
def custom_field_create(request: HttpRequest) -> HttpResponse:
    post = request.POST
    choices = [line.strip() for line in post.get("choices", "").splitlines() if line.strip()]
    try:
        services.custom_field_create(
            actor=request.user,
            key=post.get("key", ""),
            label=post.get("label", ""),
            kind=post.get("kind", ""),
            entity=post.get("entity", "contact"),
            choices=choices,
            required=bool(post.get("required")),
        )
    except ServiceError as exc:
        if exc.status == 403:
            raise
        return _render(request, "fields", error=exc, values=post)
    return _back("fields")


@require_POST
@login_required
@service_errors
def custom_field_delete(request: HttpRequest, field_id: int) -> HttpResponse:
    services.custom_field_delete(actor=request.user, field_id=field_id)
    return _back("fields")


# --- users (admin) ------------------------------------------------------------------------------


@require_POST
@login_required
@service_errors
def user_create(request: HttpRequest) -> HttpResponse:
    post = request.POST
    require(request.user, Perm.USER_MANAGE)
    try:
        # One transaction: a new team name is not left behind when the user is refused.
        with transaction.atomic():
            team_name = post.get("team", "").strip()
            team = account_services.team_get_or_create(name=team_name) if team_name else None
            account_services.user_create(
                actor=request.user,
                username=post.get("username", ""),
                role=post.get("role", ""),
                password=post.get("password", "") or None,
                email=post.get("email", ""),
                first_name=post.get("first_name", "").strip(),
                last_name=post.get("last_name", "").strip(),
                team=team,
            )
    except ServiceError as exc:
        if exc.status == 403:
            raise
        safe_values = {k: v for k, v in post.items() if k != "password"}
        return _render(request, "users", error=exc, values=safe_values)
    return _back("users")
