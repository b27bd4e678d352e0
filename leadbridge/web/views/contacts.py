"""Contact pages: list, card, create/edit and the card's actions.

Adapters only: each view parses the request, calls one selector or service from
`leadbridge.contacts`, and renders. Rules (validation, visibility, who may do what) live in
the services; their `ValidationFailed`/`Conflict` become inline errors here.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from leadbridge.accounts.selectors import assignable_users
from leadbridge.capture import selectors as capture_selectors
from leadbridge.capture import ui_selectors as capture_ui
from leadbridge.contacts import merge as merge_services
from leadbridge.contacts import selectors, services
from leadbridge.contacts.cleaning import clean_contact_input
from leadbridge.contacts.models import ConsentChannel, ConsentStatus, Contact, Stage
from leadbridge.core.errors import Conflict, FieldError, NotFound, ValidationFailed
from leadbridge.core.pagination import Page
from leadbridge.core.roles import Perm
from leadbridge.scoring.selectors import score_explain
from leadbridge.segments import selectors as segment_selectors
from leadbridge.web.adapters import (
    field_errors,
    int_param,
    is_partial,
    require_perm,
    service_errors,
    vary_on_htmx,
)
from leadbridge.web.forms import ContactForm, contact_initial
from leadbridge.web.timeline import describe
from leadbridge.web.visits import visit_rows

TIMELINE_PAGE = 20
VISITS_PAGE = 50
CARD_NOTES = 20
CARD_HISTORY = 30
STAGE_LABELS = dict(Stage.choices)


def _page_size() -> int:
    return int(str(settings.LEADBRIDGE.get("PAGE_SIZE", 50)))


# --- list ------------------------------------------------------------------------------------


@login_required
@require_GET
@service_errors
def contact_list(request: HttpRequest) -> HttpResponse:
    filters = {k: request.GET.get(k, "").strip()[:2000] for k in ("tag", "stage", "owner")}
    filters = {"q": request.GET.get("q", "").strip()[:10_000], **filters}
    cursor = request.GET.get("cursor") or None
    limit = int_param(request.GET.get("limit"), default=_page_size(), low=1, high=200)
    error: ValidationFailed | None = None
    try:
        if filters["q"]:
            # The segment language (plain words search name, email and phone).
            page = segment_selectors.contact_search(
                user=request.user,
                q=filters["q"],
                tag=filters["tag"],
                stage=filters["stage"],
                owner=filters["owner"],
                cursor=cursor,
                limit=limit,
                contacts=selectors.with_rows(Contact.objects.all()),
            )
            selectors.attach_tag_names(page.items)
        else:
            page = selectors.contact_list(
                user=request.user,
                tag=filters["tag"],
                stage=filters["stage"],
                owner=filters["owner"],
                cursor=cursor,
                limit=limit,
            )
    except ValidationFailed as exc:
        page, error = Page(items=[], next=None), exc
    context: dict[str, Any] = {
        "page": page,
        "filters": filters,
        "filtered": any(filters.values()),
        "cursor": cursor,
        "error": error,
    }
    status = 400 if error else 200
    if is_partial(request):
        return vary_on_htmx(render(request, "web/contacts/_rows.html", context, status=status))
    context.update(
        stages=Stage.choices,
        # Names only: 500 Tag objects cost ~10 ms of CPU for a datalist of strings.
        tags=list(selectors.tag_list().values_list("name", flat=True)[:500]),
        owners=assignable_users(),
    )
    return vary_on_htmx(render(request, "web/contacts/list.html", context, status=status))


# --- card ------------------------------------------------------------------------------------


def _card_context(request: HttpRequest, contact: Contact) -> dict[str, Any]:
    defs = list(selectors.custom_field_list("contact"))
    custom = contact.custom or {}
    timeline = selectors.contact_timeline(contact=contact, limit=TIMELINE_PAGE)
    sources = capture_ui.contact_sources(contact_id=contact.pk)  # first/lead/last touch, visits
    consents = {c.channel: c for c in contact.consents.all()}
    return {
        "contact": contact,
        "alive": contact.merged_into_id is None and contact.erased_at is None,
        "custom_values": [(d, custom.get(d.key)) for d in defs if custom.get(d.key) not in (None, "", [])],
        "tags": [link.tag for link in contact.tag_links.all()],
        "extra_emails": [p for p in contact.points.all() if p.kind == "email"],
        "extra_phones": [p for p in contact.points.all() if p.kind == "phone"],
        "consents": [(value, label, consents.get(value)) for value, label in ConsentChannel.choices],
        "consent_statuses": ConsentStatus.choices,
        "stages": Stage.choices,
        "history": [
            {
                "change": h,
                "from": STAGE_LABELS.get(h.from_stage, h.from_stage),
                "to": STAGE_LABELS.get(h.to_stage, h.to_stage),
            }
            for h in selectors.contact_stage_history(contact=contact)[:CARD_HISTORY]
        ],
        "notes": list(selectors.contact_notes(contact=contact)[:CARD_NOTES]),
        "merges": list(selectors.contact_merges(contact=contact)[:20]),
        "timeline": [describe(a) for a in timeline.items],
        "timeline_next": timeline.next,
        "sources": sources,
        "visits": visit_rows(sources.visits),
        "score": score_explain(contact=contact),  # the "Score" section: rules, fit, decay, latest
        "errors": {},
        "values": {},
    }


def _render_card(
    request: HttpRequest,
    contact_id: int,
    *,
    form: str = "",
    errors: dict[str, list[str]] | None = None,
    values: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    contact = selectors.contact_get(user=request.user, contact_id=contact_id)
    context = _card_context(request, contact)
    if form:
        context["errors"] = {form: errors or {}}
        context["values"] = {form: values or {}}
    return render(request, "web/contacts/detail.html", context, status=status)


def _card_url(contact_id: int, anchor: str = "") -> str:
    url = reverse("web:contact_detail", args=[contact_id])
    return f"{url}#{anchor}" if anchor else url


@login_required
@require_GET
@service_errors
def contact_detail(request: HttpRequest, contact_id: int) -> HttpResponse:
    return _render_card(request, contact_id)


@login_required
@require_GET
@service_errors
def contact_timeline(request: HttpRequest, contact_id: int) -> HttpResponse:
    contact = selectors.contact_get(user=request.user, contact_id=contact_id)
    try:
        page = selectors.contact_timeline(
            contact=contact, cursor=request.GET.get("cursor") or None, limit=TIMELINE_PAGE
        )
    except ValidationFailed as exc:
        return HttpResponse(exc.detail, status=400, content_type="text/plain")
    context = {"contact": contact, "timeline": [describe(a) for a in page.items], "timeline_next": page.next}
    template = "web/contacts/_timeline_items.html" if is_partial(request) else "web/contacts/timeline.html"
    return vary_on_htmx(render(request, template, context))


@login_required
@require_GET
@service_errors
def contact_visits(request: HttpRequest, contact_id: int) -> HttpResponse:
    """The contact's page views on their own: the card's "older page views" pages (htmx) and a
    full page without JavaScript. Only the contact's visibility is loaded besides the hits."""
    contact = selectors.contact_get(user=request.user, contact_id=contact_id)
    try:
        page = capture_selectors.contact_visit_page(
            contact=contact, cursor=request.GET.get("cursor") or None, limit=VISITS_PAGE
        )
    except ValidationFailed as exc:
        return HttpResponse(exc.detail, status=400, content_type="text/plain")
    context = {"contact": contact, "visits": visit_rows(page.items), "visits_next": page.next}
    template = "web/contacts/_visit_items.html" if is_partial(request) else "web/contacts/visits.html"
    return vary_on_htmx(render(request, template, context))


