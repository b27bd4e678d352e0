# ruff: noqa: S608 - SQL is built here: identifiers come from our own models, every value is a parameter.
"""Behaviour terms over tracking events: `visited("/pricing*") within 30d`, `visits >= 5 within
7d`, `event("cart_add", amount > 100) within 2h`.

Only hits of visitors linked to a contact count (capture_visitor.contact_id). Page views are
hits of kind pageview and pixel. `visited(P)`: a pattern starting with "/" is matched against
the page's path (the URL without scheme, host, query string and fragment), anything else
against the whole URL; `*` is any run of characters; case is ignored. `visited("/pricing")`
matches /pricing and /pricing?utm=x, not /pricing/plans (write /pricing* for that).

The event table has no time index on purpose (lean inserts). Time windows use the primary key
instead: ids grow with the time a hit is stored, and a hit's occurred_at is at most a day
(capture's HIT_MAX_AGE) older than that. So every hit that occurred at or after a cut-off has
an id above any hit that occurred more than a day before the cut-off; a binary search over the
primary key (a few index probes) finds such a hit near the boundary, and the query reads only
ids above it (`e.id >= X AND e.occurred_at >= cutoff`). `before` windows bound ids from above
the same way.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from leadbridge.capture.models import EventKind, TrackingEvent, Visitor
from leadbridge.capture.services import HIT_MAX_AGE
from leadbridge.segments import fields as F
from leadbridge.segments.compiler import (
    Part,
    Sql,
    _escape_like,
    _num,
    _paren,
    counted,
    join,
    not_part,
    sql,
)
from leadbridge.segments.fields import FieldRef
from leadbridge.segments.language import (
    After,
    Bare,
    Before,
    Between,
    Bool,
    Compare,
    Condition,
    Date,
    DateTime,
    Event,
    Num,
    Str,
    Visited,
    Visits,
    Within,
)

EVENTS = TrackingEvent._meta.db_table
VISITORS = Visitor._meta.db_table
PAGE_KINDS = (int(EventKind.PAGEVIEW), int(EventKind.PIXEL))
CMP = {"=": "=", "!=": "<>", ">": ">", ">=": ">=", "<": "<", "<=": "<="}


# --- id bounds of a time window ----------------------------------------------------------------


def _as_datetime(value: Any) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    parsed = parse_datetime(str(value))
    if parsed is None:
        raise ValueError(f"not a datetime: {value!r}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _probe(cursor: Any, at_least: int) -> tuple[int, dt.datetime] | None:
    cursor.execute(f"SELECT id, occurred_at FROM {EVENTS} WHERE id >= %s ORDER BY id LIMIT 1", [at_least])
    row = cursor.fetchone()
    return (int(row[0]), _as_datetime(row[1])) if row else None


def _id_range(cursor: Any) -> tuple[int, int] | None:
    # Two queries: SQLite answers MIN(id) and MAX(id) from the primary key only one at a time.
    cursor.execute(f"SELECT id FROM {EVENTS} ORDER BY id LIMIT 1")
    low = cursor.fetchone()
    cursor.execute(f"SELECT id FROM {EVENTS} ORDER BY id DESC LIMIT 1")
    high = cursor.fetchone()
    return None if low is None or high is None else (int(low[0]), int(high[0]))


def first_id_from(moment: dt.datetime) -> int | None:
    """An id X such that every hit that occurred at or after `moment` has id >= X (None: no
    bound helps). X is one past the highest probed hit that occurred a day or more before
    `moment`: that hit, and every earlier one, was stored before `moment`."""
    limit = moment - HIT_MAX_AGE
    with connection.cursor() as cursor:
        bounds = _id_range(cursor)
        if bounds is None:
            return None
        low, high = bounds
        best: int | None = None
        while low <= high:
            mid = (low + high) // 2
            found = _probe(cursor, mid)
            if found is None:
                high = mid - 1
            elif found[1] < limit:
                best, low = found[0], found[0] + 1
            else:
                high = mid - 1
    return None if best is None else best + 1


def last_id_before(moment: dt.datetime) -> int | None:
    """An id Y such that every hit that occurred before `moment` has id < Y (None: no bound)."""
    limit = moment + HIT_MAX_AGE
    with connection.cursor() as cursor:
        bounds = _id_range(cursor)
        if bounds is None:
            return None
        low, high = bounds
        best: int | None = None
        while low <= high:
            mid = (low + high) // 2
            found = _probe(cursor, mid)
            if found is None:
                high = mid - 1
            elif found[1] >= limit:
                best, high = found[0], mid - 1
            else:
                low = found[0] + 1
    return best


class _Window:
    """The occurred_at bounds of a behaviour term's time window, as SQL on `e`."""

    def __init__(self, compiler: Any, when: Any) -> None:
        self.compiler = compiler
        self.low: dt.datetime | None = None  # occurred_at >= low
        self.high: dt.datetime | None = None  # occurred_at < high (or <= when high_inclusive)
        self.low_exclusive = False
        self.high_inclusive = False
        if isinstance(when, Within):
            self.low = compiler.cutoff(when.duration, False)
        elif isinstance(when, After):
            self.low, self.low_exclusive = self.after(when.moment)
        elif isinstance(when, Before):
            self.high = self.start(when.moment)
        elif isinstance(when, Between):
            self.low = self.start(when.low)
            self.high, self.high_inclusive = self.end(when.high)

    def start(self, moment: Date | DateTime) -> dt.datetime:
        if isinstance(moment, DateTime):
            return self.compiler.moment(moment)
        return self.compiler.day_start(moment.value)

    def after(self, moment: Date | DateTime) -> tuple[dt.datetime, bool]:
        if isinstance(moment, DateTime):
            return self.compiler.moment(moment), True
        return self.compiler.day_start(moment.value + dt.timedelta(days=1)), False

    def end(self, moment: Date | DateTime) -> tuple[dt.datetime, bool]:
        if isinstance(moment, DateTime):
            return self.compiler.moment(moment), True
        return self.compiler.day_start(moment.value + dt.timedelta(days=1)), False

    def sql(self) -> Sql | None:
        adapt = connection.ops.adapt_datetimefield_value
        parts: list[Sql] = []
        if self.low is not None:
            first = first_id_from(self.low)
            if first is not None:
                parts.append(sql("e.id >= %s", first))
            parts.append(sql(f"e.occurred_at {'>' if self.low_exclusive else '>='} %s", adapt(self.low)))
        if self.high is not None:
            last = last_id_before(
                self.high + (dt.timedelta(microseconds=1) if self.high_inclusive else dt.timedelta())
            )
            if last is not None:
                parts.append(sql("e.id < %s", last))
            parts.append(sql(f"e.occurred_at {'<=' if self.high_inclusive else '<'} %s", adapt(self.high)))
        return join(" AND ", parts) if parts else None


