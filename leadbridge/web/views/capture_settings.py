"""Capture setup: tracked sites (origins, active, the public key and the copy-paste snippet page)
and the inquiry classes sales choose from (add, edit, reorder).

Adapters over `capture.services`; who may do what is the services' rule (SITE_MANAGE for
sites: admin, director, marketing; INQUIRY_CLASS_MANAGE for classes), checked here first so a
refused role gets 403 before any input is read.
"""

from __future__ import annotations

import re
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from leadbridge.capture import selectors, services, ui_selectors
from leadbridge.capture.models import ClassKind, Site
from leadbridge.core.roles import Perm, has_perm
from leadbridge.web.adapters import htmx_page, is_partial, require_perm, service_errors, values_form


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


def _sites_page(request: HttpRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    context = {"sites": list(selectors.site_list(user=request.user)), "error_detail": "", "section": "sites"}
    return render(request, "web/capture_settings/sites.html", {**context, **extra}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def site_list(request: HttpRequest) -> HttpResponse:
    """The sites; POST registers one."""
    require_perm(request, Perm.SITE_MANAGE)
    return values_form(
        request,
        _sites_page,
        initial={"name": "", "origins": ""},
        fields=("name", "origins"),
        save=lambda data: services.site_create(
            actor=request.user, name=data["name"], origins=_origins(data["origins"])
        ),
        ok_message=_("Site added. Paste the snippet below into its pages."),
        redirect_to=lambda site: reverse("web:site_snippet", args=[site.pk]),
    )


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def site_edit(request: HttpRequest, site_id: int) -> HttpResponse:
    require_perm(request, Perm.SITE_MANAGE)
    site = ui_selectors.site_get(user=request.user, site_id=site_id)
    if request.method == "POST" and request.POST.get("rotate_key"):
        services.site_update(actor=request.user, site_id=site.pk, rotate_key=True)
        messages.success(request, _("A new key was issued; the old one stopped working."))
        return redirect(reverse("web:site_edit", args=[site.pk]))
    return values_form(
        request,
        "web/capture_settings/site_form.html",
        context={"site": site, "section": "sites"},
        initial={"name": site.name, "origins": "\n".join(site.origins or []), "is_active": site.is_active},
        fields=("name", "origins"),
        checkboxes=("is_active",),
        save=lambda data: services.site_update(
            actor=request.user,
            site_id=site.pk,
            name=data["name"],
            origins=_origins(data["origins"]),
            is_active=data["is_active"],
        ),
        ok_message=_("Changes saved."),
        redirect_to=reverse("web:site_list"),
    )


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


def _classes_page(request: HttpRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    usage = ui_selectors.class_usage(user=request.user)
    context: dict[str, Any] = {
        "rows": [(c, usage.get(c.pk, 0)) for c in selectors.inquiry_class_list()],
        "kinds": ClassKind.choices,
        "values": {},
        "errors": {},
        "section": "classes",
    }
    page, rows = "web/capture_settings/classes.html", "web/capture_settings/_class_rows.html"
    return htmx_page(request, page, rows, {**context, **extra}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def inquiry_class_list(request: HttpRequest) -> HttpResponse:
    """The classes in the order sales see them; POST adds one (last)."""
    require_perm(request, Perm.INQUIRY_CLASS_MANAGE)
    return values_form(
        request,
        _classes_page,
        initial={"kind": ClassKind.TARGET},
        fields=CLASS_FIELDS,
        save=lambda data: services.inquiry_class_create(actor=request.user, data=data),
        ok_message=_("Class added."),
        redirect_to=reverse("web:inquiry_class_list"),
    )


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def inquiry_class_edit(request: HttpRequest, class_id: int) -> HttpResponse:
    require_perm(request, Perm.INQUIRY_CLASS_MANAGE)
    cls = ui_selectors.inquiry_class_get(user=request.user, class_id=class_id)
    return values_form(
        request,
        "web/capture_settings/class_form.html",
        context={"cls": cls, "kinds": ClassKind.choices, "section": "classes"},
        initial={"name": cls.name, "kind": cls.kind, "product": cls.product, "is_active": cls.is_active},
        fields=("name", "kind", "product"),
        checkboxes=("is_active",),
        save=lambda data: services.inquiry_class_update(actor=request.user, class_id=cls.pk, data=data),
        ok_message=_("Changes saved."),
        redirect_to=reverse("web:inquiry_class_list"),
    )


@login_required
@require_POST
@service_errors
def inquiry_class_move(request: HttpRequest, class_id: int) -> HttpResponse:
    require_perm(request, Perm.INQUIRY_CLASS_MANAGE)
    cls = ui_selectors.inquiry_class_get(user=request.user, class_id=class_id)
    direction = "up" if request.POST.get("direction") == "up" else "down"
    services.inquiry_class_move(actor=request.user, class_id=cls.pk, direction=direction)
    if is_partial(request):
        return _classes_page(request)
    return redirect(reverse("web:inquiry_class_list"))