# --- card actions ----------------------------------------------------------------------------


def _failed(
    request: HttpRequest, contact_id: int, form: str, exc: ValidationFailed | Conflict, values: dict[str, Any]
) -> HttpResponse:
    errors = field_errors(exc.errors) if exc.errors else {"form": [exc.detail]}
    return _render_card(request, contact_id, form=form, errors=errors, values=values, status=exc.status)


@login_required
@require_POST
@service_errors
def contact_stage(request: HttpRequest, contact_id: int) -> HttpResponse:
    require_perm(request, Perm.STAGE_CHANGE)
    values = {"stage": request.POST.get("stage", ""), "reason": request.POST.get("reason", "")}
    try:
        services.contact_stage_change(
            actor=request.user, contact_id=contact_id, to_stage=values["stage"], reason=values["reason"]
        )
    except (ValidationFailed, Conflict) as exc:
        return _failed(request, contact_id, "stage", exc, values)
    messages.success(request, _("Stage changed."))
    return redirect(_card_url(contact_id, "stage"))


@login_required
@require_POST
@service_errors
def contact_tags(request: HttpRequest, contact_id: int) -> HttpResponse:
    require_perm(request, Perm.CONTACT_EDIT)
    add = [t for t in request.POST.get("add", "").replace(",", ";").split(";") if t.strip()]
    remove = request.POST.getlist("remove")
    try:
        services.contact_tags_change(actor=request.user, contact_id=contact_id, add=add, remove=remove)
    except (ValidationFailed, Conflict) as exc:
        # Errors name `add[i]`; they all belong to the one input.
        return _failed(request, contact_id, "tags", exc, {"add": request.POST.get("add", "")})
    return redirect(_card_url(contact_id, "tags"))


