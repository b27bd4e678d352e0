"""What every web view needs to act as an adapter: map service errors to HTTP, read htmx intent,
run a submitted form through its service.

A refused form (`ValidationFailed`/`Conflict`) comes back with inline errors (`form_post`,
`values_form`); `NotFound`/`Forbidden` pass through `@service_errors`, which turns them into the
404/403 pages.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme

from leadbridge.core.errors import Conflict, FieldError, Forbidden, NotFound, ServiceError, ValidationFailed
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


def form_errors(exc: ServiceError) -> dict[str, str]:
    """A refusal's errors as a template shows them: one line per form field (`errors.name`)."""
    return {name: " ".join(msgs) for name, msgs in field_errors(exc.errors).items()}


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


# --- forms over one service call ---------------------------------------------------------------


class FormPage(Protocol):
    """Renders the page a form sits on, with `context` added, at `status` (200, or a refusal's)."""

    def __call__(self, request: HttpRequest, *, status: int = 200, **context: Any) -> HttpResponse: ...


def htmx_page(
    request: HttpRequest, template: str, rows: str, context: dict[str, Any], *, status: int = 200
) -> HttpResponse:
    """A list page, or only its `rows` partial for an htmx request that succeeded."""
    if is_partial(request) and status == 200:
        return vary_on_htmx(render(request, rows, context))
    return vary_on_htmx(render(request, template, context, status=status))


def form_post[T](
    request: HttpRequest,
    save: Callable[[], T],
    *,
    ok_message: str,
    redirect_to: str | Callable[[T], str],
    refused: Callable[[ServiceError], HttpResponse],
) -> HttpResponse:
    """Run the service call of a submitted form (Post/Redirect/Get).

    Saved: flash `ok_message` and redirect (`redirect_to` may take what `save` returned). Refused
    by the service (`ValidationFailed`, `Conflict`): answer `refused(exc)`, the form again.
    """
    try:
        saved = save()
    except (ValidationFailed, Conflict) as exc:
        return refused(exc)
    messages.success(request, ok_message)
    return redirect(redirect_to(saved) if callable(redirect_to) else redirect_to)


def values_form[T](
    request: HttpRequest,
    page: str | FormPage,
    *,
    context: Mapping[str, Any] | None = None,
    initial: Mapping[str, Any],
    fields: Iterable[str],
    checkboxes: Iterable[str] = (),
    save: Callable[[dict[str, Any]], T],
    ok_message: str,
    redirect_to: str | Callable[[T], str],
) -> HttpResponse:
    """A form whose inputs are plain values, on `page` (a template, or a function rendering it).

    GET shows `initial`; POST reads `fields` (text) and `checkboxes` (ticked or not) and calls
    `save(values)`, then as `form_post`: a refused form comes back with the values as typed,
    `errors` by field, `error_detail` and the refusal's status (400/409/422).
    """

    def show(*, status: int = 200, **more: Any) -> HttpResponse:
        full = {**(context or {}), **more}
        if isinstance(page, str):
            return render(request, page, full, status=status)
        return page(request, status=status, **full)

    if request.method != "POST":
        return show(values=dict(initial), errors={})
    post = request.POST
    values: dict[str, Any] = {k: post.get(k, "") for k in fields} | {k: bool(post.get(k)) for k in checkboxes}
    return form_post(
        request,
        lambda: save(values),
        ok_message=ok_message,
        redirect_to=redirect_to,
        refused=lambda exc: show(
            status=exc.status, values=values, errors=form_errors(exc), error_detail=exc.detail
        ),
    )
