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
from django.utils.translation import gettext as _

from leadbridge.capture import contact_days
from leadbridge.capture.contact_days import path_sql
from leadbridge.capture.models import ContactDay, EventKind, TrackingEvent, Visitor
from leadbridge.capture.services import HIT_MAX_AGE
from leadbridge.core.rawsql import read_datetime
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
DAYS = ContactDay._meta.db_table
PAGE_KINDS = (int(EventKind.PAGEVIEW), int(EventKind.PIXEL))
CMP = {"=": "=", "!=": "<>", ">": ">", ">=": ">=", "<": "<", "<=": "<="}


# --- id bounds of a time window ----------------------------------------------------------------


def _probe(cursor: Any, at_least: int) -> tuple[int, dt.datetime] | None:
    cursor.execute(f"SELECT id, occurred_at FROM {EVENTS} WHERE id >= %s ORDER BY id LIMIT 1", [at_least])
    row = cursor.fetchone()
    return (int(row[0]), read_datetime(row[1])) if row else None


def _id_range(cursor: Any) -> tuple[int, int] | None:
    # Two queries: SQLite answers MIN(id) and MAX(id) from the primary key only one at a time.
    cursor.execute(f"SELECT id FROM {EVENTS} ORDER BY id LIMIT 1")
    low = cursor.fetchone()
    cursor.execute(f"SELECT id FROM {EVENTS} ORDER BY id DESC LIMIT 1")
    high = cursor.fetchone()
    return None if low is None or high is None else (int(low[0]), int(high[0]))


def _first_probed_at(limit: dt.datetime) -> tuple[int | None, int | None]:
    """Binary search over the primary key: (the highest probed id whose hit occurred before
    `limit`, the lowest probed id whose hit occurred at or after it); None where there is none.
    Hits' times are ordered by id within HIT_MAX_AGE, which the callers' `limit` allows for."""
    with connection.cursor() as cursor:
        bounds = _id_range(cursor)
        if bounds is None:
            return None, None
        low, high = bounds
        before: int | None = None
        after: int | None = None
        while low <= high:
            mid = (low + high) // 2
            found = _probe(cursor, mid)
            if found is None:
                high = mid - 1
            elif found[1] < limit:
                before, low = found[0], found[0] + 1
            else:
                after, high = found[0], mid - 1
    return before, after


def first_id_from(moment: dt.datetime) -> int | None:
    """An id X such that every hit that occurred at or after `moment` has id >= X (None: no
    bound helps). X is one past the highest probed hit that occurred a day or more before
    `moment`: that hit, and every earlier one, was stored before `moment`."""
    before, _after = _first_probed_at(moment - HIT_MAX_AGE)
    return None if before is None else before + 1


def last_id_before(moment: dt.datetime) -> int | None:
    """An id Y such that every hit that occurred before `moment` has id < Y (None: no bound)."""
    _before, after = _first_probed_at(moment + HIT_MAX_AGE)
    return after


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
        return range_sql(self.low, self.low_exclusive, self.high, self.high_inclusive)


def range_sql(
    low: dt.datetime | None,
    low_exclusive: bool,
    high: dt.datetime | None,
    high_inclusive: bool,
    *,
    after_id: int | None = None,
    upto_id: int | None = None,
) -> Sql | None:
    """The hits `e` that occurred in [low, high) (the flags move either end), as an id range of
    the event table plus the time test; `after_id`/`upto_id` cut the ids further."""
    adapt = connection.ops.adapt_datetimefield_value
    parts: list[Sql] = []
    floor = after_id + 1 if after_id is not None else None
    if low is not None:
        first = first_id_from(low)
        if first is not None:
            floor = first if floor is None else max(floor, first)
    if floor is not None:
        parts.append(sql("e.id >= %s", floor))
    if low is not None:
        parts.append(sql(f"e.occurred_at {'>' if low_exclusive else '>='} %s", adapt(low)))
    if high is not None:
        last = last_id_before(high + (dt.timedelta(microseconds=1) if high_inclusive else dt.timedelta()))
        if last is not None:
            parts.append(sql("e.id < %s", last))
        parts.append(sql(f"e.occurred_at {'<=' if high_inclusive else '<'} %s", adapt(high)))
    if upto_id is not None:
        parts.append(sql("e.id <= %s", upto_id))
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
    else:
        exact = sql(f"{path_sql(url)} {op} %s ESCAPE '\\'", like)
    return (prefilter + " AND " + _paren(exact)) if prefilter is not None else exact


# --- terms ------------------------------------------------------------------------------------------


def _hits(where: list[Sql], *, windowed: bool, counted: bool = False) -> Sql:
    # With a time window the hits are an id range of the event table: read it in order and look
    # each hit's visitor up. SQLite would rather walk every linked visitor's (visitor, time) index
    # (3-4x slower at 10M events); CROSS JOIN makes it keep the order written.
    join_ = "CROSS JOIN" if windowed and connection.vendor == "sqlite" else "JOIN"
    head = Sql(
        f"SELECT v.contact_id AS id{', 1 AS n' if counted else ''} FROM {EVENTS} e {join_} {VISITORS} v "
        "ON v.id = e.visitor_id "
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


def _day_sql(day: dt.date) -> Any:
    return connection.ops.adapt_datefield_value(day)


def _utc_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=dt.UTC)