@login_required
@require_POST
@service_errors
def contact_note_add(request: HttpRequest, contact_id: int) -> HttpResponse:
    require_perm(request, Perm.NOTE_ADD)
    body = request.POST.get("body", "")
    product = request.POST.get("product", "")
    is_issue = request.POST.get("is_product_issue") in {"on", "1", "true"}
    values = {"body": body, "is_product_issue": is_issue, "product": product}
    try:
        services.note_add(
            actor=request.user, contact_id=contact_id, body=body, is_product_issue=is_issue, product=product
        )
    except (ValidationFailed, Conflict) as exc:
        return _failed(request, contact_id, "note", exc, values)
    messages.success(request, _("Note added."))
    return redirect(_card_url(contact_id, "notes"))


@login_required
@require_POST
@service_errors
def contact_consent(request: HttpRequest, contact_id: int) -> HttpResponse:
    require_perm(request, Perm.CONTACT_EDIT)
    selectors.contact_get(user=request.user, contact_id=contact_id)  # 404 unless visible
    values = {"channel": request.POST.get("channel", ""), "status": request.POST.get("status", "")}
    try:
        services.contact_consent_set(actor=request.user, contact_id=contact_id, source="web", **values)
    except (ValidationFailed, Conflict) as exc:
        return _failed(request, contact_id, "consent", exc, values)
    messages.success(request, _("Consent updated."))
    return redirect(_card_url(contact_id, "consents"))


@login_required
@require_POST
@service_errors
def contact_merge(request: HttpRequest, contact_id: int) -> HttpResponse:
    require_perm(request, Perm.CONTACT_MERGE)
    selectors.contact_get(user=request.user, contact_id=contact_id)  # 404 unless visible
    raw = request.POST.get("other_id", "").strip().lstrip("#")
    values = {"other_id": raw}
    if not raw.isdigit():
        exc = ValidationFailed(
            [FieldError("other_id", _("Give the number of the contact to merge into this one"))]
        )
        return _failed(request, contact_id, "merge", exc, values)
    try:
        selectors.contact_get(user=request.user, contact_id=int(raw))
        merge = merge_services.contact_merge(actor=request.user, winner_id=contact_id, loser_id=int(raw))
    except NotFound as exc:
        return _failed(
            request, contact_id, "merge", ValidationFailed([FieldError("other_id", exc.detail)]), values
        )
    except (ValidationFailed, Conflict) as exc:
        return _failed(request, contact_id, "merge", exc, values)
    messages.success(request, _("Contact #%(id)s merged into this one.") % {"id": merge.loser_id})
    return redirect(_card_url(contact_id, "merges"))


