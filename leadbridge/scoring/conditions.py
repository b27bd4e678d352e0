"""Conditions of behaviour rules: a filter in the segment language over the fields of the thing
that happened (a tracking hit, an inquiry, a touch), evaluated in Python on each row.

    url ~ "/pricing" and not referrer exists
    name in (signup, "trial start") and props.plan = pro
    props.amount >= 100

`compile_condition(text, source=...)` parses the text once and turns the tree into one Python
function `row -> bool`; the worker calls it for every candidate row (no SQL: the rows are already
in memory). Unknown fields, and filter terms that are about contacts rather than the row (`tag:`,
`visited(...)`, dates), are refused with their position when the rule is saved.

Semantics follow the contact filters (segments/compiler.py): text `=` is exact, `~` is a
case-insensitive "contains", `!=`, `not in` and `!~` are the negation of their positive form
(a missing value matches `url != x`), numbers compare as numbers (a property holding "12"
compares as 12), `exists` means present and not empty. `props.<key>` (and `fields.<key>` of an
inquiry) read the JSON the tracker (or the form) sent; `props.a.b` goes into nested objects.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from django.utils.translation import gettext as _

from leadbridge.capture.models import InquiryKind, TouchKind
from leadbridge.scoring.models import RuleSource
from leadbridge.segments.fields import CompileError
from leadbridge.segments.language import (
    And,
    Bare,
    Bool,
    Compare,
    Contains,
    Exists,
    In,
    Node,
    Not,
    Null,
    Num,
    Or,
    Range,
    Str,
    Value,
    fields,
    parse,
    value_text,
)

Row = dict[str, Any]
Predicate = Callable[[Row], bool]
Getter = Callable[[Row], Any]

HIT_KINDS = ("pageview", "event", "pixel")
TEXT = "text"
CHOICE = "choice"
JSON_FIELD = "json"


def _split_url(url: str) -> tuple[str, str]:
    """(lower-cased host, path) of an absolute URL; a fast path for the common shape, urlsplit
    for anything unusual (user info, ports with brackets, relative URLs)."""
    scheme_end = url.find("://")
    if scheme_end > 0 and "@" not in url and "[" not in url:
        rest = url[scheme_end + 3 :]
        cut = len(rest)
        for mark in "/?#":
            found = rest.find(mark)
            if 0 <= found < cut:
                cut = found
        host = rest[:cut].rsplit(":", 1)[0] if ":" in rest[:cut] else rest[:cut]
        path = rest[cut:]
        for mark in "?#":
            found = path.find(mark)
            if found >= 0:
                path = path[:found]
        return host.lower(), path
    try:
        split = urlsplit(url)
    except ValueError:
        return "", ""
    return (split.hostname or "").lower(), split.path


def _url_parts(row: Row) -> tuple[str, str]:
    parts = row.get("_url")
    if parts is None:
        parts = row["_url"] = _split_url(row.get("url") or "")
    return parts


def _host(row: Row) -> str:
    return _url_parts(row)[0]


def _path(row: Row) -> str:
    return _url_parts(row)[1]


# (kind, getter, choices) per field name, per source. Choice fields take the listed words only.
_HIT_FIELDS: dict[str, tuple[str, Getter | None, tuple[str, ...]]] = {
    "url": (TEXT, None, ()),
    "path": (TEXT, _path, ()),
    "host": (TEXT, _host, ()),
    "title": (TEXT, None, ()),
    "referrer": (TEXT, None, ()),
    "name": (TEXT, None, ()),
    "kind": (CHOICE, None, HIT_KINDS),
    "props": (JSON_FIELD, None, ()),
}
_INQUIRY_FIELDS: dict[str, tuple[str, Getter | None, tuple[str, ...]]] = {
    "kind": (CHOICE, None, tuple(InquiryKind.values)),
    "subject": (TEXT, None, ()),
    "message": (TEXT, None, ()),
    "class": (TEXT, None, ()),
    "class_kind": (CHOICE, None, ("target", "upsell", "service", "junk")),
    "fields": (JSON_FIELD, None, ()),
}
_TOUCH_FIELDS: dict[str, tuple[str, Getter | None, tuple[str, ...]]] = {
    "kind": (CHOICE, None, tuple(TouchKind.values)),
    "channel": (TEXT, None, ()),
    "source": (TEXT, None, ()),
    "medium": (TEXT, None, ()),
    "campaign": (TEXT, None, ()),
    "term": (TEXT, None, ()),
    "content": (TEXT, None, ()),
    "landing_page": (TEXT, None, ()),
    "referrer": (TEXT, None, ()),
}
SOURCE_FIELDS: dict[str, dict[str, tuple[str, Getter | None, tuple[str, ...]]]] = {
    RuleSource.PAGEVIEW: _HIT_FIELDS,
    RuleSource.EVENT: _HIT_FIELDS,
    RuleSource.PIXEL: _HIT_FIELDS,
    RuleSource.INQUIRY: _INQUIRY_FIELDS,
    RuleSource.TOUCH: _TOUCH_FIELDS,
}


def field_names(source: str) -> list[str]:
    """The names a condition on `source` may use, for help texts (`props.<key>` as written)."""
    return [
        f"{name}.<key>" if kind == JSON_FIELD else name
        for name, (kind, _g, _c) in SOURCE_FIELDS[source].items()
    ]


def _json_getter(column: str, path: tuple[str, ...]) -> Getter:
    """Reads `column.path`: the column holds JSON text (parsed once per row, then kept) or a dict."""

    def get(row: Row) -> Any:
        data = row.get(column)
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except ValueError:
                data = None
            row[column] = data
        for part in path:
            if not isinstance(data, dict):
                return None
            data = data.get(part)
        return data

    return get


def _plain_getter(name: str) -> Getter:
    def get(row: Row) -> Any:
        return row.get(name)

    return get


def _number(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        return number if number.is_finite() else None
    return None


def _text(value: Any) -> str | None:
    """The value as text for `=` and `~` (a JSON true is "true"); None when missing."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return str(value)