# --- page patterns -----------------------------------------------------------------------------


def _like_pattern(pattern: str) -> str:
    return "%".join(_escape_like(chunk) for chunk in pattern.split("*"))


def _longest_literal(pattern: str) -> str:
    return max(pattern.split("*"), key=len)


def url_condition(pattern: str) -> Sql:
    """Hits whose page matches `pattern` (see the module doc), case-insensitive."""
    pg = connection.vendor == "postgresql"
    folded = not pg and not pattern.isascii()  # SQLite's LIKE folds ASCII only
    if folded:
        pattern = pattern.lower()
    op = "ILIKE" if pg else "LIKE"
    url = "lb_lower(e.url)" if folded else "e.url"
    # A cheap first test on the raw URL (the longest literal piece of the pattern) drops most
    # rows before the path is cut out of the URL. On PostgreSQL, ILIKE folds case through the
    # locale, character by character: for an ASCII piece, lower() in the C collation and a
    # plain LIKE read the 30-day window of 10M hits in half the time.
    literal = _longest_literal(pattern)
    prefilter = None
    if literal and pg and literal.isascii():
        prefilter = sql(
            f"lower({url} COLLATE \"C\") LIKE %s ESCAPE '\\'", f"%{_escape_like(literal.lower())}%"
        )
    elif literal:
        prefilter = sql(f"{url} {op} %s ESCAPE '\\'", f"%{_escape_like(literal)}%")
    like = _like_pattern(pattern)
    if not pattern.startswith("/"):
        exact = sql(f"{url} {op} %s ESCAPE '\\'", like)
    elif pg:
        path = "substring(e.url from '^[^:/?#]+://[^/?#]*([^?#]*)')"
        exact = sql(f"{path} ILIKE %s ESCAPE '\\'", like)
    else:
        # The path starts at the first "/" after "://" and ends before "?" or "#".
        path = f"substr({url}, instr({url}, '://') + 2 + instr(substr({url}, instr({url}, '://') + 3), '/'))"
        for stop in ("?", "#"):
            path = f"CASE WHEN instr({path}, '{stop}') > 0 THEN substr({path}, 1, instr({path}, '{stop}') - 1) ELSE {path} END"
        exact = sql(f"{path} LIKE %s ESCAPE '\\'", like)
    return (prefilter + " AND " + _paren(exact)) if prefilter is not None else exact