@login_required
@require_POST
@service_errors
def merge_undo(request: HttpRequest, merge_id: int) -> HttpResponse:
    require_perm(request, Perm.CONTACT_MERGE)
    back = request.POST.get("contact_id", "")
    try:
        merge = merge_services.merge_undo(actor=request.user, merge_id=merge_id)
    except Conflict as exc:
        messages.error(request, exc.detail)
        return redirect(_card_url(int(back), "merges") if back.isdigit() else reverse("web:contact_list"))
    messages.success(request, _("Merge undone: contact #%(id)s is separate again.") % {"id": merge.loser_id})
    return redirect(_card_url(merge.winner_id, "merges"))


@login_required
@require_POST
@service_errors
def contact_erase(request: HttpRequest, contact_id: int) -> HttpResponse:
    require_perm(request, Perm.CONTACT_DELETE)
    selectors.contact_get(user=request.user, contact_id=contact_id)  # 404 unless visible
    values = {"reason": request.POST.get("reason", "")}
    try:
        services.contact_erase(actor=request.user, contact_id=contact_id, reason=values["reason"])
    except (ValidationFailed, Conflict) as exc:
        return _failed(request, contact_id, "erase", exc, values)
    messages.success(request, _("Personal data erased. The record and its history stay."))
    return redirect(_card_url(contact_id))


# --- create / edit ---------------------------------------------------------------------------


def _form(request: HttpRequest, *, creating: bool, **kwargs: Any) -> ContactForm:
    return ContactForm(
        request.POST if request.method == "POST" else None,
        custom_fields=list(selectors.custom_field_list("contact")),
        owners=assignable_users(),
        creating=creating,
        **kwargs,
    )


def _duplicates(data: dict[str, Any]) -> list[Contact]:
    """The existing contacts a create collided with (same email or phone), for links."""
    clean = clean_contact_input(
        {"email": data.get("email") or "", "phone": data.get("phone") or ""}, defs={}, partial=True
    )
    return services.find_duplicates(
        email=clean.values.get("email") or "", phone=clean.values.get("phone") or ""
    )


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def contact_create(request: HttpRequest) -> HttpResponse:
    require_perm(request, Perm.CONTACT_EDIT)
    # Sales and pre-sales own what they create (the service defaults to that too).
    owns = getattr(request.user, "role", "") in {"sales", "presales"}
    initial = {"stage": Stage.LEAD, "owner": request.user.get_username() if owns else ""}
    form = _form(request, creating=True, initial=initial)
    context: dict[str, Any] = {"form": form, "creating": True}
    status = 200
    if request.method == "POST":
        data = form.service_data()
        allow = request.POST.get("allow_duplicate") == "1"
        try:
            contact = services.contact_create(
                actor=request.user, data=data, source="web", allow_duplicate=allow
            )
        except ValidationFailed as exc:
            form.add_service_errors(exc.errors)
            status = exc.status
        except Conflict as exc:
            status = exc.status
            if any(e.field in {"email", "phone"} for e in exc.errors):
                context["duplicates"] = _duplicates(data)
            form.add_service_errors(exc.errors)
        else:
            messages.success(request, _("Contact created."))
            return redirect(_card_url(contact.pk))
    return render(request, "web/contacts/form.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def contact_edit(request: HttpRequest, contact_id: int) -> HttpResponse:
    require_perm(request, Perm.CONTACT_EDIT)
    contact = selectors.contact_get(user=request.user, contact_id=contact_id)
    if contact.merged_into_id or contact.erased_at:
        raise NotFound("Contact not found")
    defs = list(selectors.custom_field_list("contact"))
    form = _form(request, creating=False, initial=contact_initial(contact, defs))
    context: dict[str, Any] = {"form": form, "creating": False, "contact": contact}
    status = 200
    if request.method == "POST":
        data = form.service_data()
        version = form.cleaned_data.get("version") if hasattr(form, "cleaned_data") else None
        try:
            services.contact_update(
                actor=request.user, contact_id=contact_id, data=data, expected_version=version
            )
        except ValidationFailed as exc:
            form.add_service_errors(exc.errors)
            status = exc.status
        except Conflict as exc:
            status = exc.status
            if any(e.field == "version" for e in exc.errors):
                context["stale"] = True
            else:
                form.add_service_errors(exc.errors)
        else:
            messages.success(request, _("Changes saved."))
            return redirect(_card_url(contact_id))
    return render(request, "web/contacts/form.html", context, status=status)
