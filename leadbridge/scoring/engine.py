"""The scoring engine: compiled rules, who gets which points (once, caps, class changes), the
ledger's bulk writes and the score + band update. Set-based: a batch of thousands of source rows
costs a few statements, whatever its size.

    book = RuleBook.load()
    entries = award(matches)                 # NewEntry per point change, in match order
    ledger_write(entries)                    # one INSERT
    scores_apply(deltas_of(entries), ...)    # one UPDATE ... RETURNING + the band activities

Every function here runs inside the caller's transaction, after `scoring_lock()`: one writer at
a time keeps "once" and cap checks exact without a unique index on the ledger.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection

from leadbridge.capture.models import EventKind
from leadbridge.contacts.models import Activity, Band, Contact
from leadbridge.core import clock
from leadbridge.core.errors import ServiceError
from leadbridge.core.rawsql import read_datetime as read_dt
from leadbridge.marketing.models import Channel
from leadbridge.scoring.conditions import Predicate, columns_used, compile_condition
from leadbridge.scoring.models import (
    Frequency,
    RuleKind,
    RuleSource,
    ScoreEntry,
    ScoreSettings,
    ScoringRule,
)

log = logging.getLogger(__name__)

BAND_CHANGED = "score_band_changed"
CONTACTS = Contact._meta.db_table
ENTRIES = ScoreEntry._meta.db_table
# An arbitrary constant: the advisory lock every scoring write transaction takes on PostgreSQL.
LOCK_KEY = 0x5C0E1EAD
HIT_SOURCES = {
    RuleSource.PAGEVIEW: int(EventKind.PAGEVIEW),
    RuleSource.EVENT: int(EventKind.EVENT),
    RuleSource.PIXEL: int(EventKind.PIXEL),
}


def scoring_lock() -> None:
    """Serialise scoring writers until the transaction ends: the worker's batches, decay, a
    recompute batch, fit changes, rule deletion. SQLite needs none: every write transaction
    already holds the database's write lock from its start (transaction_mode IMMEDIATE)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # JIT off for the rest of the transaction: the batch's lookups are thousands of index
            # probes that the planner costs high (it cannot know how few rows each id brings), so
            # PostgreSQL compiled each query, 80-120 ms apiece, to save a millisecond.
            cursor.execute("SELECT pg_advisory_xact_lock(%s), set_config('jit', 'off', true)", [LOCK_KEY])


# --- SQL helpers -------------------------------------------------------------------------------


def pg_array(values: Iterable[Any]) -> str:
    """A PostgreSQL array literal of integers ("{1,2,3}"). Django's psycopg cursors bind on the
    client side, where psycopg quotes a list parameter item by item in Python: for the thousands
    of ids of a batch that took longer than the query."""
    return "{" + ",".join(str(int(v)) for v in values) + "}"


def ints(values: Iterable[int]) -> str:
    """Integer ids (rule ids, kinds, source ids) as SQL literals: "1, 2, 3" (NULL when none)."""
    return ", ".join(str(int(v)) for v in values) or "NULL"


