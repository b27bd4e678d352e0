"""Segment pages: the saved segments (list, detail with members and CSV export, create/edit with
the builder, delete) and the builder's preview endpoint.

Adapters only. Who may do what is the segments app's rule: everyone who may view contacts uses
segments (segments.selectors), marketing, admins and heads of sales change them
(segments.services.can_edit); counts and members are limited to the contacts the user may see
(the compiler's `user`).

The preview endpoint (`POST /segments/preview/`, JSON) is the builder's: it takes the filter as
text (`{"text": ...}`) or as the JSON tree of segments.language (`{"tree": ...}`), where a leaf
may also be `{"op": "text", "text": "visited(\"/pricing\") within 30d"}` (a condition the row
editor cannot express, typed as text), and answers

    {"text": canonical text, "tree": JSON tree (each leaf with its "text"), "count": n,
     "members": [{"id", "name", "email", "url"}], "error": null}

or, with status 400, `"error": {"message", "position"?, "path"?}`: `position` is the character
offset in `text` (the text sent, or the canonical text of the tree sent, which the answer then
carries), `path` the JSON path of the tree node at fault (`$.children[1].value.value`), and
`in_condition` true when `position` is inside the text of a typed condition (at `path`).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import DataError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from leadbridge.contacts import exporter
from leadbridge.contacts import selectors as contact_selectors
from leadbridge.contacts.models import ConsentChannel, Stage
from leadbridge.core.errors import Conflict, ServiceError, ValidationFailed
from leadbridge.core.pagination import Page
from leadbridge.core.roles import Perm, has_perm
from leadbridge.segments import fields as segment_fields
from leadbridge.segments import selectors, services
from leadbridge.segments.language import (
    MAX_DEPTH,
    And,
    FilterError,
    FilterSyntaxError,
    FilterTreeError,
    Node,
    Not,
    Or,
    parse,
    to_json,
    to_text,
)
from leadbridge.segments.models import Segment
from leadbridge.web.adapters import (
    field_errors,
    form_post,
    int_param,
    is_partial,
    require_perm,
    service_errors,
    vary_on_htmx,
)

# The builder posts at most this much JSON (the language's own limits are far below it:
# 10,000 characters of text, 500 conditions).
PREVIEW_BODY_MAX = 256 * 1024
MEMBERS_PAGE = 50
LIST_PAGE = 50
DATALIST_MAX = 500

# --- permissions ---------------------------------------------------------------------------------


def _require_editor(request: HttpRequest) -> None:
    """403 before reading any input for a role that may not change segments."""
    if not services.can_edit(request.user):
        raise PermissionDenied


# --- the field picker ----------------------------------------------------------------------------

# Labels of built-in fields (the picker shows them; the text form uses the names).
FIELD_LABELS: dict[str, Any] = {
    "name": gettext_lazy("Full name"),
    "first_name": gettext_lazy("First name"),
    "last_name": gettext_lazy("Last name"),
    "email": gettext_lazy("Email"),
    "phone": gettext_lazy("Phone"),
    "city": gettext_lazy("City"),
    "region": gettext_lazy("Region"),
    "country": gettext_lazy("Country"),
    "street": gettext_lazy("Street"),
    "job_title": gettext_lazy("Job title"),
    "external_id": gettext_lazy("External ID"),
    "postal_code": gettext_lazy("Postal code"),
    "geo_city": gettext_lazy("City (by IP address)"),
    "geo_country": gettext_lazy("Country (by IP address)"),
    "score": gettext_lazy("Score"),
    "id": gettext_lazy("ID"),
    "created_at": gettext_lazy("Created"),
    "updated_at": gettext_lazy("Updated"),
    "birthday": gettext_lazy("Birthday"),
    "stage": gettext_lazy("Stage"),
    "band": gettext_lazy("Band"),
    "owner": gettext_lazy("Owner"),
    "team": gettext_lazy("Team"),
    "company": gettext_lazy("Company"),
    "channel": gettext_lazy("Channel"),
    "inquiries": gettext_lazy("Number of inquiries"),
    "inquiry.class": gettext_lazy("Inquiry class"),
    "inquiry.kind": gettext_lazy("Inquiry kind"),
}
COMPANY_LABELS: dict[str, Any] = {
    "name": gettext_lazy("Company name"),
    "domain": gettext_lazy("Domain"),
    "industry": gettext_lazy("Industry"),
    "phone": gettext_lazy("Phone"),
    "city": gettext_lazy("City"),
    "country": gettext_lazy("Country"),
    "address": gettext_lazy("Address"),
    "employees": gettext_lazy("Employees"),
    "created_at": gettext_lazy("Created"),
}
TOUCH_FIELD_LABELS: dict[str, Any] = {
    "channel": gettext_lazy("Channel"),
    "campaign": gettext_lazy("Campaign"),
    "source": gettext_lazy("Source (utm_source)"),
    "medium": gettext_lazy("Medium (utm_medium)"),
    "term": gettext_lazy("Term (utm_term)"),
    "content": gettext_lazy("Content (utm_content)"),
    "landing_page": gettext_lazy("Landing page"),
    "referrer": gettext_lazy("Referrer"),
}
TOUCH_LABELS = {
    "first_touch": gettext_lazy("First touch"),
    "lead_touch": gettext_lazy("Lead touch"),
    "last_touch": gettext_lazy("Last touch"),
}
GROUP_LABELS = {
    "contact": gettext_lazy("Contact"),
    "company": gettext_lazy("Company"),
    "touch": gettext_lazy("Touches"),
    "inquiry": gettext_lazy("Inquiries"),
    "consent": gettext_lazy("Consent"),
    "custom": gettext_lazy("Custom fields"),
    "company_custom": gettext_lazy("Company custom fields"),
}
GROUP_ORDER = list(GROUP_LABELS)


def _group_of(name: str) -> str:
    head, _dot, rest = name.partition(".")
    if head == "custom":
        return "custom"
    if head == "company" and rest.startswith("custom."):
        return "company_custom"
    if head == "company" and rest:
        return "company"
    if head in segment_fields.TOUCH_WHICH or name == "channel":
        return "touch"
    if head in ("inquiry", "inquiries"):
        return "inquiry"
    if head == "consent":
        return "consent"
    return "contact"


def _label_of(name: str, custom: dict[str, Any], company_custom: dict[str, Any]) -> str:
    head, _dot, rest = name.partition(".")
    if name in FIELD_LABELS:
        return str(FIELD_LABELS[name])
    if head == "custom" and rest in custom:
        return str(custom[rest].label)
    if head == "company" and rest.startswith("custom.") and rest[7:] in company_custom:
        return str(company_custom[rest[7:]].label)
    if head == "company" and rest == "name":
        return str(COMPANY_LABELS["name"])
    if head == "company" and rest:
        return f"{GROUP_LABELS['company']}: {COMPANY_LABELS.get(rest, rest)}"
    if head in TOUCH_LABELS:
        return f"{TOUCH_LABELS[head]}: {TOUCH_FIELD_LABELS.get(rest, rest)}"
    if head == "consent":
        return f"{GROUP_LABELS['consent']}: {dict(ConsentChannel.choices).get(rest, rest)}"
    return name


def _choices_of(ref: segment_fields.FieldRef) -> list[str]:
    if ref.choices:
        return list(ref.choices)
    if ref.kind == segment_fields.STAGE:
        return list(Stage.values)
    if ref.kind == segment_fields.BAND:
        return list(segment_fields.BANDS)
    if ref.kind == segment_fields.BOOL:
        return ["true", "false"]
    if ref.family == "owner":
        return ["me"]
    return []


def field_catalogue() -> dict[str, Any]:
    """What the builder's field picker offers: every field of the segment language's field table
    (built-ins, company, touches, inquiries, consent, custom fields) with its kind and known
    values, grouped; and the names of tags and saved segments for their value lists."""
    table = segment_fields.FieldTable()
    custom, company_custom = table.custom, table.company_custom
    groups: dict[str, list[dict[str, Any]]] = {key: [] for key in GROUP_ORDER}
    for name in segment_fields.known_names(custom, company_custom):
        try:
            ref = table.resolve(name, 0)
        except FilterError:  # pragma: no cover - every known name resolves
            continue
        groups[_group_of(name)].append(
            {
                "name": name,
                "label": _label_of(name, custom, company_custom),
                "kind": ref.kind,
                "choices": _choices_of(ref),
            }
        )
    tags = list(contact_selectors.tag_list().values_list("name", flat=True)[:DATALIST_MAX])
    segments = list(Segment.objects.order_by("key").values_list("name", flat=True)[:DATALIST_MAX])
    return {
        "groups": [
            {"key": key, "label": str(GROUP_LABELS[key]), "fields": fields}
            for key, fields in groups.items()
            if fields
        ],
        "tags": tags,
        "segments": segments,
    }


# --- the preview endpoint ------------------------------------------------------------------------


class _Refused(Exception):
    """A preview request the endpoint answers with 400 and this error object."""

    def __init__(self, error: dict[str, Any], *, text: str | None = None) -> None:
        super().__init__(error.get("message", ""))
        self.error = error
        self.text = text


def _read_body(request: HttpRequest) -> dict[str, Any]:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > PREVIEW_BODY_MAX:
        raise _Refused({"message": _("The filter is too large")})
    try:
        raw = request.body
    except RequestDataTooBig:
        raise _Refused({"message": _("The filter is too large")}) from None
    if len(raw) > PREVIEW_BODY_MAX:
        raise _Refused({"message": _("The filter is too large")})
    try:
        data = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise _Refused({"message": _("The request is not valid JSON")}) from None
    # One of text/tree, and the id of the segment being edited when there is one.
    if (
        not isinstance(data, dict)
        or not (set(data) <= {"text", "tree", "segment"})
        or len(set(data) - {"segment"}) != 1
    ):
        raise _Refused({"message": _('Send {"text": "..."} or {"tree": {...}}')})
    return data


def _expand_text_leaves(tree: Any, path: str = "$", depth: int = 0) -> Any:
    """The builder's tree with each `{"op": "text", "text": ...}` leaf replaced by the JSON tree of
    that text; a leaf whose text does not parse is refused with its path and the position in it."""
    if not isinstance(tree, dict) or depth > MAX_DEPTH + 1:
        return tree  # from_json reports what is wrong here (with this path)
    op = tree.get("op")
    if op == "text":
        text = tree.get("text")
        if set(tree) != {"op", "text"} or not isinstance(text, str) or not text.strip():
            raise _Refused({"message": f"{path}: " + _("type a condition"), "path": path})
        try:
            return to_json(parse(text))
        except FilterSyntaxError as exc:
            raise _Refused(
                {"message": exc.message, "path": path, "position": exc.position, "in_condition": True}
            ) from None
    if op in ("and", "or") and isinstance(tree.get("children"), list):
        children = [
            _expand_text_leaves(child, f"{path}.children[{i}]", depth + 1)
            for i, child in enumerate(tree["children"])
        ]
        return {**tree, "children": children}
    if op == "not" and "child" in tree:
        return {**tree, "child": _expand_text_leaves(tree["child"], f"{path}.child", depth + 1)}
    return tree


def _leaf_paths(tree: dict[str, Any], path: str = "$") -> Iterator[str]:
    """JSON paths of the leaves of a valid tree, in text order."""
    if tree["op"] in ("and", "or"):
        for i, child in enumerate(tree["children"]):
            yield from _leaf_paths(child, f"{path}.children[{i}]")
    elif tree["op"] == "not":
        yield from _leaf_paths(tree["child"], f"{path}.child")
    else:
        yield path


def _leaf_nodes(node: Node) -> list[Node]:
    """The leaves (conditions) of an AST in text order: what to_json makes a leaf of."""
    found: list[Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, And | Or):
            stack.extend(reversed(current.children))
        elif isinstance(current, Not):
            stack.append(current.child)
        else:
            found.append(current)
    return found


def _path_at(tree: dict[str, Any], node: Node, position: int) -> str | None:
    """The JSON path (in `tree`, which `node` was read from) of the condition at `position` of
    the canonical text of `node`: both list the same conditions in the same order."""
    paths = list(_leaf_paths(tree))
    leaves = _leaf_nodes(node)
    if len(paths) != len(leaves):
        return None
    found = None
    for leaf_path, leaf in zip(paths, leaves, strict=True):
        if leaf.pos <= position:
            found = leaf_path
    return found


def _with_leaf_text(tree: dict[str, Any], node: Node) -> dict[str, Any]:
    """`tree` (the JSON tree of `node`) with each condition's canonical text added as "text"."""
    op = tree["op"]
    if op in ("and", "or"):
        children = [_with_leaf_text(t, n) for t, n in zip(tree["children"], node.children, strict=True)]  # type: ignore[union-attr]
        return {**tree, "children": children}
    if op == "not":
        return {**tree, "child": _with_leaf_text(tree["child"], node.child)}  # type: ignore[union-attr]
    return {**tree, "text": to_text(node)}