# --- terms ------------------------------------------------------------------------------------------


def _hits(where: list[Sql], *, windowed: bool) -> Sql:
    # With a time window the hits are an id range of the event table: read it in order and look
    # each hit's visitor up. SQLite would rather walk every linked visitor's (visitor, time) index
    # (3-4x slower at 10M events); CROSS JOIN makes it keep the order written.
    join_ = "CROSS JOIN" if windowed and connection.vendor == "sqlite" else "JOIN"
    head = Sql(
        f"SELECT v.contact_id AS id FROM {EVENTS} e {join_} {VISITORS} v ON v.id = e.visitor_id "
        "WHERE v.contact_id IS NOT NULL"
    )
    for condition in where:
        head = head + " AND " + condition
    return head


def _kinds(kinds: tuple[int, ...]) -> Sql:
    return Sql(f"e.kind IN ({', '.join(str(k) for k in kinds)})")


def prop_condition(compiler: Any, condition: Condition) -> Sql:
    """One `key op value` on the event's props (a number compares as a number, text as text)."""
    pg = connection.vendor == "postgresql"
    key = condition.field
    value = condition.value
    op = "=" if condition.op == "!=" else condition.op
    if isinstance(value, Num):
        if pg:
            expr = Sql(
                "CASE WHEN jsonb_typeof(e.props -> %s) = 'number' THEN (e.props ->> %s)::numeric END",
                (key, key),
            )
        else:
            path = f'$."{key}"'
            expr = Sql(
                "CASE WHEN json_type(e.props, %s) IN ('integer', 'real') THEN json_extract(e.props, %s) END",
                (path, path),
            )
        positive = expr + sql(f" {CMP[op]} %s", _num(value.value))
    elif isinstance(value, Str | Bare):
        if op not in ("=",):
            raise compiler.error(value.pos, _("text properties compare with = or !="))
        if pg:
            expr = Sql("CASE WHEN jsonb_typeof(e.props -> %s) = 'string' THEN e.props ->> %s END", (key, key))
        else:
            path = f'$."{key}"'
            expr = Sql(
                "CASE WHEN json_type(e.props, %s) = 'text' THEN json_extract(e.props, %s) END", (path, path)
            )
        positive = expr + sql(" = %s", value.value)
    elif isinstance(value, Bool):
        if op != "=":
            raise compiler.error(value.pos, _("true and false compare with = or !="))
        if pg:
            positive = sql("(e.props -> %s) = %s::jsonb", key, "true" if value.value else "false")
        else:
            positive = sql("json_type(e.props, %s) = %s", f'$."{key}"', "true" if value.value else "false")
    else:
        raise compiler.error(value.pos, _("event properties take a number, text or true/false"))
    if condition.op == "!=":
        return Sql("NOT COALESCE((") + positive + "), FALSE)"
    return positive


def compile_behaviour(node: Visited | Visits | Event, compiler: Any) -> Part:
    window = _Window(compiler, node.when).sql() if node.when is not None else None
    if isinstance(node, Visited):
        where = [_kinds(PAGE_KINDS), url_condition(node.pattern)]
    elif isinstance(node, Event):
        where = [_kinds((int(EventKind.EVENT),)), sql("e.name = %s", node.name)]
        where += [_paren(prop_condition(compiler, c)) for c in node.where]
    else:
        where = [_kinds(PAGE_KINDS)]
    if window is not None:
        where.append(window)
    if not isinstance(node, Visits):
        # A contact with many hits is selected many times: not unique.
        return Part("set", _hits(where, windowed=window is not None))
    # visits op N: page views per contact; `!=` is the negation of `=`.
    ref = FieldRef("visits", "visits", F.NUMBER)
    compare = Compare("visits", "=" if node.op == "!=" else node.op, Num(Decimal(node.count)), pos=node.pos)
    part = counted(compiler, ref, compare, _hits(where, windowed=window is not None), "v.contact_id")
    return not_part(part) if node.op == "!=" else part