def _present(value: Any) -> bool:
    return value is not None and value != "" and value != [] and value != {}


class _Compiler:
    def __init__(self, source: str, field: str) -> None:
        self.source = source
        self.fields = SOURCE_FIELDS[source]
        self.field = field

    def error(self, pos: int, reason: str) -> CompileError:
        return CompileError(pos, reason, field=self.field)

    def node(self, node: Node) -> Predicate:
        if isinstance(node, And):
            parts = [self.node(c) for c in node.children]
            return lambda row: all(p(row) for p in parts)
        if isinstance(node, Or):
            parts = [self.node(c) for c in node.children]
            return lambda row: any(p(row) for p in parts)
        if isinstance(node, Not):
            inner = self.node(node.child)
            return lambda row: not inner(row)
        if isinstance(node, Compare):
            return self.compare(node)
        if isinstance(node, In):
            return self.member(node)
        if isinstance(node, Contains):
            return self.contains(node)
        if isinstance(node, Range):
            return self.range(node)
        if isinstance(node, Exists):
            get = self.getter(node.field, node.pos)
            if node.negated:
                return lambda row: not _present(get(row))
            return lambda row: _present(get(row))
        raise self.error(
            node.pos,
            _(
                "this condition is about contacts, not about the %(source)s itself: "
                "use the fields %(fields)s here, or a fit rule for contact conditions"
            )
            % {"source": RuleSource(self.source).label, "fields": ", ".join(field_names(self.source))},
        )

    # -- fields

    def spec(self, name: str, pos: int) -> tuple[str, Getter, tuple[str, ...]]:
        head, _dot, rest = name.partition(".")
        entry = self.fields.get(head.lower())
        # `props` needs a key (`props.plan`); the other fields take none.
        if entry is None or (entry[0] == JSON_FIELD) != bool(rest):
            raise self.error(
                pos,
                _("unknown field %(field)s here (use %(fields)s)")
                % {"field": f"'{name}'", "fields": ", ".join(field_names(self.source))},
            )
        kind, getter, choices = entry
        if kind == JSON_FIELD:
            return kind, _json_getter(head.lower(), tuple(rest.split("."))), ()
        return kind, getter or _plain_getter(head.lower()), choices

    def getter(self, name: str, pos: int) -> Getter:
        return self.spec(name, pos)[1]

    # -- values

    def word(self, value: Value, kind: str, choices: tuple[str, ...]) -> Any:
        """The comparable form of a value: str for text/choice, Decimal for numbers, bool, None."""
        if isinstance(value, Str | Bare):
            text = value.value
            if kind == CHOICE:
                if text.lower() not in choices:
                    raise self.error(
                        value.pos,
                        _("unknown value %(value)s (use %(choices)s)")
                        % {"value": f"'{text}'", "choices": ", ".join(choices)},
                    )
                return text.lower()
            return text
        if isinstance(value, Num):
            if kind == CHOICE:
                raise self.error(value.pos, _("a number cannot be compared with this field"))
            return value.value
        if isinstance(value, Bool):
            return value.value
        if isinstance(value, Null):
            return None
        raise self.error(
            value.pos, _("%(value)s cannot be used in a rule condition") % {"value": f"'{value_text(value)}'"}
        )

    def compare(self, node: Compare) -> Predicate:
        kind, get, choices = self.spec(node.field, node.pos)
        expected = self.word(node.value, kind, choices)
        op = node.op
        if op in ("=", "!="):
            test = _equals(get, expected)
            if op == "!=":
                return lambda row: not test(row)
            return test
        if isinstance(expected, Decimal):
            return _ordered(get, op, expected)
        if isinstance(expected, str) and kind != CHOICE:
            return _ordered_text(get, op, expected)
        raise self.error(node.pos, _("%(op)s needs a number or a text here") % {"op": op})

    def member(self, node: In) -> Predicate:
        kind, get, choices = self.spec(node.field, node.pos)
        tests = [_equals(get, self.word(v, kind, choices)) for v in node.values]
        if node.negated:
            return lambda row: not any(t(row) for t in tests)
        return lambda row: any(t(row) for t in tests)

    def contains(self, node: Contains) -> Predicate:
        _kind, get, _choices = self.spec(node.field, node.pos)
        needle = node.value.lower()

        def test(row: Row) -> bool:
            text = _text(get(row))
            return text is not None and needle in text.lower()

        if node.negated:
            return lambda row: not test(row)
        return test

    def range(self, node: Range) -> Predicate:
        _kind, get, _choices = self.spec(node.field, node.pos)
        low, high = (self.word(v, TEXT, ()) for v in (node.low, node.high))
        if not isinstance(low, Decimal) or not isinstance(high, Decimal):
            raise self.error(node.pos, _("between needs two numbers here"))

        def test(row: Row) -> bool:
            number = _number(get(row))
            return number is not None and low <= number <= high

        return test


