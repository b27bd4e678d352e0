"""Write paths of saved segments: create, update, delete (audited, role-checked).

Marketing, admins and heads of sales create and edit segments; everyone who may view contacts
uses them (segments.selectors). A filter is checked by compiling it before it is saved: an
unknown field, a bad value or a segment it names that does not exist is a 400 with the
position; a chain of `in segment(...)` that comes back to the segment being saved is refused
with the path ("a → b → a").
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from leadbridge.core import clock
from leadbridge.core.audit import audit_record, diff
from leadbridge.core.errors import Conflict, FieldError, Forbidden, NotFound, ValidationFailed
from leadbridge.core.roles import Perm, has_perm
from leadbridge.segments.compiler import compile_filter
from leadbridge.segments.errors import with_position
from leadbridge.segments.language import (
    FilterError,
    InSegment,
    Node,
    from_json,
    parse,
    to_json,
    to_text,
    walk,
)
from leadbridge.segments.models import Segment

# Who may create, change and delete segments (everyone with contact view uses them).
NAME_MAX = 120
DESCRIPTION_MAX = 2000


def segment_key(name: str) -> str:
    return name.strip().lower()


def can_edit(user: Any) -> bool:
    return has_perm(user, Perm.SEGMENT_MANAGE)


def _require_editor(actor: Any) -> None:
    if not can_edit(actor):
        raise Forbidden(_("Only marketing, administrators and heads of sales may change segments"))


def read_filter(*, text: str | None = None, tree: Any = None) -> Node:
    """The AST of a filter given as text (field "filter") or as a JSON tree (field "tree")."""
    try:
        if tree is not None:
            return from_json(tree, field="tree")
        if text is None or not str(text).strip():
            raise ValidationFailed([FieldError("filter", _("Give a filter (text or tree)"))])
        return parse(text, field="filter")
    except FilterError as exc:
        raise with_position(exc) from None


def segment_resolver(*, replacing: tuple[str, Node] | None = None) -> Any:
    """`resolve_segment` for the compiler: a saved segment's filter by name (case-insensitive).

    `replacing=(key, node)` answers `node` for that key: the filter about to be saved, so that a
    cycle through it is found before it exists.
    """
    cache: dict[str, Node | None] = {}

    def resolve(name: str) -> Node | None:
        key = segment_key(name)
        if replacing is not None and key == replacing[0]:
            return replacing[1]
        if key not in cache:
            text = Segment.objects.filter(key=key).values_list("filter_text", flat=True).first()
            cache[key] = parse(text) if text is not None else None
        return cache[key]

    return resolve


def _check(key: str, node: Node, *, field: str) -> list[str]:
    """Compile `node` as the filter of segment `key` (cycles included); the keys of the segments it names."""
    try:
        compile_filter(
            node, resolve_segment=segment_resolver(replacing=(key, node)), field=field, within=[key]
        )
    except FilterError as exc:
        raise with_position(exc) from None
    return sorted({segment_key(n.name) for n in walk(node) if isinstance(n, InSegment)})


def _clean_name(name: Any, errors: list[FieldError]) -> str:
    text = str(name or "").strip()
    if not text:
        errors.append(FieldError("name", _("This field is required")))
    elif len(text) > NAME_MAX:
        errors.append(FieldError("name", _("At most %(limit)s characters") % {"limit": NAME_MAX}))
    return text


def _clean_description(value: Any, errors: list[FieldError]) -> str:
    text = str(value or "").strip()
    if len(text) > DESCRIPTION_MAX:
        errors.append(
            FieldError("description", _("At most %(limit)s characters") % {"limit": DESCRIPTION_MAX})
        )
    return text


def _snapshot(segment: Segment) -> dict[str, Any]:
    return {"name": segment.name, "description": segment.description, "filter": segment.filter_text}


def _name_taken(key: str, name: str, exclude: int | None = None) -> Conflict | None:
    others = Segment.objects.filter(key=key)
    clash = (others.exclude(pk=exclude) if exclude is not None else others).first()
    if clash is None:
        return None
    message = _("A segment named %(name)s already exists") % {"name": repr(clash.name)}
    return Conflict(message, [FieldError("name", message)])


def _set_uses(segment: Segment, keys: list[str]) -> None:
    segment.uses.set(list(Segment.objects.filter(key__in=keys).exclude(pk=segment.pk)))


@transaction.atomic
def segment_create(
    *,
    actor: Any,
    name: str,
    filter: str | None = None,
    tree: Any = None,
    description: str = "",
) -> Segment:
    _require_editor(actor)
    errors: list[FieldError] = []
    name = _clean_name(name, errors)
    description = _clean_description(description, errors)
    if errors:
        raise ValidationFailed(errors)
    node = read_filter(text=filter, tree=tree)
    key = segment_key(name)
    if clash := _name_taken(key, name):
        raise clash
    uses = _check(key, node, field="tree" if tree is not None else "filter")
    segment = Segment.objects.create(
        name=name,
        key=key,
        description=description,
        filter_text=to_text(node),
        filter_json=to_json(node),
        owner=actor,
    )
    _set_uses(segment, uses)
    audit_record(
        actor=actor,
        action="segment.create",
        object_type="segment",
        object_id=segment.pk,
        after=_snapshot(segment),
    )
    return segment


def _get_for_update(segment_id: int) -> Segment:
    segment = Segment.objects.select_for_update().filter(pk=segment_id).first()
    if segment is None:
        raise NotFound(_("Segment not found"))
    return segment


def _used_by(segment: Segment) -> list[str]:
    return sorted(segment.used_by.values_list("name", flat=True))


@transaction.atomic
def segment_update(
    *,
    actor: Any,
    segment_id: int,
    name: str | None = None,
    filter: str | None = None,
    tree: Any = None,
    description: str | None = None,
) -> Segment:
    """Change what is given (None: keep). Renaming a segment other segments use is refused:
    their filters name it."""
    _require_editor(actor)
    segment = _get_for_update(segment_id)
    before = _snapshot(segment)
    errors: list[FieldError] = []
    new_name = _clean_name(name, errors) if name is not None else segment.name
    new_description = (
        _clean_description(description, errors) if description is not None else segment.description
    )
    if errors:
        raise ValidationFailed(errors)
    key = segment_key(new_name)
    if key != segment.key:
        if clash := _name_taken(key, new_name, exclude=segment.pk):
            raise clash
        users = _used_by(segment)
        if users:
            message = _("Segment %(name)s is used by %(users)s: change their filters first") % {
                "name": repr(segment.name),
                "users": ", ".join(repr(u) for u in users),
            }
            raise Conflict(message, [FieldError("name", message)])
    node = (
        read_filter(text=filter, tree=tree)
        if filter is not None or tree is not None
        else parse(segment.filter_text)
    )
    uses = _check(key, node, field="tree" if tree is not None else "filter")
    segment.name, segment.key, segment.description = new_name, key, new_description
    segment.filter_text, segment.filter_json = to_text(node), to_json(node)
    segment.updated_at = clock.now()
    segment.save()
    _set_uses(segment, uses)
    old, new = diff(before, _snapshot(segment))
    if new:
        audit_record(
            actor=actor,
            action="segment.update",
            object_type="segment",
            object_id=segment.pk,
            before=old,
            after=new,
        )
    return segment


@transaction.atomic
def segment_delete(*, actor: Any, segment_id: int) -> None:
    """Delete a segment no other segment uses (theirs would stop compiling)."""
    _require_editor(actor)
    segment = _get_for_update(segment_id)
    users = _used_by(segment)
    if users:
        raise Conflict(
            _("Segment %(name)s is used by %(users)s: change their filters first")
            % {"name": repr(segment.name), "users": ", ".join(repr(u) for u in users)}
        )
    before = _snapshot(segment)
    pk = segment.pk
    segment.delete()
    audit_record(actor=actor, action="segment.delete", object_type="segment", object_id=pk, before=before)
