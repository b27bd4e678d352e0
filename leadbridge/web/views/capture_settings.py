"""Capture setup: tracked sites (origins, active, the public key and the copy-paste snippet page)
and the inquiry classes sales choose from (add, edit, reorder).

Adapters over `capture.services`; who may do what is the services' rule (SITE_MANAGE for
sites: admin, director, marketing; INQUIRY_CLASS_MANAGE for classes), checked here first so a
refused role gets 403 before any input is read.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from leadbridge.capture import selectors, services, ui_selectors
from leadbridge.capture.models import ClassKind, Site
from leadbridge.core.errors import Conflict, ServiceError, ValidationFailed
from leadbridge.core.roles import Perm, has_perm
from leadbridge.web.adapters import field_errors, is_partial, require_perm, service_errors, vary_on_htmx


def _errors(exc: ServiceError) -> dict[str, str]:
    return {name: " ".join(msgs) for name, msgs in field_errors(exc.errors).items()}


def _origins(text: str) -> list[str]:
    """One origin per line (commas and spaces separate too)."""
    return [part for part in re.split(r"[\s,]+", text) if part]


@login_required
@require_GET
def index(request: HttpRequest) -> HttpResponse:
    """The navigation's entry: the first section this role may manage."""
    if has_perm(request.user, Perm.SITE_MANAGE):  # type: ignore[arg-type]
        return redirect(reverse("web:site_list"))
    if has_perm(request.user, Perm.INQUIRY_CLASS_MANAGE):  # type: ignore[arg-type]
        return redirect(reverse("web:inquiry_class_list"))
    raise PermissionDenied


