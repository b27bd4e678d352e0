"""Data-quality queue and the director's product-issue list: thin adapters over contacts services."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from leadbridge.contacts import selectors, services
from leadbridge.contacts.cleaning import WRITABLE_FIELDS
from leadbridge.contacts.models import DataQualityItem
from leadbridge.core.errors import Conflict, ServiceError, ValidationFailed, field_error
from leadbridge.web.adapters import field_errors, is_partial, service_errors

STATUSES = [s.value for s in DataQualityItem.Status]

# The fix form always offers these; other contact fields appear when the raw input has them.
FIX_BASE_FIELDS = ("name", "email", "phone", "company")
# Fields a merge may copy into the kept contact's blanks (never tags/owner: they would replace).
MERGE_FILL_FIELDS = frozenset(
    {"name", "first_name", "last_name", "email", "phone", "job_title", "street", "city", "region"}
    | {"postal_code", "country"}
)
FIELD_LABELS: dict[str, Any] = {
    "name": gettext_lazy("Name"),
    "first_name": gettext_lazy("First name"),
    "last_name": gettext_lazy("Last name"),
    "email": gettext_lazy("Email"),
    "phone": gettext_lazy("Phone"),
    "emails": gettext_lazy("More emails"),
    "phones": gettext_lazy("More phones"),
    "company": gettext_lazy("Company"),
    "job_title": gettext_lazy("Job title"),
    "street": gettext_lazy("Street address"),
    "city": gettext_lazy("City"),
    "region": gettext_lazy("Region"),
    "postal_code": gettext_lazy("Postal code"),
    "country": gettext_lazy("Country"),
    "geo_country": gettext_lazy("Country by IP"),
    "geo_city": gettext_lazy("City by IP"),
    "ip_address": gettext_lazy("IP address"),
    "birthday": gettext_lazy("Birthday"),
    "stage": gettext_lazy("Lifecycle stage"),
    "external_id": gettext_lazy("External id"),
    "tags": gettext_lazy("Tags"),
    "owner": gettext_lazy("Owner"),
}
FIX_PREFIX = "field__"


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, (list, tuple)):
        return "; ".join(_text(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}: {_text(v)}" for k, v in value.items())
    return str(value)


def _flatten(raw: Any, prefix: str = "") -> list[tuple[str, str]]:
    """The raw input as (key, text) rows; nested objects get dotted keys."""
    if not isinstance(raw, Mapping):
        return [(prefix or _("value"), _text(raw))]
    rows: list[tuple[str, str]] = []
    for key, value in raw.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and value:
            rows.extend(_flatten(value, name))
        else:
            rows.append((name, _text(value)))
    return rows


def _raw_fields(raw: Any) -> dict[str, Any]:
    """Contact fields found in the raw input (top level, or under `fields` as capture stores them)."""
    found: dict[str, Any] = {}
    if not isinstance(raw, Mapping):
        return found
    sources = [raw]
    if isinstance(raw.get("fields"), Mapping):
        sources.append(raw["fields"])
    for source in sources:
        for key, value in source.items():
            key = str(key)
            writable = key in WRITABLE_FIELDS and key != "custom"
            if (writable or key.startswith("custom.")) and key not in found:
                found[key] = value
    return found


def _errors(error: ServiceError) -> dict[str, str]:
    return {name: " ".join(messages) for name, messages in field_errors(error.errors).items()}


def _cursor(request: HttpRequest) -> str | None:
    return request.GET.get("cursor") or None


def _fix_fields(
    item: DataQualityItem, posted: Mapping[str, str] | None, errors: dict[str, str]
) -> list[dict[str, Any]]:
    raw = _raw_fields(item.raw)
    keys = list(FIX_BASE_FIELDS) + [k for k in raw if k not in FIX_BASE_FIELDS]
    rows = []
    for key in keys:
        value = posted.get(FIX_PREFIX + key, "") if posted is not None else _text(raw.get(key))
        label = FIELD_LABELS.get(key) or key.removeprefix("custom.").replace("_", " ").capitalize()
        rows.append(
            {
                "key": key,
                "name": FIX_PREFIX + key,
                "label": label,
                "value": value,
                "error": errors.get(key, ""),
            }
        )
    return rows


def _item_context(
    item: DataQualityItem,
    *,
    posted: Mapping[str, str] | None = None,
    error: ServiceError | None = None,
    panel: str = "",
) -> dict[str, Any]:
    errors = _errors(error) if error else {}
    fix_fields = _fix_fields(item, posted if panel == "fix" else None, errors if panel == "fix" else {})
    shown = {f["key"] for f in fix_fields} if panel == "fix" else {"contact_id", "note"}
    general = [] if error is None else [f"{k}: {v}" for k, v in errors.items() if k not in shown]
    if error is not None and (not error.errors or error.status == 409):
        general.insert(0, error.detail)  # e.g. "Likely duplicate of contact #12 (...)"
    posted = posted or {}
    return {
        "item": item,
        "raw_rows": _flatten(item.raw),
        "fix_fields": fix_fields,
        "panel": panel,
        "errors": errors,
        "general_errors": general,
        "merge_contact_id": posted.get("contact_id", "") if panel == "merge" else (item.contact_id or ""),
        "discard_note": posted.get("note", "") if panel == "discard" else "",
    }


@require_GET
@login_required
@service_errors
def quality_list(request: HttpRequest) -> HttpResponse:
    status = request.GET.get("status", "open")
    if status not in STATUSES:
        status = "open"
    try:
        page = selectors.dq_items(user=request.user, status=status, cursor=_cursor(request))
    except ValidationFailed as exc:
        raise BadRequest(str(exc)) from exc
    context = {
        "status": status,
        "statuses": DataQualityItem.Status.choices,
        "items": [_item_context(item) for item in page.items],
        "next_cursor": page.next,
        "is_first_page": _cursor(request) is None,
    }
    return render(request, "web/quality/list.html", context)


@require_POST
@login_required
@service_errors
def quality_resolve(request: HttpRequest, item_id: int) -> HttpResponse:
    """Fix, merge or discard one item; htmx gets the item's new row, a plain form a redirect."""
    action = request.POST.get("action", "")
    item = selectors.dq_item_get(user=request.user, item_id=item_id)
    try:
        if action == "fix":
            fixed = {
                key.removeprefix(FIX_PREFIX): request.POST.get(key, "").strip()
                for key in request.POST
                if key.startswith(FIX_PREFIX)
            }
            fixed = {k: v for k, v in fixed.items() if v}
            item = services.dq_item_resolve(actor=request.user, item_id=item.pk, action="fix", data=fixed)
        elif action == "merge":
            merge = _merge_data(request, item)
            item = services.dq_item_resolve(actor=request.user, item_id=item.pk, action="merge", data=merge)
        else:
            note = request.POST.get("note", "").strip()
            item = services.dq_item_resolve(actor=request.user, item_id=item.pk, action=action, note=note)
    except (ValidationFailed, Conflict) as exc:
        item = selectors.dq_item_get(user=request.user, item_id=item_id)
        context = _item_context(item, posted=request.POST, error=exc, panel=action)
        template = "web/quality/_item.html" if is_partial(request) else "web/quality/item.html"
        return render(request, template, context, status=exc.status)
    if is_partial(request):
        item = selectors.dq_item_get(user=request.user, item_id=item.pk)
        return render(request, "web/quality/_item.html", _item_context(item))
    messages.success(
        request, _("Item #%(id)s: %(status)s.") % {"id": item.pk, "status": item.get_status_display()}
    )
    return redirect(reverse("web:quality_list") + "?status=open")