def _filter_error(exc: ServiceError) -> dict[str, Any]:
    message = exc.errors[0].message if exc.errors else exc.detail
    return {"message": message}


def _member(contact: Any) -> dict[str, Any]:
    return {
        "id": contact.pk,
        "name": contact.display_name,
        "email": contact.email,
        "url": reverse("web:contact_detail", args=[contact.pk]),
    }


def _editing(value: Any) -> int | None:
    """The id of the saved segment being edited, as the builder sends it (absent: a new one)."""
    if value in (None, ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 2**63:
        raise _Refused({"message": _("The segment being edited must be given by its id")})
    return value


def _preview(request: HttpRequest, data: dict[str, Any]) -> dict[str, Any]:
    empty: dict[str, Any] = {"text": "", "tree": None, "count": None, "members": [], "error": None}
    if "text" in data:
        text = data["text"]
        if not isinstance(text, str):
            raise _Refused({"message": _("The filter must be text")})
        if not text.strip():
            return empty
        tree = None
    else:
        text, tree = None, data["tree"]
        if tree is None or tree == {}:
            return empty
        tree = _expand_text_leaves(tree)
    try:
        # A savepoint: a value the database refuses (DataError) must not break the request's
        # transaction on PostgreSQL.
        with transaction.atomic():
            preview = selectors.filter_preview(
                user=request.user, text=text, tree=tree, segment_id=_editing(data.get("segment"))
            )
    except FilterTreeError as exc:
        raise _Refused({"message": exc.message, "path": exc.path}) from None
    except FilterError as exc:
        position = getattr(exc, "position", None)
        error = _filter_error(exc)
        if not isinstance(position, int):
            raise _Refused(error) from None
        error["position"] = position
        if tree is None:
            raise _Refused(error) from None
        # A tree that reads but does not compile (an unknown field, a wrong value): the position
        # is in its canonical text, which the answer carries, and the path names the condition.
        node = services.read_filter(tree=tree)
        path = _path_at(tree, node, position)
        if path is not None:
            error["path"] = path
        raise _Refused(error, text=to_text(node)) from None
    except (DataError, OverflowError):
        # A value the database cannot compare (a number beyond its range): the user's input.
        raise _Refused({"message": _("The database cannot compare a value in this filter")}) from None
    except ValidationFailed as exc:
        raise _Refused(_filter_error(exc)) from None
    node = parse(preview.text)
    return {
        "text": preview.text,
        "tree": _with_leaf_text(preview.tree, node),
        "count": preview.count,
        "members": [_member(c) for c in preview.items],
        "error": None,
    }


@login_required
@require_POST
def segment_preview(request: HttpRequest) -> JsonResponse:
    """The builder's live answer: canonical text, tree, count and first members of a filter."""
    if not has_perm(request.user, Perm.CONTACT_VIEW):  # type: ignore[arg-type]
        return JsonResponse({"error": {"message": _("You do not have permission to do this")}}, status=403)
    try:
        return JsonResponse(_preview(request, _read_body(request)))
    except _Refused as refused:
        body: dict[str, Any] = {
            "text": refused.text,
            "tree": None,
            "count": None,
            "members": [],
            "error": refused.error,
        }
        return JsonResponse(body, status=400)


# --- list, count, detail, members, export ----------------------------------------------------------


@login_required
@require_GET
@service_errors
def segment_list(request: HttpRequest) -> HttpResponse:
    cursor = request.GET.get("cursor") or None
    limit = int_param(request.GET.get("limit"), default=LIST_PAGE, low=1, high=200)
    error: ValidationFailed | None = None
    try:
        page = selectors.segment_list(user=request.user, cursor=cursor, limit=limit)
    except ValidationFailed as exc:  # a bad cursor
        page, error = Page(items=[], next=None), exc
    context = {"page": page, "cursor": cursor, "error": error, "can_edit": services.can_edit(request.user)}
    return render(request, "web/segments/list.html", context, status=400 if error else 200)


@login_required
@require_GET
@service_errors
def segment_count(request: HttpRequest, segment_id: int) -> HttpResponse:
    """The segment's count now, as a fragment (the list's "Count" button swaps it in)."""
    context: dict[str, Any] = {"segment_id": segment_id}
    try:
        context["count"] = selectors.segment_count(user=request.user, segment_id=segment_id)
    except ValidationFailed as exc:
        context["error"] = _filter_error(exc)["message"]
    return render(request, "web/segments/_count.html", context)


def _members(request: HttpRequest, segment: Segment) -> dict[str, Any]:
    cursor = request.GET.get("cursor") or None
    try:
        page = selectors.segment_members(
            user=request.user, segment_id=segment.pk, cursor=cursor, limit=MEMBERS_PAGE
        )
    except ValidationFailed as exc:
        return {"page": Page(items=[], next=None), "members_error": _filter_error(exc)["message"]}
    return {"page": page, "cursor": cursor, "members_error": None}


@login_required
@require_GET
@service_errors
def segment_detail(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = selectors.segment_get(user=request.user, segment_id=segment_id)
    context: dict[str, Any] = {"segment": segment, **_members(request, segment)}
    if is_partial(request):
        # "More": the next page of members, appended below the rows shown.
        return vary_on_htmx(render(request, "web/segments/_member_rows.html", context))
    try:
        context["count"] = selectors.segment_count(user=request.user, segment_id=segment_id)
    except ValidationFailed as exc:
        context["count"], context["filter_error"] = None, _filter_error(exc)["message"]
    context.update(
        can_edit=services.can_edit(request.user),
        used_by=sorted(segment.used_by.values_list("name", flat=True)),
    )
    return vary_on_htmx(render(request, "web/segments/detail.html", context))


@login_required
@require_GET
@service_errors
def segment_export(request: HttpRequest, segment_id: int) -> HttpResponse:
    """The segment's contacts (those the user may see) as the contacts CSV export."""
    require_perm(request, Perm.CONTACT_EXPORT)
    segment = selectors.segment_get(user=request.user, segment_id=segment_id)
    try:
        contacts = selectors.contacts_matching(user=request.user, segment=segment.pk)
        out = io.StringIO()
        exporter.export(kind="contacts", fmt="csv", out=out, actor=request.user, contacts=contacts)
    except ValidationFailed as exc:
        messages.error(request, _filter_error(exc)["message"])
        return redirect(reverse("web:segment_detail", args=[segment.pk]))
    name = slugify(segment.name) or str(segment.pk)
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="segment-{name}.csv"'
    return response


# --- create, edit, delete --------------------------------------------------------------------------


def _filter_position(exc: ServiceError) -> int | None:
    for err in exc.errors:
        position = getattr(err, "position", None)
        if err.field in ("filter", "tree") and isinstance(position, int):
            return position
    return None


def _form_page(
    request: HttpRequest,
    *,
    segment: Segment | None,
    values: dict[str, str],
    exc: ServiceError | None = None,
) -> HttpResponse:
    errors: dict[str, str] = {}
    if exc is not None:
        grouped = field_errors(exc.errors)
        errors = {name: " ".join(msgs) for name, msgs in grouped.items()}
        if "tree" in errors:  # the form sends text; a tree error still belongs to the filter
            errors["filter"] = errors.pop("tree")
    context = {
        "segment": segment,
        "creating": segment is None,
        "values": values,
        "errors": errors,
        "error_detail": exc.detail if exc is not None else "",
        "filter_position": _filter_position(exc) if exc is not None else None,
        "catalogue": field_catalogue(),
    }
    return render(request, "web/segments/form.html", context, status=exc.status if exc else 200)


def _detail_url(segment: Segment) -> str:
    return reverse("web:segment_detail", args=[segment.pk])


def _posted(request: HttpRequest) -> dict[str, str]:
    return {k: request.POST.get(k, "") for k in ("name", "description", "filter")}


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def segment_create(request: HttpRequest) -> HttpResponse:
    _require_editor(request)
    if request.method != "POST":
        initial = {"name": "", "description": "", "filter": request.GET.get("filter", "")[:10_000]}
        return _form_page(request, segment=None, values=initial)
    values = _posted(request)
    return form_post(
        request,
        lambda: services.segment_create(actor=request.user, **values),
        ok_message=_("Segment saved."),
        redirect_to=_detail_url,
        refused=lambda exc: _form_page(request, segment=None, values=values, exc=exc),
    )


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def segment_edit(request: HttpRequest, segment_id: int) -> HttpResponse:
    _require_editor(request)
    segment = selectors.segment_get(user=request.user, segment_id=segment_id)
    if request.method != "POST":
        initial = {"name": segment.name, "description": segment.description, "filter": segment.filter_text}
        return _form_page(request, segment=segment, values=initial)
    values = _posted(request)
    return form_post(
        request,
        lambda: services.segment_update(actor=request.user, segment_id=segment.pk, **values),
        ok_message=_("Segment saved."),
        redirect_to=_detail_url,
        refused=lambda exc: _form_page(request, segment=segment, values=values, exc=exc),
    )


@login_required
@require_http_methods(["GET", "POST"])
@service_errors
def segment_delete(request: HttpRequest, segment_id: int) -> HttpResponse:
    _require_editor(request)
    segment = selectors.segment_get(user=request.user, segment_id=segment_id)
    if request.method == "POST":
        try:
            services.segment_delete(actor=request.user, segment_id=segment.pk)
        except Conflict as exc:
            context = {"segment": segment, "error": exc.detail}
            return render(request, "web/segments/delete.html", context, status=exc.status)
        messages.success(request, _("Segment %(name)s deleted.") % {"name": segment.name})
        return redirect(reverse("web:segment_list"))
    return render(request, "web/segments/delete.html", {"segment": segment})