# --- sites ---------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def site_list(request: HttpRequest) -> HttpResponse:
    """The sites; POST registers one."""
    require_perm(request, Perm.SITE_MANAGE)
    values = {"name": "", "origins": ""}
    errors: dict[str, str] = {}
    error_detail = ""
    status = 200
    if request.method == "POST":
        values = {"name": request.POST.get("name", ""), "origins": request.POST.get("origins", "")}
        try:
            site = services.site_create(
                actor=request.user, name=values["name"], origins=_origins(values["origins"])
            )
        except (ValidationFailed, Conflict) as exc:
            errors, error_detail, status = _errors(exc), exc.detail, exc.status
        else:
            messages.success(request, _("Site added. Paste the snippet below into its pages."))
            return redirect(reverse("web:site_snippet", args=[site.pk]))
    context = {
        "sites": list(selectors.site_list(user=request.user)),
        "values": values,
        "errors": errors,
        "error_detail": error_detail,
        "section": "sites",
    }
    return render(request, "web/capture_settings/sites.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def site_edit(request: HttpRequest, site_id: int) -> HttpResponse:
    require_perm(request, Perm.SITE_MANAGE)
    site = ui_selectors.site_get(user=request.user, site_id=site_id)
    values: dict[str, Any] = {
        "name": site.name,
        "origins": "\n".join(site.origins or []),
        "is_active": site.is_active,
    }
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        if request.POST.get("rotate_key"):
            services.site_update(actor=request.user, site_id=site.pk, rotate_key=True)
            messages.success(request, _("A new key was issued; the old one stopped working."))
            return redirect(reverse("web:site_edit", args=[site.pk]))
        values = {
            "name": request.POST.get("name", ""),
            "origins": request.POST.get("origins", ""),
            "is_active": bool(request.POST.get("is_active")),
        }
        try:
            services.site_update(
                actor=request.user,
                site_id=site.pk,
                name=values["name"],
                origins=_origins(values["origins"]),
                is_active=values["is_active"],
            )
        except (ValidationFailed, Conflict) as exc:
            errors, status = _errors(exc), exc.status
        else:
            messages.success(request, _("Changes saved."))
            return redirect(reverse("web:site_list"))
    context = {"site": site, "values": values, "errors": errors, "section": "sites"}
    return render(request, "web/capture_settings/site_form.html", context, status=status)


def _base_url(request: HttpRequest) -> str:
    """Where browsers reach this server: the configured BASE_URL, else the address in use."""
    configured = str(getattr(settings, "LEADBRIDGE", {}).get("BASE_URL", "") or "")
    return configured.rstrip("/") or request.build_absolute_uri("/").rstrip("/")


def snippets(site: Site, base: str) -> dict[str, str]:
    """The texts of the snippet page, with this site's key and this server's URLs filled in."""
    origin = (site.origins or ["https://www.example.com"])[0]
    tracker = base + reverse("capture:tracker")
    form = base + reverse("capture:form")
    return {
        "tracker_url": tracker,
        "form_url": form,
        "webhook_url": base + reverse("capture:inquiry", args=["generic"]),
        "pixel_url": base + reverse("capture:pixel"),
        "tracker": (
            "<script>window.lb=window.lb||function(){(lb.q=lb.q||[]).push(arguments)};</script>\n"
            f'<script async src="{tracker}" data-site-key="{site.key}"></script>'
        ),
        "form": (
            f'<form method="post" action="{form}">\n'
            f'  <input type="hidden" name="site_key" value="{site.key}">\n'
            f'  <input type="hidden" name="redirect" value="{origin}/thanks">\n'
            # The sample speaks the site owner's language: it is pasted into their site as is.
            f'  <input name="name" placeholder="{escape(_("Name"))}">\n'
            f'  <input type="email" name="email" placeholder="{escape(_("Email"))}">\n'
            f'  <input type="tel" name="phone" placeholder="{escape(_("Phone"))}">\n'
            '  <textarea name="message"></textarea>\n'
            '  <input name="lb_hp" tabindex="-1" autocomplete="off" style="position:absolute;left:-9999px">\n'
            f"  <button>{escape(_('Send'))}</button>\n"
            "</form>"
        ),
        "identify": "lb('identify', {email: 'anna@example.com', phone: '+7 999 123-45-67', name: 'Anna'});\n"
        "lb('event', 'cart_add', {sku: 'A-1', price: 990});",
        "pixel": (
            f'<img src="{base}{reverse("capture:pixel")}?k={site.key}&amp;e=email_open&amp;u=newsletter" '
            'width="1" height="1" alt="">'
        ),
        "webhook": (
            f"curl -X POST {base}{reverse('capture:inquiry', args=['generic'])} \\\n"
            f"  -H 'X-LeadBridge-Key: {site.key}' -H 'Content-Type: application/json' \\\n"
            """  -d '{"kind": "call", "id": "call-1", "phone": "+7 999 123-45-67", "duration": 125,"""
            """ "utm": {"source": "google", "medium": "cpc", "campaign": "spring"}}'"""
        ),
    }


@login_required
@require_GET
@service_errors
def site_snippet(request: HttpRequest, site_id: int) -> HttpResponse:
    require_perm(request, Perm.SITE_MANAGE)
    site = ui_selectors.site_get(user=request.user, site_id=site_id)
    context = {"site": site, "snippets": snippets(site, _base_url(request)), "section": "sites"}
    return render(request, "web/capture_settings/snippet.html", context)


# --- inquiry classes -----------------------------------------------------------------------------

CLASS_FIELDS = ("key", "name", "kind", "product")


def _classes_response(request: HttpRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    usage = ui_selectors.class_usage(user=request.user)
    context: dict[str, Any] = {
        "rows": [(c, usage.get(c.pk, 0)) for c in selectors.inquiry_class_list()],
        "kinds": ClassKind.choices,
        "values": {"kind": ClassKind.TARGET},
        "errors": {},
        "section": "classes",
        **extra,
    }
    if is_partial(request) and status == 200:
        return vary_on_htmx(render(request, "web/capture_settings/_class_rows.html", context))
    return vary_on_htmx(render(request, "web/capture_settings/classes.html", context, status=status))


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def inquiry_class_list(request: HttpRequest) -> HttpResponse:
    """The classes in the order sales see them; POST adds one (last)."""
    require_perm(request, Perm.INQUIRY_CLASS_MANAGE)
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in CLASS_FIELDS}
        try:
            services.inquiry_class_create(actor=request.user, data=values)
        except (ValidationFailed, Conflict) as exc:
            return _classes_response(
                request, status=exc.status, values=values, errors=_errors(exc), error_detail=exc.detail
            )
        messages.success(request, _("Class added."))
        return redirect(reverse("web:inquiry_class_list"))
    return _classes_response(request)


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def inquiry_class_edit(request: HttpRequest, class_id: int) -> HttpResponse:
    require_perm(request, Perm.INQUIRY_CLASS_MANAGE)
    cls = ui_selectors.inquiry_class_get(user=request.user, class_id=class_id)
    values: dict[str, Any] = {
        "name": cls.name,
        "kind": cls.kind,
        "product": cls.product,
        "is_active": cls.is_active,
    }
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        values = {k: request.POST.get(k, "") for k in ("name", "kind", "product")}
        values["is_active"] = bool(request.POST.get("is_active"))
        try:
            services.inquiry_class_update(actor=request.user, class_id=cls.pk, data=values)
        except (ValidationFailed, Conflict) as exc:
            errors, status = _errors(exc), exc.status
        else:
            messages.success(request, _("Changes saved."))
            return redirect(reverse("web:inquiry_class_list"))
    context = {
        "cls": cls,
        "values": values,
        "errors": errors,
        "kinds": ClassKind.choices,
        "section": "classes",
    }
    return render(request, "web/capture_settings/class_form.html", context, status=status)


def moved(order: list[int], item: int, direction: Literal["up", "down"]) -> list[int]:
    """`order` with `item` swapped with its neighbour (unchanged at either end)."""
    out = list(order)
    i = out.index(item)
    j = i - 1 if direction == "up" else i + 1
    if 0 <= j < len(out):
        out[i], out[j] = out[j], out[i]
    return out


@login_required
@require_POST
@service_errors
def inquiry_class_move(request: HttpRequest, class_id: int) -> HttpResponse:
    require_perm(request, Perm.INQUIRY_CLASS_MANAGE)
    cls = ui_selectors.inquiry_class_get(user=request.user, class_id=class_id)
    direction: Literal["up", "down"] = "up" if request.POST.get("direction") == "up" else "down"
    current = {c.pk: c for c in selectors.inquiry_class_list()}
    order = moved(list(current), cls.pk, direction)
    # Positions become 0..n-1 in the new order; only the classes whose number changes are written
    # (through the service, so each change is audited), all or none.
    with transaction.atomic():
        for position, pk in enumerate(order):
            if current[pk].position != position:
                services.inquiry_class_update(actor=request.user, class_id=pk, data={"position": position})
    if is_partial(request):
        return _classes_response(request)
    return redirect(reverse("web:inquiry_class_list"))