def _rolled_key(node: Visited | Visits | Event) -> Sql | bool | None:
    """The roll-up's condition on `r.key` for this term: None for none (every page), False when
    the roll-up cannot answer it (URL patterns, event property tests)."""
    if isinstance(node, Visits):
        return None
    if isinstance(node, Event):
        return False if node.where else sql("r.key = %s", node.name)
    if not node.pattern.startswith("/"):
        return False
    pattern = node.pattern.lower()  # keys are lower-cased paths
    test = sql("r.key LIKE %s ESCAPE '\\'", _like_pattern(pattern))
    prefix = pattern.split("*", 1)[0]
    if prefix and connection.vendor == "sqlite":
        # SQLite's LIKE folds case, so it never reads an index range for a prefix; the explicit
        # range on the (lower-case) keys does. PostgreSQL's text_pattern_ops index takes the LIKE.
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
        test = sql("r.key >= %s AND r.key < %s AND ", prefix, upper) + test
    return test


def _rolled(node: Visited | Visits | Event, window: _Window | None, where: list[Sql]) -> Sql | None:
    """Rows (`id`, `n`) of the term's hits from the per-contact daily roll-up plus the event
    table (the window's partial days and the hits newer than the roll-up), or None when the
    roll-up cannot help: a window shorter than a whole UTC day, URL patterns, event property
    tests, or nothing rolled up yet. The parts are disjoint, so counts add up exactly."""
    key = _rolled_key(node)
    if key is False:
        return None
    done = contact_days.position()
    if done <= 0:
        return None
    low = window.low if window is not None else None
    high = window.high if window is not None else None
    low_x = window.low_exclusive if window is not None else False
    high_i = window.high_inclusive if window is not None else False
    first_day = last_day = None  # whole days: first_day <= day < last_day
    if low is not None:
        first_day = low.astimezone(dt.UTC).date()
        if low_x or _utc_midnight(first_day) != low:
            first_day += dt.timedelta(days=1)
    if high is not None:
        last_day = high.astimezone(dt.UTC).date()
    if first_day is not None and last_day is not None and first_day >= last_day:
        return None
    kind = int(EventKind.EVENT) if isinstance(node, Event) else int(EventKind.PAGEVIEW)
    days = sql(f"SELECT r.contact_id AS id, r.hits AS n FROM {DAYS} r WHERE r.kind = %s", kind)
    if key is not None:
        days = days + " AND " + key  # type: ignore[operator]
    if first_day is not None:
        days = days + sql(" AND r.day >= %s", _day_sql(first_day))
    if last_day is not None:
        days = days + sql(" AND r.day < %s", _day_sql(last_day))
    pieces = [days]

    def raw(bounds: Sql | None) -> None:
        rows = _hits([*where, bounds] if bounds is not None else where, windowed=True, counted=True)
        pieces.append(rows)

    if first_day is not None and low is not None and _utc_midnight(first_day) > low:
        raw(range_sql(low, low_x, _utc_midnight(first_day), False, upto_id=done))
    if last_day is not None and high is not None:
        raw(range_sql(_utc_midnight(last_day), False, high, high_i, upto_id=done))
    raw(range_sql(low, low_x, high, high_i, after_id=done))
    union = pieces[0]
    for piece in pieces[1:]:
        union = union + " UNION ALL " + piece
    return Sql("SELECT u.id, u.n FROM (") + union + ") u"


def compile_behaviour(node: Visited | Visits | Event, compiler: Any) -> Part:
    window = _Window(compiler, node.when) if node.when is not None else None
    bounds = window.sql() if window is not None else None
    if isinstance(node, Visited):
        where = [_kinds(PAGE_KINDS), url_condition(node.pattern)]
    elif isinstance(node, Event):
        where = [_kinds((int(EventKind.EVENT),)), sql("e.name = %s", node.name)]
        where += [_paren(prop_condition(compiler, c)) for c in node.where]
    else:
        where = [_kinds(PAGE_KINDS)]
    rolled = _rolled(node, window, where)
    if not isinstance(node, Visits):
        # A contact with many hits is selected many times: not unique.
        if rolled is not None:
            return Part("set", Sql("SELECT x.id FROM (") + rolled + ") x")
        return Part(
            "set", _hits([*where, bounds] if bounds is not None else where, windowed=bounds is not None)
        )
    # visits op N: page views per contact; `!=` is the negation of `=`.
    ref = FieldRef("visits", "visits", F.NUMBER)
    compare = Compare("visits", "=" if node.op == "!=" else node.op, Num(Decimal(node.count)), pos=node.pos)
    if rolled is not None:
        part = counted(
            compiler, ref, compare, Sql("SELECT x.id FROM (") + rolled + ") x", "x.id", measure="SUM(x.n)"
        )
    else:
        rows = _hits([*where, bounds] if bounds is not None else where, windowed=bounds is not None)
        part = counted(compiler, ref, compare, rows, "v.contact_id")
    return not_part(part) if node.op == "!=" else part
