"""Reads of segments and of contacts through filters: every one checks that the user may view
contacts and limits the contacts to those the user may see (sales: their own and their team's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.utils.translation import gettext as _

from leadbridge.contacts.models import Contact, ContactQuerySet, ContactTag
from leadbridge.contacts.selectors import owner_box_is_nobody, stage_box
from leadbridge.core.errors import NotFound, field_error
from leadbridge.core.pagination import Page, keyset_page
from leadbridge.core.permissions import require
from leadbridge.core.roles import Perm
from leadbridge.segments.compiler import (
    Compiled,
    Part,
    and_parts,
    compile_filter,
    count,
    member_page,
    queryset,
    sql,
)
from leadbridge.segments.errors import with_position
from leadbridge.segments.language import (
    And,
    Compare,
    Exists,
    FilterError,
    Node,
    Str,
    Tag,
    parse,
    to_json,
    to_text,
)
from leadbridge.segments.models import Segment
from leadbridge.segments.services import read_filter, segment_key, segment_resolver

MAX_PAGE = 200
PREVIEW_ITEMS = 10


def full_rows() -> ContactQuerySet:
    """Contacts loaded for the API's ContactOut: company joined; owner, tags, extra points prefetched."""
    return Contact.objects.select_related("company").prefetch_related(
        "owner",
        Prefetch("tag_links", queryset=ContactTag.objects.select_related("tag")),
        "points",
    )


# --- segments --------------------------------------------------------------------------------------


def segment_list(*, user: Any, cursor: str | None = None, limit: int = 50) -> Page[Segment]:
    """Saved segments, newest first."""
    require(user, Perm.CONTACT_VIEW)
    qs: QuerySet[Segment] = Segment.objects.select_related("owner").prefetch_related("uses").order_by()
    return keyset_page(qs, cursor=cursor, limit=max(1, min(limit, MAX_PAGE)))


def segment_get(*, user: Any, segment_id: int) -> Segment:
    require(user, Perm.CONTACT_VIEW)
    segment = Segment.objects.select_related("owner").prefetch_related("uses").filter(pk=segment_id).first()
    if segment is None:
        raise NotFound(_("Segment not found"))
    return segment


def segment_find(*, user: Any, ref: str | int) -> Segment:
    """A segment by id or by name (case-insensitive); `user=None` is the system (the CLI)."""
    if user is not None:
        require(user, Perm.CONTACT_VIEW)
    text = str(ref).strip()
    segment = None
    if text.isdigit() and len(text) < 19:
        segment = Segment.objects.select_related("owner").filter(pk=int(text)).first()
    if segment is None:
        segment = Segment.objects.select_related("owner").filter(key=segment_key(text)).first()
    if segment is None:
        raise NotFound(_("Segment %(ref)s not found") % {"ref": repr(text[:120])})
    return segment


def segment_compiled(*, user: Any, segment: Segment, field: str = "filter", scoped: bool = True) -> Compiled:
    """The segment's filter compiled now, for `user` (None: the system, every contact)."""
    if user is not None:
        require(user, Perm.CONTACT_VIEW)
    node = parse(segment.filter_text, field=field)
    try:
        return compile_filter(
            node,
            user=user,
            resolve_segment=segment_resolver(),
            field=field,
            within=[segment.key],
            scoped=scoped,
        )
    except FilterError as exc:
        raise with_position(exc) from None


def segment_count(*, user: Any, segment_id: int) -> int:
    segment = segment_get(user=user, segment_id=segment_id)
    return count(segment_compiled(user=user, segment=segment))


def segment_members(
    *, user: Any, segment_id: int, cursor: str | None = None, limit: int = 50
) -> Page[Contact]:
    segment = segment_get(user=user, segment_id=segment_id)
    compiled = segment_compiled(user=user, segment=segment)
    return member_page(compiled, cursor, max(1, min(limit, MAX_PAGE)), contacts=full_rows())


# --- filters ---------------------------------------------------------------------------------------


