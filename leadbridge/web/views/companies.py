"""Company pages: list, detail with its contacts, create/edit. Adapters over contacts.selectors/services."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from leadbridge.contacts import selectors, services
from leadbridge.core.errors import Conflict, ValidationFailed
from leadbridge.core.pagination import Page
from leadbridge.core.roles import Perm
from leadbridge.web.adapters import int_param, is_partial, require_perm, service_errors, vary_on_htmx
from leadbridge.web.forms import CompanyForm, company_initial


def _page_size() -> int:
    return int(str(settings.LEADBRIDGE.get("PAGE_SIZE", 50)))


@login_required
@require_GET
@service_errors
def company_list(request: HttpRequest) -> HttpResponse:
    q = request.GET.get("q", "").strip()[:200]
    cursor = request.GET.get("cursor") or None
    limit = int_param(request.GET.get("limit"), default=_page_size(), low=1, high=200)
    error: ValidationFailed | None = None
    try:
        page = selectors.company_list(user=request.user, q=q, cursor=cursor, limit=limit)
    except ValidationFailed as exc:
        page, error = Page(items=[], next=None), exc
    context: dict[str, Any] = {"page": page, "q": q, "cursor": cursor, "error": error}
    template = "web/companies/_rows.html" if is_partial(request) else "web/companies/list.html"
    return vary_on_htmx(render(request, template, context, status=400 if error else 200))


@login_required
@require_GET
@service_errors
def company_detail(request: HttpRequest, company_id: int) -> HttpResponse:
    company = selectors.company_get(user=request.user, company_id=company_id)
    cursor = request.GET.get("cursor") or None
    error: ValidationFailed | None = None
    try:
        contacts = selectors.contact_list(
            user=request.user, company_id=company.pk, cursor=cursor, limit=_page_size()
        )
    except ValidationFailed as exc:
        contacts, error = Page(items=[], next=None), exc
    context = {"company": company, "page": contacts, "cursor": cursor, "error": error}
    return render(request, "web/companies/detail.html", context, status=400 if error else 200)


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def company_create(request: HttpRequest) -> HttpResponse:
    require_perm(request, Perm.CONTACT_EDIT)
    form = CompanyForm(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST":
        try:
            company = services.company_create(actor=request.user, data=form.service_data())
        except (ValidationFailed, Conflict) as exc:
            form.add_service_errors(exc.errors or [])
            status = exc.status
        else:
            messages.success(request, _("Company created."))
            return redirect(reverse("web:company_detail", args=[company.pk]))
    return render(request, "web/companies/form.html", {"form": form, "creating": True}, status=status)


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def company_edit(request: HttpRequest, company_id: int) -> HttpResponse:
    require_perm(request, Perm.CONTACT_EDIT)
    company = selectors.company_get(user=request.user, company_id=company_id)
    form = CompanyForm(request.POST if request.method == "POST" else None, initial=company_initial(company))
    status = 200
    if request.method == "POST":
        try:
            services.company_update(actor=request.user, company_id=company.pk, data=form.service_data())
        except (ValidationFailed, Conflict) as exc:
            form.add_service_errors(exc.errors or [])
            status = exc.status
        else:
            messages.success(request, _("Changes saved."))
            return redirect(reverse("web:company_detail", args=[company.pk]))
    context = {"form": form, "creating": False, "company": company}
    return render(request, "web/companies/form.html", context, status=status)