def pk_in(column: str, values: Sequence[int]) -> tuple[str, list[Any]]:
    """`column` is one of `values`, for a primary key: one array parameter on PostgreSQL (an
    index scan for any length), a JSON list on SQLite."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s::bigint[])", [pg_array(values)]
    return f"{column} IN (SELECT value FROM json_each(%s))", [json.dumps([int(v) for v in values])]  # noqa: S608


def rows_by(
    table: str,
    column: str,
    ids: Sequence[int],
    *,
    alias: str,
    columns: str = "*",
    where: str = "",
    params: Sequence[Any] = (),
) -> tuple[str, list[Any]]:
    """A FROM item: the rows of `table` (as `alias`, with `columns`) whose `column` is one of
    `ids`, each id looked up through the index that leads with `column`, and meeting `where`.

    PostgreSQL: unnest + LATERAL (... OFFSET 0). A plain `IN (ids)` lets the planner hash-join
    the whole table whenever it misjudges how many rows the ids bring (it assumes 100-200 for an
    unnest): a sequential scan of the ledger per batch was most of a batch's time at 1M hits.
    OFFSET 0 keeps the subquery from being pulled up into such a join. SQLite runs `IN (SELECT
    value FROM json_each(?))` as one index lookup per id.
    """
    cond = f" AND {where}" if where else ""
    if connection.vendor == "postgresql":
        return (
            f"unnest(%s::bigint[]) AS {alias}_k(k) CROSS JOIN LATERAL (SELECT {columns} FROM {table} "  # noqa: S608
            f"WHERE {column} = {alias}_k.k{cond} OFFSET 0) {alias}",
            [pg_array(ids), *params],
        )
    return (
        f"(SELECT {columns} FROM {table} WHERE {column} IN (SELECT value FROM json_each(%s)){cond}) {alias}",  # noqa: S608
        [json.dumps([int(v) for v in ids]), *params],
    )


def ledger_pairs(
    pairs: Sequence[tuple[int, int]], *, columns: str, where: str = "", params: Sequence[Any] = ()
) -> tuple[str, list[Any]]:
    """A FROM item `x`: the ledger entries of these (contact, rule) pairs meeting `where`, each
    pair looked up through score_entry_cap (contact, rule, occurred_at). A batch's state needs a
    contact's entries of the rules it matched, not of every rule in the batch."""
    cond = f" AND {where}" if where else ""
    if connection.vendor == "postgresql":
        return (
            f"unnest(%s::bigint[], %s::bigint[]) AS x_k(c, r) CROSS JOIN LATERAL (SELECT {columns} "  # noqa: S608
            f"FROM {ENTRIES} WHERE contact_id = x_k.c AND rule_id = x_k.r{cond} OFFSET 0) x",
            [pg_array(c for c, _r in pairs), pg_array(r for _c, r in pairs), *params],
        )
    return (
        f"(SELECT {columns} FROM {ENTRIES} WHERE (contact_id, rule_id) IN (SELECT json_extract(value, '$[0]'), "  # noqa: S608
        f"json_extract(value, '$[1]') FROM json_each(%s)){cond}) x",
        [json.dumps([[int(c), int(r)] for c, r in pairs]), *params],
    )


def db_dt(value: dt.datetime) -> Any:
    """A datetime as the database takes it. SQLite: Django's text form (UTC, "YYYY-MM-DD
    HH:MM:SS[.ffffff]") without its per-value overhead, which cost more than the INSERT."""
    if connection.vendor == "postgresql":
        return value  # psycopg sends aware datetimes as they are
    if value.tzinfo is dt.UTC:
        return value.replace(tzinfo=None).isoformat(" ")
    return connection.ops.adapt_datetimefield_value(value)


def fetch(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, list(params))
        return list(cursor.fetchall())


