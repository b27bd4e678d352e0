# ruff: noqa: S608, S611 - SQL is built here: identifiers come from our own models and the field table, every value is a parameter.
"""Compile a segment filter (the AST of `segments.language`) to SQL over contacts.

    compiled = compile_filter(parse(text), user=request.user)
    count(compiled); member_page(compiled, cursor=None, limit=50); queryset(compiled)

Every node becomes one *part*:

    set    a SELECT of contact ids driven by an index: tags (the (tag_id, contact_id) index of
           contacts_contacttag), touches, inquiries, consents, behaviour, `in segment(...)`
    comp   every contact except a set (`not tag:x`)
    pred   a condition on the contact row `c` (built-in fields, custom.*, company.*, owner, team,
           stage, band, score, dates)
    empty / all   constants (an unknown tag is an empty set: an `and` with it is decided in
           Python, without a query)

`and` intersects its sets (INTERSECT), subtracts its comps (EXCEPT) and applies its predicates
to the rows of the result; with no set it scans contacts with the predicates (WHERE, on the
indexes of stage, owner, score, created_at, email, phone). `or` of sets is a UNION (tag sets
merge into one `tag_id IN (...)`), of comps the comp of their INTERSECT; an `or` that mixes in
predicates becomes a predicate (`c.id IN (set) OR pred`). Dead contacts (merged or erased) keep
their links, so they are removed once at the end (`EXCEPT` the few dead ids, found through a
partial index).

Negation is two-valued: a predicate under `not` is wrapped in COALESCE(..., FALSE), so a
missing value (NULL) never makes both `x` and `not x` false. `a != v` is `not (a = v)`, `a not
in (...)` is `not (a in (...))`, `a !~ s` is `not (a ~ s)`: a contact without a company
matches `company.city != "Paris"`.

Text `=` is exact (emails are compared lower-cased, phones normalised like on input); `~` is
case-insensitive contains: UPPER(x) LIKE UPPER(needle) on PostgreSQL (cheaper than ILIKE); on
SQLite, whose LIKE folds ASCII only, `LIKE`
for an ASCII needle and `lb_lower(x) LIKE lower(needle)` (Python's str.lower, registered on
every SQLite connection by the app) for any other. Dates: a date compared with a date-time
field means that whole day in the configured timezone; `within 30d` is `>= now - 30d`, `older
than 90d` is `< now - 90d`, `after D` starts the day after D; months are calendar months.

SQL text holds identifiers of our own models only; every value is a parameter.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import connection
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _

from leadbridge.contacts.models import STAGE_ORDER, Contact, ContactQuerySet, ContactTag, Tag
from leadbridge.core import clock
from leadbridge.core.errors import field_error
from leadbridge.core.pagination import Page, decode_cursor, encode_cursor
from leadbridge.core.roles import SEES_ALL, role_of
from leadbridge.segments import fields as F
from leadbridge.segments.errors import with_position
from leadbridge.segments.fields import CompileError, FieldRef
from leadbridge.segments.language import (
    After,
    And,
    Bare,
    Before,
    Bool,
    Compare,
    Contains,
    Date,
    DateTime,
    DateWindow,
    Duration,
    Email,
    Event,
    Exists,
    FilterError,
    HasDeal,
    In,
    InSegment,
    Node,
    Not,
    Null,
    Num,
    OlderThan,
    Or,
    Range,
    Search,
    Str,
    Value,
    Visited,
    Visits,
    Within,
    parse,
    to_text,
    value_text,
    walk,
)
from leadbridge.segments.language import (
    Tag as TagNode,
)

MAX_SEGMENT_DEPTH = 8
ORDERED = (">", ">=", "<", "<=")
CMP = {"=": "=", "!=": "<>", ">": ">", ">=": ">=", "<": "<", "<=": "<="}
TEXT_OPS = "=, !=, ~, !~, in, exists"
NUMBER_OPS = "=, !=, >, >=, <, <=, in, between, exists"
CHOICE_OPS = "=, !=, in, exists"

# Tables, from our own models.
CONTACTS = Contact._meta.db_table
LINKS = ContactTag._meta.db_table


# --- SQL fragments ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sql:
    """SQL text with `%s` placeholders and their parameters, in order. `compound` marks a
    UNION/INTERSECT/EXCEPT, which must be wrapped before it is combined with another one."""

    text: str
    params: tuple[Any, ...] = ()
    compound: bool = False

    def __add__(self, other: Sql | str) -> Sql:
        if isinstance(other, str):
            return Sql(self.text + other, self.params)
        return Sql(self.text + other.text, self.params + other.params)


def sql(text: str, *params: Any) -> Sql:
    return Sql(text, tuple(params))


def join(separator: str, parts: Iterable[Sql]) -> Sql:
    items = list(parts)
    return Sql(
        separator.join(p.text for p in items), tuple(itertools.chain.from_iterable(p.params for p in items))
    )


def placeholders(values: Sequence[Any]) -> Sql:
    return Sql(", ".join(["%s"] * len(values)), tuple(values))


@dataclass(frozen=True)
class Part:
    """What a node compiles to: kind "set" | "comp" | "pred" | "empty" | "all" (see the module doc).

    `tags` is set on a plain tag set (one tag, or an `or` of tags) and on its comp: such sets
    merge in an `or`, and pages test them row by row on the (contact, tag) index. `drive` is set
    on an `and` with a one-tag set: (that tag, the other parts), so that a page walks the tag's
    (tag, contact) index from the top and stops after a page instead of computing every member.
    """

    kind: str
    sql: Sql | None = None
    tags: tuple[int, ...] = ()
    drive: tuple[int, tuple[Part, ...]] | None = None
    # A set that selects each id once (a join on it needs no DISTINCT).
    unique: bool = False


EMPTY = Part("empty")
ALL = Part("all")


def _set(fragment: Sql, *, unique: bool) -> Part:
    return Part("set", fragment, unique=unique)


def _pred(fragment: Sql) -> Part:
    return Part("pred", fragment)


# --- the compiled filter ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Compiled:
    """A compiled filter: `ids_sql()` selects the ids of the matching alive contacts the user may see."""

    node: Node | None
    part: Part
    visibility: Sql | None = None
    text: str = ""

    @property
    def is_empty(self) -> bool:
        return self.part.kind == "empty"

    def ids(self) -> Sql:
        return _final(self.part, self.visibility)

    def ids_sql(self) -> tuple[str, list[Any]]:
        """(sql, params) of a SELECT of the matching alive contact ids (`%s` placeholders)."""
        found = self.ids()
        return found.text, list(found.params)


def compile_filter(
    node: Node | None,
    *,
    now: dt.datetime | None = None,
    user: Any = None,
    resolve_segment: Callable[[str], Node | None] | None = None,
    field: str = "q",
    within: Sequence[str] = (),
    scoped: bool = True,
) -> Compiled:
    """Compile `node` (None: every contact) for `user` (None: no visibility limit — the system).

    `resolve_segment(name)` returns the filter of a saved segment (or None when there is none),
    for `in segment("name")`. `within` names (lower-cased) the saved segment `node` is the
    filter of, so that a reference back to it is a cycle. `scoped=False` leaves the user's
    visibility out (for parts that are combined with a scoped one). Raises CompileError (400)
    with the position of the offending node.
    """
    compiler = _Compiler(now=now or clock.now(), user=user, resolve_segment=resolve_segment, field=field)
    compiler.stack = list(within)
    compiler.base_depth = len(compiler.stack)
    visibility = _visibility(user) if scoped else None
    if visibility is EMPTY:
        return Compiled(node, EMPTY)
    if node is not None:
        compiler.prefetch_tags(node)
    part = ALL if node is None else compiler.compile(node)
    return Compiled(node, part, visibility.sql if visibility else None, to_text(node) if node else "")


def compile_text(
    text: str,
    *,
    now: dt.datetime | None = None,
    user: Any = None,
    resolve_segment: Callable[[str], Node | None] | None = None,
    field: str = "q",
) -> Compiled:
    """Parse and compile `text`; every error (syntax or compile) carries its position."""
    try:
        node = parse(text, field=field)
        return compile_filter(node, now=now, user=user, resolve_segment=resolve_segment, field=field)
    except FilterError as exc:
        raise with_position(exc) from None


def _visibility(user: Any) -> Part | None:
    """None: the user sees every contact; EMPTY: none; else a predicate on `c`."""
    if user is None:
        return None
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_active", False):
        return EMPTY
    if role_of(user) in SEES_ALL:
        return None
    # ContactQuerySet.visible_to's rule (sales and pre-sales see their own and their team's
    # contacts) as a literal list of owners: the (owner, id) index answers it, where a semi-join
    # on the rule's own query made counts 3x slower.
    owners = {user.pk}
    if getattr(user, "team_id", None):
        members = user._meta.model._default_manager.filter(team_id=user.team_id)
        owners |= set(members.values_list("pk", flat=True))
    return _pred(Sql("c.owner_id IN (") + placeholders(sorted(owners)) + ")")


# --- set algebra -----------------------------------------------------------------------------------

_ALIASES = itertools.count(1)
_ALIVE = "c.merged_into_id IS NULL AND c.erased_at IS NULL"


def _operand(fragment: Sql) -> Sql:
    """`fragment` as an operand of a compound SELECT: compounds are wrapped in a subquery."""
    if not fragment.compound:
        return fragment
    alias = f"u{next(_ALIASES)}"
    return Sql(f"SELECT {alias}.id FROM ({fragment.text}) {alias}", fragment.params)


def _compound(op: str, first: Sql, others: Sequence[Sql]) -> Sql:
    if not others:
        return first
    return replace_compound(join(f" {op} ", [_operand(first), *(_operand(o) for o in others)]))


def _chain(first: Sql, steps: Sequence[tuple[str, Sql]]) -> Sql:
    """first OP1 s1 OP2 s2 ...: left to right on both databases (INTERSECT then EXCEPT)."""
    if not steps:
        return first
    out = _operand(first)
    for op, step in steps:
        out = out + f" {op} " + _operand(step)
    return replace_compound(out)


def replace_compound(fragment: Sql) -> Sql:
    return Sql(fragment.text, fragment.params, compound=True)


def _as_set(part: Part) -> Sql:
    """Any part as a SELECT of ids (dead contacts included; they go at the end)."""
    assert part.sql is not None or part.kind == "all"
    if part.kind == "set":
        return part.sql  # type: ignore[return-value]
    if part.kind == "pred":
        return Sql(f"SELECT c.id FROM {CONTACTS} c WHERE ", ()) + part.sql  # type: ignore[operator]
    if part.kind == "comp":
        return _chain(Sql(f"SELECT c.id FROM {CONTACTS} c"), [("EXCEPT", part.sql)])  # type: ignore[list-item]
    return Sql(f"SELECT c.id FROM {CONTACTS} c")


def _in_set(fragment: Sql, *, negated: bool = False) -> Sql:
    """`c.id IN (set)`, or its negation (no NULLs: every set selects non-null ids)."""
    if not negated:
        return Sql("c.id IN (") + fragment + ")"
    if connection.vendor == "postgresql":
        # NOT IN (subquery) is never an anti-join on PostgreSQL (and a plain subplan when the set
        # outgrows work_mem); NOT EXISTS over it is.
        alias = f"n{next(_ALIASES)}"
        return Sql("NOT EXISTS (SELECT 1 FROM (") + fragment + f") {alias} WHERE {alias}.id = c.id)"
    return Sql("c.id NOT IN (") + fragment + ")"


def _as_pred(part: Part) -> Sql:
    if part.kind == "pred":
        return part.sql  # type: ignore[return-value]
    if part.kind == "set":
        return _in_set(part.sql)  # type: ignore[arg-type]
    if part.kind == "comp":
        return _in_set(part.sql, negated=True)  # type: ignore[arg-type]
    return Sql("TRUE" if part.kind == "all" else "FALSE")


def _paren(fragment: Sql) -> Sql:
    return Sql("(") + fragment + ")"


def _sqls(parts: Sequence[Part], kind: str) -> list[Sql]:
    return [p.sql for p in parts if p.kind == kind and p.sql is not None]


def and_parts(parts: Sequence[Part]) -> Part:
    if any(p.kind == "empty" for p in parts):
        return EMPTY
    parts = [p for p in parts if p.kind != "all"]
    if not parts:
        return ALL
    if len(parts) == 1:
        return parts[0]
    sets, comps, preds = _sqls(parts, "set"), _sqls(parts, "comp"), _sqls(parts, "pred")
    if not sets:
        if comps and preds:
            where = join(" AND ", [_paren(p) for p in preds])
            scan = Sql(f"SELECT c.id FROM {CONTACTS} c WHERE ") + where
            return _set(_chain(scan, [("EXCEPT", s) for s in comps]), unique=True)
        if comps:
            return Part("comp", _compound("UNION", comps[0], comps[1:]))
        return _pred(join(" AND ", [_paren(p) for p in preds]))
    driver = next((p for p in parts if p.kind == "set" and len(p.tags) == 1), None)
    drive = None if driver is None else (driver.tags[0], tuple(p for p in parts if p is not driver))
    if connection.vendor == "postgresql":
        members = _and_joins(parts)
    else:
        # SQLite: INTERSECT / EXCEPT of the sets (ephemeral indexes), measured faster there than
        # semi-joins, which probe the link index once per row. The EXCEPTs go first: they only
        # delete from the first set's ephemeral index, and the INTERSECT then builds its result
        # from fewer rows ((A - D) & B = (A & B) - D; 6-9 % faster on the benchmark's tags).
        steps = [("EXCEPT", s) for s in comps] + [("INTERSECT", s) for s in sets[1:]]
        members = _chain(sets[0], steps)
        if preds:
            where = join(" AND ", [_paren(p) for p in preds])
            members = Sql(f"SELECT c.id FROM {CONTACTS} c WHERE c.id IN (") + members + ") AND " + where
    return Part("set", members, drive=drive, unique=True)


def _and_joins(parts: Sequence[Part]) -> Sql:
    """PostgreSQL: one set drives, the other sets are semi-joins (IN), the comps anti-joins (NOT
    EXISTS), so the planner hashes or merges them (measured faster than INTERSECT/EXCEPT)."""
    sets = [p for p in parts if p.kind == "set"]
    driver = next((p for p in sets if p.unique and len(p.tags) == 1), None)
    driver = driver or next((p for p in sets if p.unique), None)
    preds = _sqls(parts, "pred")
    conditions: list[Sql] = []
    if driver is not None and not preds:
        alias = f"s{next(_ALIASES)}"
        head = Sql(f"SELECT {alias}.id FROM (") + driver.sql + f") {alias} WHERE "  # type: ignore[operator]
        column = f"{alias}.id"
    else:
        head = Sql(f"SELECT c.id FROM {CONTACTS} c WHERE ")
        column = "c.id"
        driver = None
    for part in parts:
        if part is driver:
            continue
        if part.kind == "set":
            conditions.append(Sql(f"{column} IN (") + part.sql + ")")  # type: ignore[operator]
        elif part.kind == "comp":
            alias = f"n{next(_ALIASES)}"
            conditions.append(
                Sql("NOT EXISTS (SELECT 1 FROM (") + part.sql + f") {alias} WHERE {alias}.id = {column})"  # type: ignore[operator]
            )
        else:
            conditions.append(_paren(part.sql))  # type: ignore[arg-type]
    return head + join(" AND ", conditions)


def or_parts(parts: Sequence[Part]) -> Part:
    if any(p.kind == "all" for p in parts):
        return ALL
    parts = [p for p in parts if p.kind != "empty"]
    if not parts:
        return EMPTY
    # Plain tag sets merge into one `tag_id IN (...)` lookup.
    tagged = [p for p in parts if p.kind == "set" and p.tags]
    if len(tagged) > 1:
        merged = _tag_set(sorted({t for p in tagged for t in p.tags}))
        parts = [p for p in parts if not (p.kind == "set" and p.tags)] + [merged]
    if len(parts) == 1:
        return parts[0]
    sets, comps = _sqls(parts, "set"), _sqls(parts, "comp")
    if any(p.kind == "pred" for p in parts):
        return _pred(join(" OR ", [_paren(_as_pred(p)) for p in parts]))
    if comps:
        # not A or not B = not (A and B); (not A) or S = not (A except S)
        steps = [("INTERSECT", c) for c in comps[1:]] + [("EXCEPT", s) for s in sets]
        return Part("comp", _chain(comps[0], steps))
    return _set(_compound("UNION", sets[0], sets[1:]), unique=True)


def not_part(part: Part) -> Part:
    if part.kind == "empty":
        return ALL
    if part.kind == "all":
        return EMPTY
    if part.kind == "set":
        return Part("comp", part.sql, part.tags, unique=part.unique)
    if part.kind == "comp":
        drive = (part.tags[0], ()) if len(part.tags) == 1 else None
        return Part("set", part.sql, part.tags, drive=drive, unique=part.unique)
    # Two-valued: a NULL inside counts as false before it is negated.
    assert part.sql is not None
    return _pred(Sql("NOT COALESCE((") + part.sql + "), FALSE)")


def _tag_set(ids: Sequence[int]) -> Part:
    if len(ids) == 1:
        return Part(
            "set",
            sql(f"SELECT contact_id AS id FROM {LINKS} WHERE tag_id = %s", ids[0]),
            tuple(ids),
            (ids[0], ()),
            unique=True,
        )
    # A contact with two of the tags is selected twice: not unique.
    fragment = Sql(f"SELECT contact_id AS id FROM {LINKS} WHERE tag_id IN (") + placeholders(ids) + ")"
    return Part("set", fragment, tuple(ids))


_DEAD_WHERE = "d.merged_into_id IS NOT NULL OR d.erased_at IS NOT NULL"
_DEAD = Sql(f"SELECT d.id FROM {CONTACTS} d WHERE {_DEAD_WHERE}")


def _final(part: Part, visibility: Sql | None) -> Sql:
    """The ids of alive contacts (visible ones, with `visibility`) that `part` selects, each once."""
    where = Sql(_ALIVE)
    if visibility is not None:
        where = where + " AND " + visibility
    scan = Sql(f"SELECT c.id FROM {CONTACTS} c WHERE ") + where
    if part.kind == "empty":
        return Sql(f"SELECT c.id FROM {CONTACTS} c WHERE 1 = 0")
    if part.kind == "all":
        return scan
    assert part.sql is not None
    if part.kind == "pred":
        return Sql(f"SELECT c.id FROM {CONTACTS} c WHERE (") + part.sql + ") AND " + where
    if part.kind == "comp":
        return _chain(scan, [("EXCEPT", part.sql)])
    if not part.unique:
        if visibility is not None:
            return Sql(f"SELECT c.id FROM {CONTACTS} c WHERE c.id IN (") + part.sql + ") AND " + where
        return _chain(part.sql, [("EXCEPT", _DEAD)])
    # Dead contacts are few (a partial index finds them): subtracting them is cheaper than
    # looking up every member's row. The visible ones are read from the (owner, id) index alone.
    alias = f"x{next(_ALIASES)}"
    if connection.vendor == "postgresql":
        dead = f"NOT EXISTS (SELECT 1 FROM {CONTACTS} d WHERE d.id = {alias}.id AND ({_DEAD_WHERE}))"
    else:
        dead = f"{alias}.id NOT IN ({_DEAD.text})"
    found = Sql(f"SELECT {alias}.id FROM (") + part.sql + f") {alias} WHERE {dead}"
    if visibility is not None:
        found = found + f" AND {alias}.id IN (SELECT c.id FROM {CONTACTS} c WHERE " + visibility + ")"
    return found


# --- execution -------------------------------------------------------------------------------------


def count(compiled: Compiled) -> int:
    """How many alive contacts (visible to the compiling user) match."""
    if compiled.is_empty:
        return 0
    found = compiled.ids()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM ({found.text}) x", list(found.params))
        return int(cursor.fetchone()[0])


def _probe(part: Part) -> Sql:
    """`part` as a condition on the row `c`, cheap to test row by row while walking an index:
    a tag set is an EXISTS on the (contact, tag) index."""
    if part.tags and part.kind in ("set", "comp"):
        alias = f"p{next(_ALIASES)}"
        exists = (
            Sql(
                f"EXISTS (SELECT 1 FROM {LINKS} {alias} WHERE {alias}.contact_id = c.id AND {alias}.tag_id IN ("
            )
            + placeholders(part.tags)
            + "))"
        )
        return exists if part.kind == "set" else Sql("NOT ") + exists
    return _as_pred(part)


def page_sql(compiled: Compiled, *, before: int | None = None, limit: int = 50) -> Sql:
    """The SELECT of a page of matching ids, highest first, in the shape that stops early:

    - a condition on contacts walks the primary key down and stops after `limit` rows;
    - an `and` with a tag walks that tag's (tag, contact) index down, testing the rest per row;
    - anything else computes its members and sorts them.
    """
    part = compiled.part
    where = Sql(_ALIVE)
    if compiled.visibility is not None:
        where = where + " AND " + compiled.visibility
    tail = sql(" ORDER BY c.id DESC LIMIT %s", limit)
    if part.kind in ("pred", "all", "comp"):
        if part.kind != "all":
            where = where + " AND " + _paren(_probe(part) if part.kind == "comp" else part.sql)  # type: ignore[arg-type]
        if before is not None:
            where = where + sql(" AND c.id < %s", before)
        return Sql(f"SELECT c.id FROM {CONTACTS} c WHERE ") + where + tail
    if part.kind == "set" and part.drive is not None:
        tag_id, rest = part.drive
        for other in rest:
            where = where + " AND " + _paren(_probe(other))
        if before is not None:
            # The bound on both columns lets PostgreSQL's join start at the cursor on both sides.
            where = where + sql(" AND ct.contact_id < %s AND c.id < %s", before, before)
        head = sql(
            f"SELECT ct.contact_id AS id FROM {LINKS} ct JOIN {CONTACTS} c ON c.id = ct.contact_id "
            "WHERE ct.tag_id = %s AND ",
            tag_id,
        )
        return head + where + sql(" ORDER BY ct.contact_id DESC LIMIT %s", limit)
    found = compiled.ids()
    if before is not None:
        found = Sql("SELECT x.id FROM (") + found + sql(") x WHERE x.id < %s", before)
    else:
        found = Sql("SELECT x.id FROM (") + found + ") x"
    return found + sql(" ORDER BY x.id DESC LIMIT %s", limit)


def member_ids(compiled: Compiled, *, before: int | None = None, limit: int = 50) -> list[int]:
    """Up to `limit` matching ids below `before` (all when None), highest first."""
    if compiled.is_empty:
        return []
    query = page_sql(compiled, before=before, limit=limit)
    with connection.cursor() as cursor:
        cursor.execute(query.text, list(query.params))
        return [int(row[0]) for row in cursor.fetchall()]


def member_page(
    compiled: Compiled, cursor: str | None = None, limit: int = 50, *, contacts: ContactQuerySet | None = None
) -> Page[Contact]:
    """A page of matching contacts, newest (highest id) first, keyset by id like contact lists.

    `contacts` is the queryset the rows are loaded from (its select_related/only/prefetch), by
    default every contact with its company.
    """
    before: int | None = None
    if cursor:
        (last_id,) = decode_cursor(cursor)[:1] or [None]
        if not isinstance(last_id, int) or isinstance(last_id, bool):
            raise field_error("cursor", _("Invalid cursor"))
        before = last_id
    if compiled.is_empty:
        return Page(items=[], next=None)
    source = contacts if contacts is not None else Contact.objects.select_related("company")
    # One query: the page's ids (a subquery with its own plan and LIMIT), then their rows.
    ids = page_sql(compiled, before=before, limit=limit + 1)
    rows = list(source.filter(pk__in=RawSQL(ids.text, ids.params)).order_by("-pk"))
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(items=rows, next=encode_cursor([rows[-1].pk]) if more and rows else None)


def queryset(compiled: Compiled) -> ContactQuerySet:
    """The matching contacts as a queryset (exports, bulk actions): `pk IN (ids_sql)`."""
    if compiled.is_empty:
        return Contact.objects.none()
    text, params = compiled.ids_sql()
    return Contact.objects.filter(pk__in=RawSQL(text, params))


# --- the compiler ----------------------------------------------------------------------------------


def _num(value: Decimal) -> int | float:
    """A parameter both databases compare with numbers (SQLite would compare a Decimal's text).
    A whole number beyond 64 bits goes as a float: SQLite cannot bind it as an integer, and no
    stored value comes near it."""
    if value == value.to_integral_value() and abs(value) < INT64:
        return int(value)
    return float(value)


INT64 = 2**63


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like(expr: str, needle: str) -> Sql:
    """Case-insensitive `expr` contains `needle` (see the module doc for SQLite)."""
    if connection.vendor == "postgresql":
        # UPPER() on both sides, like Django's icontains: ILIKE folds case character by
        # character and made the list's name search 1.5-2.5x slower at 1M contacts.
        return sql(f"UPPER({expr}) LIKE UPPER(%s) ESCAPE '\\'", f"%{_escape_like(needle)}%")
    if needle.isascii():
        return sql(f"{expr} LIKE %s ESCAPE '\\'", f"%{_escape_like(needle)}%")
    return sql(f"lb_lower({expr}) LIKE %s ESCAPE '\\'", f"%{_escape_like(needle.lower())}%")


class _Compiler:
    """One compilation: the clock, the user (`owner = me`), saved segments, the field table."""

    def __init__(
        self,
        *,
        now: dt.datetime,
        user: Any,
        resolve_segment: Callable[[str], Node | None] | None,
        field: str,
    ) -> None:
        self.now = now
        self.user = user
        self.resolve_segment = resolve_segment
        self.error_field = field
        self.table = F.FieldTable(field=field)
        self.stack: list[str] = []
        self.base_depth = 0
        self.tag_ids: dict[str, int | None] = {}
        self.tz = timezone.get_default_timezone()

    def error(self, pos: int, reason: str) -> CompileError:
        return CompileError(pos, reason, field=self.error_field)

    # -- dispatch

    def compile(self, node: Node) -> Part:
        match node:
            case And():
                return and_parts([self.compile(c) for c in node.children])
            case Or():
                return or_parts([self.compile(c) for c in node.children])
            case Not():
                return not_part(self.compile(node.child))
            case TagNode():
                return self.tag(node)
            case InSegment():
                return self.segment(node)
            case HasDeal():
                term = F.registered_term("deal")
                if term is None:
                    raise self.error(node.pos, _("deals are not available in this installation yet"))
                return term(node, self)
            case Email():
                raise self.error(
                    node.pos, _("email opens and clicks are not available in this installation yet")
                )
            case Visited() | Visits() | Event():
                return self.behaviour(node)
            case Compare() | In() | Contains() | Range() | Exists() | DateWindow():
                return self.condition(node)
            case Search():
                return self.search(node)
        raise TypeError(f"not a filter node: {node!r}")

    def behaviour(self, node: Visited | Visits | Event) -> Part:
        from leadbridge.segments import behaviour

        return behaviour.compile_behaviour(node, self)

    def search(self, node: Search) -> Part:
        from leadbridge.segments import search

        return search.compile_search(node, self)

    def prefetch_tags(self, node: Node) -> None:
        """Look every tag of the filter up in one query (those of saved segments it uses come later)."""
        keys = {n.name.strip().lower() for n in walk(node) if isinstance(n, TagNode)}
        if keys:
            self.tag_ids.update(dict(Tag.objects.filter(key__in=keys).values_list("key", "id")))
            self.tag_ids.update({k: None for k in keys if k not in self.tag_ids})

    def tag(self, node: TagNode) -> Part:
        key = node.name.strip().lower()
        if key not in self.tag_ids:
            self.tag_ids[key] = Tag.objects.filter(key=key).values_list("id", flat=True).first()
        tag_id = self.tag_ids[key]
        return EMPTY if tag_id is None else _tag_set([tag_id])

    def segment(self, node: InSegment) -> Part:
        name = node.name
        key = name.strip().lower()
        if key in self.stack:
            path = " → ".join([*self.stack, key])
            raise self.error(
                node.pos, _("segments refer to each other in a cycle: %(path)s") % {"path": path}
            )
        if len(self.stack) >= MAX_SEGMENT_DEPTH:
            raise self.error(
                node.pos, _("segments nested deeper than %(limit)s levels") % {"limit": MAX_SEGMENT_DEPTH}
            )
        inner = self.resolve_segment(name) if self.resolve_segment else None
        if inner is None:
            raise self.error(node.pos, _("no segment named %(name)s") % {"name": F._quoted(name)})
        self.stack.append(key)
        try:
            return self.compile(inner)
        except CompileError as exc:
            if len(self.stack) == self.base_depth + 1:  # the outermost reference names the segment
                reason = _("in segment %(name)s: %(reason)s") % {
                    "name": F._quoted(name),
                    "reason": exc.reason,
                }
                raise self.error(node.pos, reason) from None
            raise
        finally:
            self.stack.pop()

    # -- conditions on fields

    def condition(self, node: Compare | In | Contains | Range | Exists | DateWindow) -> Part:
        ref = self.table.resolve(node.field, node.pos)
        # `x = null` is `x is empty`, `x != null` is `x exists`.
        if isinstance(node, Compare) and isinstance(node.value, Null):
            if node.op not in ("=", "!="):
                raise self.error(node.value.pos, _("null only compares with = or !="))
            node = Exists(node.field, negated=node.op == "=", pos=node.pos)
        negated = (isinstance(node, Compare) and node.op == "!=") or (
            isinstance(node, In | Contains | Exists) and node.negated
        )
        positive = self.positive(ref, node)
        return not_part(positive) if negated else positive

    def positive(self, ref: FieldRef, node: Any) -> Part:
        family = ref.family
        if family == "contact":
            return self.scalar(ref, node, f"c.{ref.column}", nullable=ref.nullable)
        if family == "custom":
            return self.custom(ref, node, "c.custom")
        if family == "company":
            inner = self.scalar(ref, node, f"co.{ref.column}", nullable=ref.nullable)
            return self.via_company(inner)
        if family == "company_custom":
            return self.via_company(self.custom(ref, node, "co.custom"))
        if family == "company_name":
            if isinstance(node, Exists):
                return _pred(Sql("c.company_id IS NOT NULL"))
            return self.via_company(self.scalar(ref, node, "co.name", nullable=False, kind=F.TEXT))
        if family == "stage":
            return self.stage(node)
        if family == "band":
            return self.band(node)
        if family in ("owner", "team"):
            return self.owner(ref, node)
        if family == "touch":
            return self.touch(ref, node)
        if family == "consent":
            return self.consent(ref, node)
        if family == "inquiry":
            return self.inquiry(ref, node)
        if family == "inquiries":
            return self.inquiries(node)
        if family == "term":
            term = F.registered_term(ref.key)
            if term is None:
                raise self.error(node.pos, _("deals are not available in this installation yet"))
            return term(node, self)
        raise TypeError(f"unknown field family {family!r}")  # pragma: no cover

    def via_company(self, inner: Part) -> Part:
        if inner.kind in ("empty", "all"):
            if inner.kind == "empty":
                return EMPTY
            return _pred(Sql("c.company_id IS NOT NULL"))
        assert inner.sql is not None
        table = Contact._meta.get_field("company").related_model._meta.db_table
        return _pred(Sql(f"c.company_id IN (SELECT co.id FROM {table} co WHERE ") + inner.sql + ")")

    # -- operators and values

    def ops_error(self, node: Any, name: str, allowed: str) -> CompileError:
        what = {
            Compare: f"'{getattr(node, 'op', '')}'",
            In: "'in'",
            Contains: "'~'",
            Range: "'between'",
            Exists: "'exists'",
            DateWindow: _("a time window"),
        }.get(type(node), "?")
        return self.error(
            node.pos,
            _("%(op)s does not apply to %(field)s (use %(allowed)s)")
            % {"op": what, "field": name, "allowed": allowed},
        )

    def type_error(self, value: Value, name: str, kind: str) -> CompileError:
        return self.error(
            value.pos, _("%(field)s takes %(kind)s") % {"field": name, "kind": _(F.KIND_LABELS[kind])}
        )

    def text_value(self, value: Value, ref: FieldRef) -> str:
        if isinstance(value, Str | Bare):
            text = value.value
        elif isinstance(value, Num):
            text = value_text(value)
        else:
            raise self.type_error(value, ref.name, F.TEXT)
        if ref.name == "email":
            return text.strip().lower()
        if ref.name == "phone":
            from leadbridge.contacts.validation import Invalid, normalize_phone

            try:
                return normalize_phone(text)
            except Invalid:
                return text
        return text

    def number_value(self, value: Value, ref: FieldRef) -> int | float:
        if not isinstance(value, Num):
            raise self.type_error(value, ref.name, F.NUMBER)
        return _num(value.value)

    def day_start(self, day: dt.date) -> dt.datetime:
        return timezone.make_aware(dt.datetime.combine(day, dt.time.min), self.tz)

    def moment(self, value: DateTime) -> dt.datetime:
        moment = value.value
        return moment if moment.tzinfo else timezone.make_aware(moment, self.tz)

    def scalar(self, ref: FieldRef, node: Any, expr: str, *, nullable: bool, kind: str | None = None) -> Part:
        """The positive condition of `node` on the value expression `expr` of kind `kind`."""
        kind = kind or ref.kind
        if kind == F.TEXT:
            return self.text_cond(ref, node, expr, nullable)
        if kind == F.NUMBER:
            return self.ordered_cond(ref, node, expr, nullable, lambda v: self.number_value(v, ref))
        if kind in (F.DATE, F.DATETIME):
            return self.date_cond(ref, node, expr, nullable, kind)
        if kind == F.BOOL:
            return self.bool_cond(ref, node, expr)
        raise self.ops_error(node, ref.name, CHOICE_OPS)  # pragma: no cover

    def text_cond(self, ref: FieldRef, node: Any, expr: str, nullable: bool) -> Part:
        if isinstance(node, Exists):
            if nullable:
                return _pred(Sql(f"COALESCE({expr}, '') <> ''"))
            return _pred(Sql(f"{expr} <> ''"))
        if isinstance(node, Contains):
            return _pred(like(expr, node.value))
        if isinstance(node, Compare) and node.op in ("=", "!="):
            return _pred(sql(f"{expr} = %s", self.text_value(node.value, ref)))
        if isinstance(node, In):
            values = list(dict.fromkeys(self.text_value(v, ref) for v in node.values))
            return _pred(Sql(f"{expr} IN (") + placeholders(values) + ")")
        raise self.ops_error(node, ref.name, TEXT_OPS)

    def ordered_cond(
        self, ref: FieldRef, node: Any, expr: str, nullable: bool, convert: Callable[[Value], Any]
    ) -> Part:
        if isinstance(node, Exists):
            return _pred(Sql(f"{expr} IS NOT NULL")) if nullable else ALL
        if isinstance(node, Compare):
            op = "=" if node.op == "!=" else node.op
            return _pred(sql(f"{expr} {CMP[op]} %s", convert(node.value)))
        if isinstance(node, In):
            values = list(dict.fromkeys(convert(v) for v in node.values))
            return _pred(Sql(f"{expr} IN (") + placeholders(values) + ")")
        if isinstance(node, Range):
            return _pred(sql(f"{expr} >= %s AND {expr} <= %s", convert(node.low), convert(node.high)))
        raise self.ops_error(node, ref.name, NUMBER_OPS)

    def bool_cond(self, ref: FieldRef, node: Any, expr: str) -> Part:
        """`expr` yields the text 'true' / 'false' for a boolean (see custom())."""
        if isinstance(node, Exists):
            return _pred(Sql(f"{expr} IN ('true', 'false')"))
        if isinstance(node, Compare) and node.op in ("=", "!="):
            if not isinstance(node.value, Bool):
                raise self.type_error(node.value, ref.name, F.BOOL)
            return _pred(Sql(f"{expr} = '{'true' if node.value.value else 'false'}'"))
        raise self.ops_error(node, ref.name, "=, !=, exists")

    def date_cond(self, ref: FieldRef, node: Any, expr: str, nullable: bool, kind: str) -> Part:
        """Dates and date-times; custom dates are ISO text (compared as text, which orders alike)."""
        is_date = kind == F.DATE
        custom = ref.family in ("custom", "company_custom")
        ops = connection.ops

        def param(moment: dt.date | dt.datetime) -> Any:
            if custom:
                return moment.isoformat()
            if isinstance(moment, dt.datetime):
                return ops.adapt_datetimefield_value(moment)
            return ops.adapt_datefield_value(moment)

        def bounds(value: Value) -> tuple[Any, Any, bool]:
            """(low, high, high_inclusive) of a value: a date is its whole day."""
            if isinstance(value, Date):
                if is_date:
                    return value.value, value.value, True
                return self.day_start(value.value), self.day_start(value.value + dt.timedelta(days=1)), False
            if isinstance(value, DateTime) and not is_date:
                moment = self.moment(value)
                return moment, moment, True
            raise self.type_error(value, ref.name, kind)

        def cmp(op: str, value: Value) -> Sql:
            low, high, inclusive = bounds(value)
            if op == "=":
                if inclusive:
                    return sql(f"{expr} = %s", param(low))
                return sql(f"{expr} >= %s AND {expr} < %s", param(low), param(high))
            if op == ">":
                return sql(f"{expr} {'>' if inclusive else '>='} %s", param(high))
            if op == ">=":
                return sql(f"{expr} >= %s", param(low))
            if op == "<":
                return sql(f"{expr} < %s", param(low))
            return sql(f"{expr} {'<=' if inclusive else '<'} %s", param(high))  # <=

        if isinstance(node, Exists):
            return _pred(Sql(f"{expr} IS NOT NULL")) if nullable else ALL
        if isinstance(node, Compare):
            return _pred(cmp("=" if node.op == "!=" else node.op, node.value))
        if isinstance(node, In):
            return _pred(join(" OR ", [_paren(cmp("=", v)) for v in node.values]))
        if isinstance(node, Range):
            return _pred(_paren(cmp(">=", node.low)) + " AND " + _paren(cmp("<=", node.high)))
        if isinstance(node, DateWindow):
            when = node.when
            if isinstance(when, Within | OlderThan):
                cutoff = self.cutoff(when.duration, is_date)
                op = ">=" if isinstance(when, Within) else "<"
                return _pred(sql(f"{expr} {op} %s", param(cutoff)))
            if isinstance(when, Before):
                return _pred(cmp("<", when.moment))
            if isinstance(when, After):
                return _pred(cmp(">", when.moment))
        raise self.ops_error(node, ref.name, NUMBER_OPS + ", within, older than, before, after")

    def cutoff(self, duration: Duration, is_date: bool) -> dt.date | dt.datetime:
        """`now - duration` in the configured timezone (a date for date fields)."""
        local = timezone.localtime(self.now, self.tz)
        moment = duration.subtract_from(local)
        if is_date:
            return moment.date()
        return moment

    # -- JSON custom fields

    def custom(self, ref: FieldRef, node: Any, column: str) -> Part:
        """A custom field's value inside the `custom` JSON of `column` (typed by its definition;
        a stored value of another JSON type counts as absent)."""
        key = ref.key
        pg = connection.vendor == "postgresql"
        kind = ref.kind

        def typed(types_pg: str, types_lite: str, cast: str = "") -> Sql:
            if pg:
                return Sql(
                    f"CASE WHEN jsonb_typeof({column} -> %s) IN ({types_pg}) THEN ({column} ->> %s){cast} END",
                    (key, key),
                )
            path = f'$."{key}"'
            return Sql(
                f"CASE WHEN json_type({column}, %s) IN ({types_lite}) THEN json_extract({column}, %s) END",
                (path, path),
            )

        if kind == F.MULTI:
            return self.multi(ref, node, column)
        if kind == F.BOOL:
            if pg:
                expr = Sql(
                    f"CASE WHEN jsonb_typeof({column} -> %s) = 'boolean' THEN {column} ->> %s END", (key, key)
                )
            else:
                expr = Sql(f"json_type({column}, %s)", (f'$."{key}"',))
        elif kind == F.NUMBER:
            expr = typed("'number'", "'integer', 'real'", "::numeric")
        else:  # text, choice, date (ISO text)
            expr = typed("'string'", "'text'")
        return self.with_expr(expr, lambda e: self.scalar(ref, node, e, nullable=True))

    def with_expr(self, expr: Sql, build: Callable[[str], Part]) -> Part:
        """Build a condition on a parameterised expression: each `{x}` use repeats its params."""
        marker = "\x00expr\x00"
        part = build(marker)
        if part.sql is None:
            return part
        pieces = part.sql.text.split(marker)
        # Parameters: the condition's own come after each marker in text order; rebuild in order.
        out_text = [pieces[0]]
        out_params: list[Any] = []
        own = list(part.sql.params)
        consumed = pieces[0].count("%s")
        out_params += own[:consumed]
        for piece in pieces[1:]:
            out_text.append(expr.text)
            out_params += expr.params
            n = piece.count("%s")
            out_params += own[consumed : consumed + n]
            consumed += n
            out_text.append(piece)
        return Part(part.kind, Sql("".join(out_text), tuple(out_params)))

    def multi(self, ref: FieldRef, node: Any, column: str) -> Part:
        key = ref.key
        pg = connection.vendor == "postgresql"

        def holds(value: Value) -> Sql:
            if not isinstance(value, Str | Bare):
                raise self.type_error(value, ref.name, F.MULTI)
            if pg:
                import json

                return sql(f"({column} -> %s) @> %s::jsonb", key, json.dumps([value.value]))
            return sql(
                f"EXISTS (SELECT 1 FROM json_each({column}, %s) j WHERE j.value = %s)",
                f'$."{key}"',
                value.value,
            )

        if isinstance(node, Exists):
            if pg:
                return _pred(
                    sql(
                        f"jsonb_array_length(CASE WHEN jsonb_typeof({column} -> %s) = 'array' THEN {column} -> %s END) > 0",
                        key,
                        key,
                    )
                )
            return _pred(sql(f"json_array_length({column}, %s) > 0", f'$."{key}"'))
        if isinstance(node, Compare) and node.op in ("=", "!="):
            return _pred(holds(node.value))
        if isinstance(node, In):
            return _pred(join(" OR ", [_paren(holds(v)) for v in node.values]))
        raise self.ops_error(node, ref.name, CHOICE_OPS)

    # -- stage, band, owner, team

    def word(self, value: Value, ref: FieldRef, kind: str) -> str:
        if not isinstance(value, Str | Bare):
            raise self.type_error(value, ref.name, kind)
        return value.value.strip().lower()

    def stage(self, node: Any) -> Part:
        ref = FieldRef("stage", "stage", F.STAGE)
        valid = list(STAGE_ORDER)

        def check(value: Value, *, ordered: bool = False) -> str:
            stage = self.word(value, ref, F.STAGE)
            if stage not in STAGE_ORDER:
                raise self.error(
                    value.pos,
                    _("unknown stage %(stage)s (use %(stages)s)")
                    % {"stage": F._quoted(value_text(value)), "stages": ", ".join(valid)},
                )
            if ordered and stage not in F.FUNNEL:
                raise self.error(
                    value.pos,
                    _("%(stage)s is outside the funnel order (%(funnel)s): use = or in")
                    % {"stage": F._quoted(stage), "funnel": " < ".join(F.FUNNEL)},
                )
            return stage

        def stages_in(stages: Sequence[str]) -> Part:
            if not stages:
                return EMPTY
            if len(stages) == 1:
                return _pred(sql("c.stage = %s", stages[0]))
            return _pred(Sql("c.stage IN (") + placeholders(list(stages)) + ")")

        def ordered(op: str, value: Value) -> list[str]:
            rank = F.FUNNEL.index(check(value, ordered=True))
            test = {">": rank.__lt__, ">=": rank.__le__, "<": rank.__gt__, "<=": rank.__ge__}[op]
            return [s for i, s in enumerate(F.FUNNEL) if test(i)]

        if isinstance(node, Exists):
            return ALL
        if isinstance(node, Compare):
            if node.op in ("=", "!="):
                return stages_in([check(node.value)])
            return stages_in(ordered(node.op, node.value))
        if isinstance(node, In):
            return stages_in(list(dict.fromkeys(check(v) for v in node.values)))
        if isinstance(node, Range):
            low, high = set(ordered(">=", node.low)), set(ordered("<=", node.high))
            return stages_in([s for s in F.FUNNEL if s in low and s in high])
        raise self.ops_error(node, "stage", "=, !=, >, >=, <, <=, in, between")

    def band(self, node: Any) -> Part:
        ref = FieldRef("band", "band", F.BAND)
        warm, hot = F.score_bands()
        ranges = {"cold": (None, warm), "warm": (warm, hot), "hot": (hot, None)}

        def check(value: Value) -> int:
            band = self.word(value, ref, F.BAND)
            if band not in F.BANDS:
                raise self.error(
                    value.pos,
                    _("unknown band %(band)s (use %(bands)s)")
                    % {"band": F._quoted(value_text(value)), "bands": ", ".join(F.BANDS)},
                )
            return F.BANDS.index(band)

        def bands_in(chosen: Iterable[int]) -> Part:
            picked = sorted(set(chosen))
            if not picked:
                return EMPTY
            if len(picked) == len(F.BANDS):
                return ALL
            if F.band_column():
                # Scoring stores the band: the (band, id) index answers it.
                names = [F.BANDS[i] for i in picked]
                return _pred(Sql("c.band IN (") + placeholders(names) + ")")
            conditions = []
            # Contiguous bands make one score range.
            for _k, group in itertools.groupby(enumerate(picked), lambda p: p[1] - p[0]):
                run = [b for _i, b in group]
                low = ranges[F.BANDS[run[0]]][0]
                high = ranges[F.BANDS[run[-1]]][1]
                parts = []
                if low is not None:
                    parts.append(sql("c.score >= %s", low))
                if high is not None:
                    parts.append(sql("c.score < %s", high))
                conditions.append(join(" AND ", parts))
            return _pred(join(" OR ", [_paren(c) for c in conditions]))

        if isinstance(node, Exists):
            return ALL
        if isinstance(node, Compare):
            rank = check(node.value)
            op = "=" if node.op == "!=" else node.op
            test = {
                "=": rank.__eq__,
                ">": rank.__lt__,
                ">=": rank.__le__,
                "<": rank.__gt__,
                "<=": rank.__ge__,
            }[op]
            return bands_in(i for i in range(len(F.BANDS)) if test(i))
        if isinstance(node, In):
            return bands_in(check(v) for v in node.values)
        if isinstance(node, Range):
            low, high = check(node.low), check(node.high)
            return bands_in(range(low, high + 1))
        raise self.ops_error(node, "band", "=, !=, >, >=, <, <=, in, between")

    def owner(self, ref: FieldRef, node: Any) -> Part:
        from django.contrib.auth import get_user_model

        from leadbridge.accounts.models import Team

        users = get_user_model()._default_manager

        def ids_in(ids: Iterable[int]) -> Part:
            found = sorted(set(ids))
            if not found:
                return EMPTY
            return _pred(Sql("c.owner_id IN (") + placeholders(found) + ")")

        def team_members(teams: Iterable[int]) -> list[int]:
            return list(users.filter(team_id__in=list(teams)).values_list("pk", flat=True))

        def named(value: Value) -> list[int]:
            if ref.family == "owner" and isinstance(value, Bare) and value.value.lower() == "me":
                if self.user is None or getattr(self.user, "pk", None) is None:
                    raise self.error(value.pos, _("'me' needs a signed-in user"))
                return [self.user.pk]
            name = self.word(value, ref, F.REF)
            if ref.family == "owner":
                return list(users.filter(username__iexact=name).values_list("pk", flat=True))
            return team_members(Team.objects.filter(name__iexact=name).values_list("pk", flat=True))

        if isinstance(node, Exists):
            if ref.family == "owner":
                return _pred(Sql("c.owner_id IS NOT NULL"))
            return ids_in(users.filter(team__isnull=False).values_list("pk", flat=True))
        if isinstance(node, Compare) and node.op in ("=", "!="):
            return ids_in(named(node.value))
        if isinstance(node, In):
            return ids_in(i for v in node.values for i in named(v))
        if isinstance(node, Contains):
            needle = node.value.lower()
            if ref.family == "owner":
                rows = users.values_list("pk", "username")
                return ids_in(pk for pk, name in rows if needle in name.lower())
            teams = [pk for pk, name in Team.objects.values_list("pk", "name") if needle in name.lower()]
            return ids_in(team_members(teams))
        raise self.ops_error(node, ref.name, TEXT_OPS)

    # -- capture: touches, inquiries

    def touch(self, ref: FieldRef, node: Any) -> Part:
        from leadbridge.capture.models import ContactSource, Touch

        sources, touches = ContactSource._meta.db_table, Touch._meta.db_table
        if ref.column == "channel_id":
            inner = self.channel(ref, node)
        elif ref.column == "campaign_id":
            inner = self.campaign(ref, node)
        else:
            inner = self.scalar(ref, node, f"t.{ref.column}", nullable=False, kind=F.TEXT)
        if inner.kind == "empty":
            return EMPTY
        head = Sql(
            f"SELECT cs.contact_id AS id FROM {sources} cs JOIN {touches} t ON t.id = cs.{ref.which}_id"
        )
        if inner.kind == "all":
            return _set(head, unique=True)
        return _set(head + " WHERE " + inner.sql, unique=True)  # type: ignore[operator]

    def keyed(
        self, ref: FieldRef, node: Any, rows: Sequence[tuple[int, str]], what: str, column: str
    ) -> Part:
        """A reference by key (channel, inquiry class): unknown keys are an error listing the valid ones."""
        by_key = {key.lower(): pk for pk, key in rows}

        def check(value: Value) -> int:
            key = self.word(value, ref, F.REF)
            if key not in by_key:
                raise self.error(
                    value.pos,
                    _("unknown %(what)s %(value)s (use %(valid)s)")
                    % {
                        "what": what,
                        "value": F._quoted(value_text(value)),
                        "valid": ", ".join(sorted(by_key)),
                    },
                )
            return by_key[key]

        def ids_in(ids: Iterable[int]) -> Part:
            found = sorted(set(ids))
            if not found:
                return EMPTY
            return _pred(Sql(f"{column} IN (") + placeholders(found) + ")")

        if isinstance(node, Exists):
            return _pred(Sql(f"{column} IS NOT NULL"))
        if isinstance(node, Compare) and node.op in ("=", "!="):
            return ids_in([check(node.value)])
        if isinstance(node, In):
            return ids_in(check(v) for v in node.values)
        if isinstance(node, Contains):
            return ids_in(pk for key, pk in by_key.items() if node.value.lower() in key)
        raise self.ops_error(node, ref.name, TEXT_OPS)

    def channel(self, ref: FieldRef, node: Any) -> Part:
        from leadbridge.marketing.models import Channel

        rows = list(Channel.objects.values_list("pk", "key"))
        return self.keyed(ref, node, rows, _("channel"), "t.channel_id")

    def campaign(self, ref: FieldRef, node: Any) -> Part:
        """A campaign by its utm_campaign or its name (case-insensitive)."""
        from leadbridge.marketing.models import Campaign

        rows = list(Campaign.objects.values_list("pk", "name", "utm_campaign"))

        def ids_in(ids: Iterable[int]) -> Part:
            found = sorted(set(ids))
            if not found:
                return EMPTY
            return _pred(Sql("t.campaign_id IN (") + placeholders(found) + ")")

        def named(value: Value) -> list[int]:
            word = self.word(value, ref, F.REF)
            return [pk for pk, name, utm in rows if word in (name.strip().lower(), (utm or "").lower())]

        if isinstance(node, Exists):
            return _pred(Sql("t.campaign_id IS NOT NULL"))
        if isinstance(node, Compare) and node.op in ("=", "!="):
            return ids_in(named(node.value))
        if isinstance(node, In):
            return ids_in(i for v in node.values for i in named(v))
        if isinstance(node, Contains):
            needle = node.value.lower()
            return ids_in(
                pk for pk, name, utm in rows if needle in name.lower() or needle in (utm or "").lower()
            )
        raise self.ops_error(node, ref.name, TEXT_OPS)

    def inquiry(self, ref: FieldRef, node: Any) -> Part:
        from leadbridge.capture.models import Inquiry, InquiryClass, InquiryKind

        table = Inquiry._meta.db_table
        if ref.key == "class":
            rows = list(InquiryClass.objects.values_list("pk", "key"))
            inner = self.keyed(ref, node, rows, _("inquiry class"), "i.cls_id")
        else:
            kinds = list(InquiryKind.values)
            inner = self.kind_in(ref, node, kinds)
        if inner.kind == "empty":
            return EMPTY
        head = Sql(f"SELECT i.contact_id AS id FROM {table} i")
        if inner.kind == "all":
            return _set(head, unique=False)
        return _set(head + " WHERE " + inner.sql, unique=False)  # type: ignore[operator]

    def kind_in(self, ref: FieldRef, node: Any, kinds: list[str]) -> Part:
        def check(value: Value) -> str:
            kind = self.word(value, ref, F.REF)
            if kind not in kinds:
                raise self.error(
                    value.pos,
                    _("unknown inquiry kind %(value)s (use %(valid)s)")
                    % {"value": F._quoted(value_text(value)), "valid": ", ".join(kinds)},
                )
            return kind

        if isinstance(node, Exists):
            return ALL
        if isinstance(node, Compare) and node.op in ("=", "!="):
            return _pred(sql("i.kind = %s", check(node.value)))
        if isinstance(node, In):
            values = list(dict.fromkeys(check(v) for v in node.values))
            return _pred(Sql("i.kind IN (") + placeholders(values) + ")")
        raise self.ops_error(node, ref.name, CHOICE_OPS)

    def inquiries(self, node: Any) -> Part:
        from leadbridge.capture.models import Inquiry

        ref = FieldRef("inquiries", "inquiries", F.NUMBER)
        rows = Sql(f"SELECT i.contact_id AS id FROM {Inquiry._meta.db_table} i")
        return counted(self, ref, node, rows, "i.contact_id")

    def consent(self, ref: FieldRef, node: Any) -> Part:
        from leadbridge.contacts.models import Consent

        table = Consent._meta.db_table

        def check(value: Value) -> str:
            status = self.word(value, ref, F.REF)
            if status not in F.CONSENT_STATUSES:
                raise self.error(
                    value.pos,
                    _("unknown consent status %(value)s (use %(valid)s)")
                    % {"value": F._quoted(value_text(value)), "valid": ", ".join(F.CONSENT_STATUSES)},
                )
            return status

        def rows(where: Sql) -> Sql:
            return sql(f"SELECT k.contact_id AS id FROM {table} k WHERE k.channel = %s AND ", ref.key) + where

        def statuses(chosen: Iterable[str]) -> Part:
            picked = sorted(set(chosen))
            # No row means "unknown": with unknown chosen, match everyone except the other statuses.
            if "unknown" in picked:
                others = [s for s in F.CONSENT_STATUSES if s not in picked]
                if not others:
                    return ALL
                return Part("comp", rows(Sql("k.status IN (") + placeholders(others) + ")"))
            return _set(rows(Sql("k.status IN (") + placeholders(picked) + ")"), unique=True)

        if isinstance(node, Exists):
            return statuses([s for s in F.CONSENT_STATUSES if s != "unknown"])
        if isinstance(node, Compare) and node.op in ("=", "!="):
            return statuses([check(node.value)])
        if isinstance(node, In):
            return statuses(check(v) for v in node.values)
        raise self.ops_error(node, ref.name, CHOICE_OPS)


def counted(
    compiler: _Compiler, ref: FieldRef, node: Any, rows: Sql, group: str, *, measure: str = "COUNT(*)"
) -> Part:
    """Contacts by how many `rows` they have (`inquiries >= 2`, `visits >= 5`); `rows` selects
    the column `id` and may end in a WHERE clause, `group` is the contact id column to count by.

    Contacts without rows have 0: when 0 satisfies the comparison, the result is every contact
    except those whose count does not (a comp), so no query counts the whole contact table.
    """

    def number(value: Value) -> int | float:
        if not isinstance(value, Num) or value.value != value.value.to_integral_value():
            raise compiler.error(value.pos, _("%(field)s takes a whole number") % {"field": ref.name})
        return _num(value.value)

    if isinstance(node, Exists):
        tests: list[tuple[str, float]] = [(">", 0)]
    elif isinstance(node, Compare):
        tests = [("=" if node.op == "!=" else node.op, number(node.value))]
    elif isinstance(node, In):
        tests = [("=", number(v)) for v in node.values]
    elif isinstance(node, Range):
        low, high = number(node.low), number(node.high)
        return _count_part(rows, group, [(">=", low), ("<=", high)], all_of=True, measure=measure)
    else:
        raise compiler.ops_error(node, ref.name, NUMBER_OPS)
    return _count_part(rows, group, tests, all_of=False, measure=measure)


def _count_part(
    rows: Sql, group: str, tests: Sequence[tuple[str, float]], *, all_of: bool, measure: str = "COUNT(*)"
) -> Part:
    checks = {
        "=": lambda n, v: n == v,
        ">": lambda n, v: n > v,
        ">=": lambda n, v: n >= v,
        "<": lambda n, v: n < v,
        "<=": lambda n, v: n <= v,
    }
    zero = (all if all_of else any)(checks[op](0, v) for op, v in tests)
    # `measure`: how many rows a contact has (COUNT(*)) or the sum of a count column.
    having = join(" AND " if all_of else " OR ", [sql(f"{measure} {CMP[op]} %s", v) for op, v in tests])
    base = rows + f" GROUP BY {group} HAVING "
    if zero:
        return Part("comp", base + "NOT (" + having + ")")
    return _set(base + having, unique=True)
