"""A small filter syntax for contact lists until the full segment language lands.

Terms are joined by AND: `tag:beach`, `stage=mql`, `stage>=mql`, `owner=anna`, `score>=40`,
`email~@example.com`, `city=Москва`, `custom.partner_name=Roses`, `custom.partner_name exists`,
and plain words, which search name, email and phone.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from leadbridge.contacts.models import STAGE_ORDER, ContactQuerySet, ContactTag, Tag
from leadbridge.contacts.validation import Invalid, normalize_phone
from leadbridge.core.errors import field_error

_TERM = re.compile(r"^(?P<field>[a-z_][a-z0-9_.]*)\s*(?P<op>>=|<=|!=|=|>|<|~)\s*(?P<value>.*)$", re.I)
TEXT_FIELDS = {
    "name",
    "first_name",
    "last_name",
    "email",
    "phone",
    "city",
    "country",
    "region",
    "external_id",
    "job_title",
}
NUMBER_FIELDS = {"score", "id"}
_WHOLE_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}")
LOOKUP = {">": "gt", ">=": "gte", "<": "lt", "<=": "lte", "=": "exact"}
# shlex's own messages (English) for the quoting mistakes people make, translated.
_SHLEX_ERRORS = {
    "No closing quotation": gettext_lazy("No closing quotation"),
    "No escaped character": gettext_lazy("No escaped character"),
}


def _search(word: str) -> Q:
    if "@" in word:
        lowered = word.lower()
        # A whole address is an index lookup; a prefix LIKE scans the table on both databases.
        if _WHOLE_EMAIL.fullmatch(lowered):
            return Q(email=lowered)
        return Q(email__startswith=lowered)
    digits = re.sub(r"\D", "", word)
    if len(digits) >= 6 and len(digits) >= len(word) - 4:
        try:
            return Q(phone=normalize_phone(word))
        except Invalid:
            return Q(phone__contains=digits)
    return Q(name__icontains=word) | Q(email__startswith=word.lower()) | Q(last_name__istartswith=word)


@dataclass
class ParsedFilter:
    """A filter expression read into its parts: tag keys (lower-cased, in the order written) and
    the other terms' conditions. Tags stay keys so that the caller can resolve them to ids first."""

    tags: list[str] = field(default_factory=list)
    conditions: list[Q] = field(default_factory=list)


def parse_simple_filter(expr: str) -> ParsedFilter:
    """Read `expr` without touching the database; bad terms raise a field error on `q`."""
    parsed = ParsedFilter()
    expr = (expr or "").strip()
    if not expr:
        return parsed
    if len(expr) > 2000:
        raise field_error("q", _("Filter is longer than 2000 characters"))
    try:
        tokens = shlex.split(expr)
    except ValueError as exc:
        problem = _SHLEX_ERRORS.get(str(exc), str(exc))
        raise field_error("q", _("Cannot read the filter: %(problem)s") % {"problem": problem}) from exc
    i = 0
    while i < len(tokens):
        token = tokens[i]
        low = token.lower()
        if low == "and":
            i += 1
            continue
        if low.startswith("tag:"):
            name = token[4:].strip().lower()
            if not name:
                raise field_error(
                    "q", _("Term %(position)s: tag name missing after 'tag:'") % {"position": i + 1}
                )
            parsed.tags.append(name)
            i += 1
            continue
        if i + 1 < len(tokens) and tokens[i + 1].lower() == "exists" and low.startswith("custom."):
            parsed.conditions.append(Q(**{f"custom__{low[7:]}__isnull": False}))
            i += 2
            continue
        # Allow "field = value" written with spaces.
        if i + 2 < len(tokens) and tokens[i + 1] in LOOKUP.keys() | {"~", "!="}:
            token = token + tokens[i + 1] + tokens[i + 2]
            i += 2
        match = _TERM.match(token)
        if not match:
            parsed.conditions.append(_search(token))
            i += 1
            continue
        parsed.conditions.append(_term(match["field"].lower(), match["op"], match["value"], position=i + 1))
        i += 1
    return parsed


def tag_ids(keys: Iterable[str]) -> dict[str, int] | None:
    """Ids of the tags by key, or None when one of them does not exist (then nothing matches).

    Filtering on the id rather than `tag__key` lets the planners use the link table's statistics
    and its (tag, contact) index: with the key, PostgreSQL guessed 6,000 links for every tag."""
    wanted = set(keys)
    if not wanted:
        return {}
    found = dict(Tag.objects.filter(key__in=wanted).values_list("key", "id"))
    return found if len(found) == len(wanted) else None


def has_tag(tag_id: int) -> Exists:
    return Exists(ContactTag.objects.filter(contact=OuterRef("pk"), tag_id=tag_id))


def apply_simple_filter(qs: ContactQuerySet, expr: str) -> ContactQuerySet:
    parsed = parse_simple_filter(expr)
    ids = tag_ids(parsed.tags)
    if ids is None:
        return qs.none()
    for tag_id in ids.values():
        qs = qs.filter(has_tag(tag_id))
    for condition in parsed.conditions:
        qs = qs.filter(condition)
    return qs


def _term(field: str, op: str, value: str, *, position: int) -> Q:
    if field == "stage":
        stage = value.lower()
        if stage not in STAGE_ORDER:
            raise field_error(
                "q",
                _("Term %(position)s: unknown stage %(stage)s")
                % {"position": position, "stage": repr(value)},
            )
        if op in {"=", "!="}:
            q = Q(stage=stage)
            return ~q if op == "!=" else q
        if op == "~":
            raise field_error(
                "q", _("Term %(position)s: '~' does not apply to stage") % {"position": position}
            )
        rank = STAGE_ORDER[stage]
        check = {
            ">": lambda r: r > rank,
            ">=": lambda r: r >= rank,
            "<": lambda r: r < rank,
            "<=": lambda r: r <= rank,
        }[op]
        funnel = ["subscriber", "lead", "mql", "sql", "opportunity", "customer"]
        return Q(stage__in=[s for s in funnel if check(STAGE_ORDER[s])])
    if field == "owner":
        if op not in {"=", "!="}:
            raise field_error("q", _("Term %(position)s: owner takes = or !=") % {"position": position})
        q = (
            Q(owner__isnull=True)
            if value.lower() in {"none", "nobody", ""}
            else Q(owner__username__iexact=value)
        )
        return ~q if op == "!=" else q
    if field == "company":
        return Q(company__name__icontains=value) if op == "~" else Q(company__name__iexact=value)
    if field in NUMBER_FIELDS:
        try:
            number = int(value)
        except ValueError as exc:
            message = _("Term %(position)s: %(field)s needs a whole number, got %(value)s") % {
                "position": position,
                "field": field,
                "value": repr(value),
            }
            raise field_error("q", message) from exc
        if op == "~":
            raise field_error(
                "q", _("Term %(position)s: '~' does not apply to numbers") % {"position": position}
            )
        if op == "!=":
            return ~Q(**{field: number})
        return Q(**{f"{field}__{LOOKUP[op]}": number})
    if field in TEXT_FIELDS or field.startswith("custom."):
        key = field.replace(".", "__")
        if op == "~":
            return Q(**{f"{key}__icontains": value})
        if op == "!=":
            return ~Q(**{key: value})
        if op == "=":
            return Q(
                **{f"{key}__iexact" if field in {"name", "city", "first_name", "last_name"} else key: value}
            )
        return Q(**{f"{key}__{LOOKUP[op]}": value})
    raise field_error(
        "q", _("Term %(position)s: unknown field %(field)s") % {"position": position, "field": repr(field)}
    )