def chunked(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- rules -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A behaviour rule ready for the worker: its condition compiled to a Python function."""

    id: int
    source: str
    points: int
    once: bool
    cap: int | None
    cap_period: dt.timedelta | None
    event_name: str = ""
    inquiry_kind: str = ""
    class_kind: str = ""
    channel_id: int | None = None
    predicate: Predicate | None = None
    columns: frozenset[str] = frozenset()

    @property
    def capped(self) -> bool:
        return not self.once and self.cap is not None and self.cap_period is not None


def compile_rule(rule: ScoringRule, channels: dict[str, int] | None = None) -> CompiledRule:
    channel_id: int | None = None
    if rule.source == RuleSource.TOUCH and rule.channel:
        if channels is None:
            channels = dict(Channel.objects.values_list("key", "pk"))
        # A channel that no longer exists matches no touch (0 is never an id).
        channel_id = channels.get(rule.channel, 0)
    capped = rule.frequency == Frequency.REPEATABLE and rule.cap_points is not None and rule.cap_days
    return CompiledRule(
        id=rule.pk,
        source=rule.source,
        points=rule.points,
        once=rule.frequency == Frequency.ONCE,
        cap=rule.cap_points if capped else None,
        cap_period=dt.timedelta(days=rule.cap_days or 0) if capped else None,
        event_name=rule.event_name,
        inquiry_kind=rule.inquiry_kind,
        class_kind=rule.class_kind,
        channel_id=channel_id,
        predicate=compile_condition(rule.condition, source=rule.source),
        columns=columns_used(rule.condition) | ({"name"} if rule.event_name else set()),
    )


@dataclass
class RuleBook:
    """The active rules, grouped by what they react to."""

    hits: dict[int, list[CompiledRule]] = field(default_factory=dict)  # EventKind -> rules
    inquiries: list[CompiledRule] = field(default_factory=list)
    touches: list[CompiledRule] = field(default_factory=list)
    fit: list[ScoringRule] = field(default_factory=list)

    @classmethod
    def load(cls) -> RuleBook:
        book = cls()
        channels = dict(Channel.objects.values_list("key", "pk"))
        for rule in ScoringRule.objects.filter(is_active=True).order_by("position", "id"):
            if rule.kind == RuleKind.FIT:
                book.fit.append(rule)
                continue
            try:
                compiled = compile_rule(rule, channels)
            except ServiceError as exc:
                # Saved conditions are checked on save; one that stopped compiling (a field
                # renamed by an upgrade) must not stop every other rule.
                log.warning("scoring rule %s skipped: %s", rule.pk, exc)
                continue
            if rule.source in HIT_SOURCES:
                book.hits.setdefault(HIT_SOURCES[RuleSource(rule.source)], []).append(compiled)
            elif rule.source == RuleSource.INQUIRY:
                book.inquiries.append(compiled)
            elif rule.source == RuleSource.TOUCH:
                book.touches.append(compiled)
        return book

    @property
    def hit_columns(self) -> frozenset[str]:
        """The tracking-hit columns some hit rule reads."""
        return frozenset().union(*(r.columns for rules in self.hits.values() for r in rules))

    @property
    def behaviour(self) -> bool:
        return bool(self.hits or self.inquiries or self.touches)

    @property
    def class_rules(self) -> list[CompiledRule]:
        return [r for r in self.inquiries if r.class_kind]


# --- awarding ----------------------------------------------------------------------------------


@dataclass(slots=True)
class Match:
    """A rule that matched a source row. `want` is set for class-kind rules: whether the inquiry
    should now hold the rule's points (its class is of the rule's kind) or give them back."""

    contact_id: int
    occurred_at: dt.datetime
    source_kind: int
    source_id: int | None
    rule: CompiledRule
    want: bool | None = None


@dataclass(slots=True)
class NewEntry:
    contact_id: int
    rule_id: int | None
    source_kind: int
    source_id: int | None
    points: int
    occurred_at: dt.datetime


@dataclass
class LedgerState:
    """What the ledger already holds for the contacts and rules of a batch."""

    # (contact, rule) -> net points, for once rules
    totals: dict[tuple[int, int], int] = field(default_factory=dict)
    # (contact, rule) -> points that count against the cap for every row of the batch (entries
    # newer than the batch's latest row minus the period), for capped rules
    base: dict[tuple[int, int], int] = field(default_factory=dict)
    # (contact, rule) -> [(occurred_at, points)] that count for some rows of the batch only (they
    # leave the period while the batch goes on), and the batch's own new entries
    windows: dict[tuple[int, int], list[tuple[dt.datetime, int]]] = field(default_factory=dict)
    # (rule, source kind, source id) -> net points, when the batch may repeat what was scored
    sources: dict[tuple[int, int, int], int] = field(default_factory=dict)

    def used(self, key: tuple[int, int], since: dt.datetime) -> int:
        """Net points of the rule for the contact after `since` (caps)."""
        return self.base.get(key, 0) + sum(p for at, p in self.windows.get(key, ()) if at > since)

    @classmethod
    def load(cls, matches: Sequence[Match], *, dedupe: bool) -> LedgerState:
        """Once rules: the net per (contact, rule), one aggregate. Caps: per period length, the
        net of what counts for every row of the batch (one aggregate) plus the few entries that
        leave the period during the batch, one by one. A batch covers seconds of traffic, so the
        second list is short however long the period."""
        state = cls()
        contacts = sorted({m.contact_id for m in matches})
        once: set[tuple[int, int]] = set()
        periods: dict[dt.timedelta, set[tuple[int, int]]] = defaultdict(set)
        for m in matches:
            if m.rule.once:
                once.add((m.contact_id, m.rule.id))
            elif m.rule.capped and m.rule.cap_period is not None:
                periods[m.rule.cap_period].add((m.contact_id, m.rule.id))
        first = min(m.occurred_at for m in matches)
        last = max(m.occurred_at for m in matches)
        for pairs in chunked(sorted(once), 5000):
            frm, params = ledger_pairs(pairs, columns="contact_id, rule_id, points")
            for contact_id, rule_id, total in fetch(
                f"SELECT x.contact_id, x.rule_id, SUM(x.points) FROM {frm} GROUP BY x.contact_id, x.rule_id",  # noqa: S608
                params,
            ):
                state.totals[(contact_id, rule_id)] = int(total)
        for period, keys in periods.items():
            for pairs in chunked(sorted(keys), 5000):
                frm, params = ledger_pairs(
                    pairs,
                    columns="contact_id, rule_id, points",
                    where="occurred_at > %s",
                    params=[db_dt(last - period)],
                )
                for contact_id, rule_id, total in fetch(
                    f"SELECT x.contact_id, x.rule_id, SUM(x.points) FROM {frm} GROUP BY x.contact_id, x.rule_id",  # noqa: S608
                    params,
                ):
                    state.base[(contact_id, rule_id)] = int(total)
                if first < last:
                    frm, params = ledger_pairs(
                        pairs,
                        columns="contact_id, rule_id, occurred_at, points",
                        where="occurred_at > %s AND occurred_at <= %s",
                        params=[db_dt(first - period), db_dt(last - period)],
                    )
                    for contact_id, rule_id, at, points in fetch(
                        f"SELECT x.contact_id, x.rule_id, x.occurred_at, x.points FROM {frm}",  # noqa: S608
                        params,
                    ):
                        state.windows.setdefault((contact_id, rule_id), []).append((read_dt(at), points))
        if dedupe or any(m.want is not None for m in matches):
            state._load_sources(matches, contacts)
        return state

    def _load_sources(self, matches: Sequence[Match], contacts: list[int]) -> None:
        by_kind: dict[int, set[int]] = defaultdict(set)
        for m in matches:
            if m.source_id is not None:
                by_kind[m.source_kind].add(m.source_id)
        rules = ints(sorted({m.rule.id for m in matches}))
        for kind, ids in by_kind.items():
            for chunk in chunked(sorted(ids), 5000):
                # Through the contacts (score_entry_cap leads with contact_id): a handful of rows each.
                for contact_ids in chunked(contacts, 5000):
                    frm, params = rows_by(
                        ENTRIES,
                        "contact_id",
                        contact_ids,
                        alias="x",
                        columns="rule_id, source_id, points",
                        where=f"rule_id IN ({rules}) AND source_kind = {int(kind)} AND source_id IN ({ints(chunk)})",
                    )
                    for rule_id, source_id, total in fetch(
                        f"SELECT x.rule_id, x.source_id, SUM(x.points) FROM {frm} GROUP BY x.rule_id, x.source_id",  # noqa: S608
                        params,
                    ):
                        self.sources[(rule_id, kind, source_id)] = int(total)


def _sign(points: int) -> int:
    return 1 if points >= 0 else -1


def award(
    matches: Sequence[Match], *, dedupe: bool = False, state: LedgerState | None = None
) -> list[NewEntry]:
    """The ledger entries `matches` earn, in order. `dedupe`: the rows may have been scored
    already (a re-scan of an identified visitor's hits), so a rule never scores one row twice.

    A once rule scores while the contact's net points from it are zero. A capped rule scores at
    most `cap` (net, in the rule's direction) within any `cap_period` before the row's time; the
    last award is cut to fit. A class-kind match gives the points when `want` and the inquiry
    holds none, and takes them back when not `want` and it holds some.
    """
    if not matches:
        return []
    if state is None:
        state = LedgerState.load(matches, dedupe=dedupe)
    out: list[NewEntry] = []
    for m in matches:
        rule = m.rule
        key = (m.contact_id, rule.id)
        source_key = (rule.id, m.source_kind, m.source_id or 0)
        if m.want is not None or dedupe:
            held = state.sources.get(source_key, 0)
            if m.want is False:
                if held:
                    _emit(out, state, m, key, source_key, -held)
                continue
            if held:
                continue
        if rule.once and state.totals.get(key, 0):
            continue
        points = rule.points
        if rule.capped:
            since = m.occurred_at - rule.cap_period  # type: ignore[operator]
            room = rule.cap - state.used(key, since) * _sign(points)  # type: ignore[operator]
            if room <= 0:
                continue
            if abs(points) > room:
                points = room * _sign(points)
        if points:
            _emit(out, state, m, key, source_key, points)
    return out


def _emit(
    out: list[NewEntry],
    state: LedgerState,
    m: Match,
    key: tuple[int, int],
    source_key: tuple[int, int, int],
    points: int,
) -> None:
    out.append(NewEntry(m.contact_id, m.rule.id, m.source_kind, m.source_id, points, m.occurred_at))
    if m.rule.once:
        state.totals[key] = state.totals.get(key, 0) + points
    if m.rule.capped:
        state.windows.setdefault(key, []).append((m.occurred_at, points))
    state.sources[source_key] = state.sources.get(source_key, 0) + points


# --- writing -----------------------------------------------------------------------------------

_ENTRY_COLUMNS = "(contact_id, rule_id, source_kind, source_id, points, occurred_at)"


def ledger_write(entries: Sequence[NewEntry]) -> None:
    """All entries at once: COPY on PostgreSQL (psycopg writes the rows in C; one round trip),
    executemany on SQLite (in-process)."""
    if not entries:
        return
    adapted: dict[dt.datetime, Any] = {}
    rows = []
    for e in entries:
        at = adapted.get(e.occurred_at)
        if at is None:
            at = adapted[e.occurred_at] = db_dt(e.occurred_at)
        rows.append((e.contact_id, e.rule_id, e.source_kind, e.source_id, e.points, at))
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {ENTRIES} {_ENTRY_COLUMNS} FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.executemany(
                f"INSERT INTO {ENTRIES} {_ENTRY_COLUMNS} VALUES (%s, %s, %s, %s, %s, %s)",  # noqa: S608
                rows,
            )


def deltas_of(entries: Iterable[NewEntry]) -> dict[int, int]:
    deltas: dict[int, int] = defaultdict(int)
    for e in entries:
        deltas[e.contact_id] += e.points
    return deltas


def score_settings() -> ScoreSettings:
    found = ScoreSettings.objects.filter(pk=1).first()
    return found if found is not None else ScoreSettings(pk=1)


def band_of(score: int, settings: ScoreSettings) -> str:
    if score >= settings.hot_threshold:
        return Band.HOT
    if score >= settings.warm_threshold:
        return Band.WARM
    return Band.COLD


@dataclass(frozen=True, slots=True)
class Crossing:
    contact_id: int
    old: str
    new: str
    score: int


def _band_case(column: str, settings: ScoreSettings) -> tuple[str, list[Any]]:
    return (
        f"CASE WHEN {column} >= %s THEN 'hot' WHEN {column} >= %s THEN 'warm' ELSE 'cold' END",
        [settings.hot_threshold, settings.warm_threshold],
    )


def scores_apply(
    deltas: dict[int, int],
    *,
    settings: ScoreSettings,
    at: dt.datetime | None = None,
    rebands: Iterable[int] = (),
) -> list[Crossing]:
    """Add `deltas` to the contacts' scores and set their bands, in one UPDATE; every band that
    changed writes one `score_band_changed` activity. `rebands`: contacts whose band is
    re-derived even without a delta (thresholds changed)."""
    changes = {c: d for c, d in deltas.items() if d}
    for contact_id in rebands:
        changes.setdefault(contact_id, 0)
    if not changes:
        return []
    ids = sorted(changes)
    crossings: list[Crossing] = []
    for chunk in chunked(ids, 5000):
        where, params = pk_in("id", chunk)
        # Locked in id order (PostgreSQL): the bands read are the ones the UPDATE replaces even
        # when a merge or an edit holds one of these rows right now, and two lockers of several
        # contacts (a merge locks two) always take them in the same order.
        lock = " ORDER BY id FOR UPDATE" if connection.vendor == "postgresql" else ""
        before = dict(fetch(f"SELECT id, band FROM {CONTACTS} WHERE {where}{lock}", params))  # noqa: S608
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                band_sql, band_params = _band_case("c.score + d.delta", settings)
                cursor.execute(
                    f"UPDATE {CONTACTS} AS c SET score = c.score + d.delta, band = {band_sql} "  # noqa: S608
                    "FROM unnest(%s::bigint[], %s::int[]) AS d(id, delta) WHERE c.id = d.id "
                    "RETURNING c.id, c.score, c.band",
                    [*band_params, pg_array(chunk), pg_array(changes[c] for c in chunk)],
                )
            else:
                band_sql, band_params = _band_case(f"{CONTACTS}.score + d.delta", settings)
                cursor.execute(
                    f"UPDATE {CONTACTS} SET score = {CONTACTS}.score + d.delta, band = {band_sql} "  # noqa: S608
                    "FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS delta "
                    f"FROM json_each(%s)) AS d WHERE {CONTACTS}.id = d.id "
                    f"RETURNING {CONTACTS}.id, {CONTACTS}.score, {CONTACTS}.band",
                    [*band_params, json.dumps([[c, changes[c]] for c in chunk])],
                )
            rows = cursor.fetchall()
        for contact_id, score, band in rows:
            old = before.get(contact_id, band)
            if old != band:
                crossings.append(Crossing(contact_id, old, band, score))
    if crossings:
        when = at or clock.now()
        Activity.objects.bulk_create(
            [
                Activity(
                    contact_id=c.contact_id,
                    kind=BAND_CHANGED,
                    payload={"from": c.old, "to": c.new, "score": c.score},
                    occurred_at=when,
                )
                for c in crossings
            ],
            batch_size=1000,
        )
    return crossings


def scores_set(totals: dict[int, int], *, settings: ScoreSettings) -> list[Crossing]:
    """Set the contacts' scores to `totals` (their ledgers' sums) and their bands with them."""
    if not totals:
        return []
    deltas: dict[int, int] = {}
    for chunk in chunked(sorted(totals), 5000):
        where, params = pk_in("id", chunk)
        for contact_id, score in fetch(f"SELECT id, score FROM {CONTACTS} WHERE {where}", params):  # noqa: S608
            deltas[contact_id] = totals[contact_id] - score
    return scores_apply(deltas, settings=settings, rebands=deltas.keys())


def ledger_totals(contact_ids: Sequence[int]) -> dict[int, int]:
    """The sum of each contact's ledger (0 for a contact without entries)."""
    totals = dict.fromkeys(contact_ids, 0)
    for chunk in chunked(sorted(contact_ids), 5000):
        frm, params = rows_by(ENTRIES, "contact_id", chunk, alias="x", columns="contact_id, points")
        for contact_id, total in fetch(
            f"SELECT x.contact_id, SUM(x.points) FROM {frm} GROUP BY x.contact_id",  # noqa: S608
            params,
        ):
            totals[contact_id] = int(total)
    return totals