def _equals(get: Getter, expected: Any) -> Predicate:
    if expected is None:
        return lambda row: not _present(get(row))
    if isinstance(expected, bool):
        word = "true" if expected else "false"
        return lambda row: _text(get(row)) == word
    if isinstance(expected, Decimal):
        return lambda row: _number(get(row)) == expected
    return lambda row: _text(get(row)) == expected


_ORDER = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}


def _ordered(get: Getter, op: str, expected: Decimal) -> Predicate:
    check = _ORDER[op]

    def test(row: Row) -> bool:
        number = _number(get(row))
        return number is not None and check(number, expected)

    return test


def _ordered_text(get: Getter, op: str, expected: str) -> Predicate:
    check = _ORDER[op]

    def test(row: Row) -> bool:
        text = _text(get(row))
        return text is not None and check(text, expected)

    return test


def parse_condition(text: str, *, field: str = "condition") -> Node | None:
    """The filter tree of a condition (None when blank); raises FilterSyntaxError with a position."""
    if not text or not text.strip():
        return None
    return parse(text, field=field)


def compile_condition(text: str, *, source: str, field: str = "condition") -> Predicate | None:
    """One function `row -> bool` for `text` over the fields of `source` (None: no condition)."""
    node = parse_condition(text, field=field)
    if node is None:
        return None
    return _Compiler(source, field).node(node)


# The column of the row each field reads (path and host come from the url).
_COLUMN_OF = {"path": "url", "host": "url"}


def columns_used(text: str) -> frozenset[str]:
    """The row columns a condition reads ("url", "props", ...): the worker fetches only those."""
    node = parse_condition(text)
    if node is None:
        return frozenset()
    heads = {use.name.partition(".")[0].lower() for use in fields(node)}
    return frozenset(_COLUMN_OF.get(h, h) for h in heads)


def evaluate(text: str, *, source: str, row: Mapping[str, Any]) -> bool:
    """Whether `row` meets the condition (a blank condition always does): tests and the rule tester."""
    predicate = compile_condition(text, source=source)
    return True if predicate is None else predicate(dict(row))