def filter_compiled(
    *,
    user: Any,
    text: str | None = None,
    node: Node | None = None,
    field: str = "q",
    editing: Segment | None = None,
) -> Compiled:
    """Compile filter text (or an AST; neither: every contact) for `user`; errors carry the
    position and name `field`. `editing`: the filter is that segment's new filter, so that
    segments naming it see the new one and a cycle through it is an error now, not at saving."""
    if user is not None:
        require(user, Perm.CONTACT_VIEW)
    try:
        if node is None and text is not None:
            node = parse(text, field=field)
        if editing is not None and node is not None:
            resolver = segment_resolver(replacing=(editing.key, node))
            return compile_filter(
                node, user=user, resolve_segment=resolver, field=field, within=[editing.key]
            )
        return compile_filter(node, user=user, resolve_segment=segment_resolver(), field=field)
    except FilterError as exc:
        raise with_position(exc) from None


@dataclass
class Preview:
    count: int
    items: list[Contact]
    text: str
    tree: dict[str, Any]


def filter_preview(
    *,
    user: Any,
    text: str | None = None,
    tree: Any = None,
    limit: int = PREVIEW_ITEMS,
    segment_id: int | None = None,
) -> Preview:
    """What the builder shows while a filter is edited: the count, the newest matches, and the
    filter's canonical text and JSON tree. `segment_id`: the saved segment being edited (a
    cycle through it is reported while editing)."""
    require(user, Perm.CONTACT_VIEW)
    editing = segment_get(user=user, segment_id=segment_id) if segment_id is not None else None
    node = read_filter(text=text, tree=tree)
    field = "tree" if tree is not None else "filter"
    compiled = filter_compiled(user=user, node=node, field=field, editing=editing)
    page = member_page(compiled, None, limit, contacts=full_rows())
    return Preview(count=count(compiled), items=page.items, text=to_text(node), tree=to_json(node))


def contacts_matching(*, user: Any, text: str = "", segment: str | int | None = None) -> ContactQuerySet:
    """The contacts matching filter text and/or a saved segment (by id or name), as a queryset
    (exports). `user=None` is the system: every alive contact."""
    parts: list[Compiled] = []
    if segment not in (None, ""):
        found = segment_find(user=user, ref=segment)
        parts.append(segment_compiled(user=user, segment=found))
    if text.strip():
        parts.append(filter_compiled(user=user, text=text))
    if not parts:
        parts.append(compile_filter(None, user=user))
    qs = queryset(parts[0])
    for extra in parts[1:]:
        qs = qs & queryset(extra)
    return qs


def contact_search(
    *,
    user: Any,
    q: str = "",
    segment: str | int | None = None,
    tag: str = "",
    stage: str = "",
    owner: str = "",
    company_id: int | None = None,
    cursor: str | None = None,
    limit: int = 50,
    contacts: ContactQuerySet | None = None,
) -> Page[Contact]:
    """Contacts `user` may see matching filter text `q` (plain words search name, email and
    phone), a saved segment (id or name) and the list's own filters, newest first.

    `q` and the list's filters compile as one filter (one tag look-up, one visibility rule);
    a page is one query (the ids in the shape that stops early, and their rows).
    """
    require(user, Perm.CONTACT_VIEW)
    nodes: list[Node] = []
    if q.strip():
        try:
            nodes.append(parse(q, field="q", search=True))
        except FilterError as exc:
            raise with_position(exc) from None
    if tag:
        nodes.append(Tag(tag))
    if stage:
        nodes.append(Compare("stage", "=", Str(stage_box(stage))))
    if owner:
        none = owner_box_is_nobody(owner)
        nodes.append(Exists("owner", negated=True) if none else Compare("owner", "=", Str(owner)))
    node: Node | None = None
    if nodes:
        node = nodes[0] if len(nodes) == 1 else And(tuple(nodes))
    compiled = filter_compiled(user=user, node=node, field="q")
    parts = [compiled.part]
    if segment not in (None, ""):
        try:
            found = segment_find(user=user, ref=segment)
        except NotFound as exc:
            raise field_error("segment", exc.detail) from None
        parts.append(segment_compiled(user=user, segment=found, field="segment", scoped=False).part)
    if company_id:
        parts.append(Part("pred", sql("c.company_id = %s", company_id)))
    combined = Compiled(None, and_parts(parts), compiled.visibility)
    return member_page(combined, cursor, max(1, min(limit, MAX_PAGE)), contacts=contacts)


def search_compiled(*, user: Any, text: str, field: str = "q") -> Compiled:
    """Filter text of the contact list and the API's `q=`: the language, plus plain search words."""
    try:
        node = parse(text, field=field, search=True)
    except FilterError as exc:
        raise with_position(exc) from None
    return filter_compiled(user=user, node=node, field=field)
