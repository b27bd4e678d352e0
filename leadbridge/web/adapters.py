"""What every web view needs to act as an adapter: map service errors to HTTP, read htmx intent.

Views catch `ValidationFailed`/`Conflict` themselves (to render inline errors) and let
`NotFound`/`Forbidden` pass through `@service_errors`, which turns them into the 404/403 pages.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme

from leadbridge.core.errors import FieldError, Forbidden, NotFound, ServiceError
from leadbridge.core.roles import Perm, has_perm

View = Callable[..., HttpResponse]


def service_errors(view: View) -> View:
    """NotFound → 404 page, Forbidden → 403 page."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except NotFound as exc:
            raise Http404(exc.detail) from exc
        except Forbidden as exc:
            raise PermissionDenied(exc.detail) from exc

    return wrapper


def require_perm(request: HttpRequest, perm: Perm) -> None:
    """Refuse (403) before reading any input when the role may not do this at all."""
    if not has_perm(request.user, perm):  # type: ignore[arg-type]
        raise PermissionDenied


def field_errors(errors: Iterable[FieldError]) -> dict[str, list[str]]:
    """Group field errors by form field: `emails[2]` belongs to `emails`, `custom.size` stays."""
    out: dict[str, list[str]] = {}
    for err in errors:
        name = err.field.split("[", 1)[0] or "form"
        out.setdefault(name, []).append(err.message)
    return out


def error_text(exc: ServiceError) -> str:
    return exc.detail


def is_partial(request: HttpRequest) -> bool:
    """True for an htmx request that wants a fragment (not a history restore, which needs the page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request  # type: ignore[union-attr]


def vary_on_htmx(response: HttpResponse) -> HttpResponse:
    patch_vary_headers(response, ["HX-Request"])
    return response


def safe_next(request: HttpRequest, fallback: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def int_param(value: str | None, *, default: int, low: int, high: int) -> int:
    try:
        number = int(value or default)
    except ValueError:
        return default
    return max(low, min(number, high))