def _merge_data(request: HttpRequest, item: DataQualityItem) -> dict[str, Any]:
    raw_id = request.POST.get("contact_id", "").strip().lstrip("#")
    if not raw_id.isdigit():
        raise field_error("contact_id", _("Enter the number of the contact to merge into"))
    data: dict[str, Any] = {"contact_id": int(raw_id)}
    if request.POST.get("fill_blanks"):
        raw = _raw_fields(item.raw)
        data.update({k: v for k, v in raw.items() if k in MERGE_FILL_FIELDS and v not in (None, "")})
    return data


# --- product issues -------------------------------------------------------------------------


@require_GET
@login_required
@service_errors
def product_issues(request: HttpRequest) -> HttpResponse:
    show = request.GET.get("show", "open")
    if show not in ("open", "all"):
        show = "open"
    try:
        page = selectors.product_issues(user=request.user, open_only=show == "open", cursor=_cursor(request))
    except ValidationFailed as exc:
        raise BadRequest(str(exc)) from exc
    context = {
        "show": show,
        "notes": page.items,
        "next_cursor": page.next,
        "is_first_page": _cursor(request) is None,
    }
    return render(request, "web/quality/product_issues.html", context)


@require_POST
@login_required
@service_errors
def product_issue_resolve(request: HttpRequest, note_id: int) -> HttpResponse:
    services.note_resolve_issue(actor=request.user, note_id=note_id)
    if is_partial(request):
        note = selectors.product_issue_get(user=request.user, note_id=note_id)
        return render(request, "web/quality/_issue_row.html", {"note": note})
    return redirect(reverse("web:product_issues"))
