"""The audit log: who changed what, with the values before and after."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET

from leadbridge.contacts import selectors
from leadbridge.core.errors import ValidationFailed
from leadbridge.core.models import AuditEntry
from leadbridge.web.adapters import service_errors

FILTERS = ("object_type", "object_id", "actor")
EMPTY: tuple[Any, ...] = (None, "", [], {})


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def changes(entry: AuditEntry) -> list[dict[str, Any]]:
    """One row per key of before/after, in first-seen order, marking which ones changed."""
    before = (
        entry.before
        if isinstance(entry.before, dict)
        else ({} if entry.before is None else {"": entry.before})
    )
    after = (
        entry.after if isinstance(entry.after, dict) else ({} if entry.after is None else {"": entry.after})
    )
    keys = list(dict.fromkeys([*before, *after]))
    # A snapshot on creation lists every field; the empty ones say nothing.
    keys = [k for k in keys if before.get(k) not in EMPTY or after.get(k) not in EMPTY]
    return [
        {
            "key": key,
            "before": _show(before.get(key)),
            "after": _show(after.get(key)),
            "has_before": key in before,
            "has_after": key in after,
        }
        for key in keys
    ]


@require_GET
@login_required
@service_errors
def audit_list(request: HttpRequest) -> HttpResponse:
    filters = {name: request.GET.get(name, "").strip()[:150] for name in FILTERS}
    try:
        page = selectors.audit_entries(
            user=request.user,
            object_type=filters["object_type"],
            object_id=filters["object_id"],
            actor=filters["actor"],
            cursor=request.GET.get("cursor") or None,
        )
    except ValidationFailed as exc:
        raise BadRequest(str(exc)) from exc
    active = {k: v for k, v in filters.items() if v}
    return render(
        request,
        "web/audit/list.html",
        {
            "filters": filters,
            "entries": [{"entry": e, "changes": changes(e)} for e in page.items],
            "next_query": urlencode({**active, "cursor": page.next}) if page.next else "",
            "first_query": urlencode(active),
            "is_first_page": not request.GET.get("cursor"),
        },
    )
