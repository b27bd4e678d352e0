"""The user's own preferences: interface language and time zone."""

from __future__ import annotations

import zoneinfo
from functools import cache

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from leadbridge.accounts.services import user_update_preferences
from leadbridge.core.errors import ValidationFailed
from leadbridge.web.adapters import field_errors, safe_next


@cache
def timezone_choices() -> list[str]:
    return sorted(zoneinfo.available_timezones())


@login_required
@require_http_methods(["GET", "POST"])
def account(request: HttpRequest) -> HttpResponse:
    errors: dict[str, list[str]] = {}
    values = {"language": request.user.language, "timezone": request.user.timezone}  # type: ignore[union-attr]
    if request.method == "POST":
        language = request.POST.get("language")
        tz = request.POST.get("timezone")
        values.update({k: v for k, v in (("language", language), ("timezone", tz)) if v is not None})
        try:
            user = user_update_preferences(user=request.user, language=language, timezone=tz)  # type: ignore[arg-type]
        except ValidationFailed as exc:
            errors = field_errors(exc.errors)
        else:
            if user.language:
                translation.activate(user.language)
            messages.success(request, _("Your preferences are saved."))
            return redirect(safe_next(request, reverse("web:account")))
    context = {
        "languages": settings.LANGUAGES,
        "timezones": timezone_choices(),
        "values": values,
        "errors": errors,
    }
    return render(request, "web/account.html", context, status=422 if errors else 200)
