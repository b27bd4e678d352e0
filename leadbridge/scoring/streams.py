"""The worker's side of scoring: it reads new source rows by id, batch after batch, and turns
them into ledger entries and score updates.

Streams (a `ScoringCursor` row each, `position` = last id done):

    events     tracking hits (capture.TrackingEvent) of visitors linked to a contact
    touches    touches (capture.Touch) with a contact
    inquiries  new inquiries (capture.Inquiry)
    reviews    classifications (capture.InquiryReview): class-kind rules give or take back points
    identify   `visitor_identified` activities: the visitor's earlier hits and touches, which
               scored nothing while it was anonymous, are scored now for its contact

A batch spans at most SCORING_BATCH ids (default 20,000) and is one transaction: the scoring
lock, the rows (one SELECT), what the ledger holds for the batch's contacts and rules (once and
cap state, a few index lookups per contact), the ledger (one INSERT), the bands read and the
scores and bands (one UPDATE), band activities, the cursor. A batch that fails leaves the
cursor where it was, so it is simply done again. Big batches pay: the pages a batch dirties
(ledger and contact indexes) are written once per commit, and 20,000 ids scored 2x faster than
5,000 on SQLite, 1.25x on PostgreSQL (bench/RESULTS.md); a batch holds its contacts' rows for
about a second.

Why a safe horizon (core/idstream.py): on PostgreSQL ids become visible in commit order, not in
id order; the worker reads only ids up to the highest id it saw at least SCORING_SAFE_LAG
seconds (default 10) earlier.

Identify: a hit is scored when the worker reaches it, for the contact its visitor belongs to
then. A visitor identified later (a form filled in after ten page views) has its earlier hits
scored when the worker reaches the `visitor_identified` activity that capture writes on every
link: the re-scan takes the visitor's hits and touches up to the events and touches cursors
(newer ones are the main streams' business) and skips any the ledger already holds for that
rule, so nothing counts twice, whichever of the two gets there first. Capture does not know
about scoring: the activity row is the hand-over (ARCHITECTURE.md principle 5).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings as django_settings
from django.db import connection, transaction

from leadbridge.capture.models import (
    EventKind,
    Inquiry,
    InquiryClass,
    InquiryReview,
    Touch,
    TrackingEvent,
    Visitor,
)
from leadbridge.contacts.models import Activity
from leadbridge.core.idstream import safe_horizon
from leadbridge.marketing.models import Channel
from leadbridge.scoring.conditions import Row
from leadbridge.scoring.engine import (
    Match,
    RuleBook,
    award,
    deltas_of,
    fetch,
    ints,
    ledger_write,
    read_dt,
    rows_by,
    score_settings,
    scores_apply,
    scoring_lock,
)
from leadbridge.scoring.models import ScoringCursor, SourceKind

EVENTS = TrackingEvent._meta.db_table
VISITORS = Visitor._meta.db_table
TOUCHES = Touch._meta.db_table
INQUIRIES = Inquiry._meta.db_table
CLASSES = InquiryClass._meta.db_table
REVIEWS = InquiryReview._meta.db_table
ACTIVITIES = Activity._meta.db_table
HIT_NAMES = {
    int(EventKind.PAGEVIEW): "pageview",
    int(EventKind.EVENT): "event",
    int(EventKind.PIXEL): "pixel",
}
STREAMS = ("events", "touches", "inquiries", "reviews", "identify")
_TABLES = {
    "events": EVENTS,
    "touches": TOUCHES,
    "inquiries": INQUIRIES,
    "reviews": REVIEWS,
    "identify": ACTIVITIES,
}


def setting(name: str, default: Any) -> Any:
    return getattr(django_settings, "LEADBRIDGE", {}).get(name, default)


def batch_span() -> int:
    return int(setting("SCORING_BATCH", 20000))


def safe_lag() -> float:
    return float(setting("SCORING_SAFE_LAG", 10))


# --- cursors -----------------------------------------------------------------------------------


def cursor_get(stream: str) -> ScoringCursor:
    found = ScoringCursor.objects.filter(stream=stream).first()
    return found if found is not None else ScoringCursor(stream=stream)


def horizon(cursor: ScoringCursor, table: str) -> int:
    """The highest id of `table` the worker may read now (core.idstream); updates the cursor's
    sample, which the caller saves."""
    return safe_horizon(cursor, table, safe_lag())


@dataclass
class StreamResult:
    """What one stream did in a run: ids passed, rows that matched a rule, entries written,
    band changes, and whether it caught up with its horizon."""

    ids: int = 0
    matches: int = 0
    entries: int = 0
    crossings: int = 0
    caught_up: bool = False
    batches: int = 0

    def add(self, other: StreamResult) -> None:
        self.ids += other.ids
        self.matches += other.matches
        self.entries += other.entries
        self.crossings += other.crossings
        self.batches += other.batches


@dataclass
class _Batch:
    matches: list[Match] = field(default_factory=list)
    dedupe: bool = False


Reader = Callable[[RuleBook, int, int], _Batch]


def _hit_row(kind: int, url: str, title: str, referrer: str, name: str, props: Any) -> Row:
    return {
        "kind": HIT_NAMES.get(kind, ""),
        "url": url,
        "title": title,
        "referrer": referrer,
        "name": name,
        "props": props,
    }


def hit_matches(book: RuleBook, rows: list[tuple[Any, ...]], out: list[Match]) -> None:
    """Rows: (id, contact id, kind, occurred_at, url, title, referrer, name, props JSON text)."""
    times: dict[Any, dt.datetime] = {}
    event = SourceKind.EVENT.value
    for event_id, contact_id, kind, at, url, title, referrer, name, props in rows:
        rules = book.hits.get(kind)
        if not rules:
            continue
        row: Row | None = None
        for rule in rules:
            if rule.event_name and rule.event_name != name:
                continue
            if rule.predicate is not None:
                if row is None:
                    row = _hit_row(kind, url, title, referrer, name, props)
                if not rule.predicate(row):
                    continue
            when = times.get(at)
            if when is None:
                when = times[at] = read_dt(at)
            out.append(Match(contact_id, when, event, event_id, rule))


def hit_columns(book: RuleBook) -> str:
    """The text columns of a hit the rules read; the others come back empty (a rule on page
    views alone has no use for titles and referrers, and the fetch is most of a batch's time).
    The jsonb props come as text: psycopg would decode every hit's JSON, conditions parse it
    only when asked."""
    used = book.hit_columns
    columns = [f"e.{c}" if c in used else "''" for c in ("url", "title", "referrer", "name")]
    if "props" in used:
        columns.append("e.props::text" if connection.vendor == "postgresql" else "e.props")
    else:
        columns.append("NULL")
    return ", ".join(columns)


def events_sql(book: RuleBook) -> str:
    """The SELECT of a batch's hits of linked visitors (params: after, upto). Each hit finds its
    visitor by primary key: on PostgreSQL through LATERAL (... OFFSET 0), else the planner hashes
    every linked visitor (a million rows at scale) for each batch of a few thousand hits."""
    if connection.vendor == "postgresql":
        visitor = (
            f"CROSS JOIN LATERAL (SELECT contact_id FROM {VISITORS} WHERE id = e.visitor_id "  # noqa: S608
            "AND contact_id IS NOT NULL OFFSET 0) v"
        )
    else:
        visitor = f"JOIN {VISITORS} v ON v.id = e.visitor_id AND v.contact_id IS NOT NULL"
    return (
        f"SELECT e.id, v.contact_id, e.kind, e.occurred_at, {hit_columns(book)} FROM {EVENTS} e {visitor} "  # noqa: S608
        f"WHERE e.id > %s AND e.id <= %s AND e.kind IN ({ints(sorted(book.hits))}) ORDER BY e.id"
    )


def read_events(book: RuleBook, after: int, upto: int) -> _Batch:
    batch = _Batch()
    if book.hits:
        hit_matches(book, fetch(events_sql(book), [after, upto]), batch.matches)
    return batch


TOUCH_COLUMNS = (
    "t.id, t.contact_id, t.occurred_at, t.kind, t.channel_id, t.source, t.medium, t.campaign_name, t.term, "
    "t.content, t.landing_page, t.referrer"
)


def touch_matches(book: RuleBook, rows: list[tuple[Any, ...]], out: list[Match]) -> None:
    channels: dict[int, str] | None = None
    for (
        touch_id,
        contact_id,
        at,
        kind,
        channel_id,
        source,
        medium,
        campaign,
        term,
        content,
        landing,
        ref,
    ) in rows:
        row: Row | None = None
        for rule in book.touches:
            if rule.channel_id is not None and rule.channel_id != channel_id:
                continue
            if rule.predicate is not None:
                if row is None:
                    if channels is None:
                        channels = dict(Channel.objects.values_list("pk", "key"))
                    row = {
                        "kind": kind,
                        "channel": channels.get(channel_id, ""),
                        "source": source,
                        "medium": medium,
                        "campaign": campaign,
                        "term": term,
                        "content": content,
                        "landing_page": landing,
                        "referrer": ref,
                    }
                if not rule.predicate(row):
                    continue
            out.append(Match(contact_id, read_dt(at), SourceKind.TOUCH.value, touch_id, rule))


def read_touches(book: RuleBook, after: int, upto: int) -> _Batch:
    batch = _Batch()
    if not book.touches:
        return batch
    rows = fetch(
        f"SELECT {TOUCH_COLUMNS} FROM {TOUCHES} t "  # noqa: S608
        "WHERE t.id > %s AND t.id <= %s AND t.contact_id IS NOT NULL ORDER BY t.id",
        [after, upto],
    )
    touch_matches(book, rows, batch.matches)
    return batch


def fields_column() -> str:
    return "i.fields::text" if connection.vendor == "postgresql" else "i.fields"


def inquiry_matches(
    book: RuleBook, rows: list[tuple[Any, ...]], out: list[Match], *, class_rules_only: bool = False
) -> None:
    """Rows: (inquiry id, contact id, occurred_at, kind, subject, message, fields, class key,
    class kind). A rule without a class kind scores the inquiry once; a rule with one holds its
    points while the inquiry's class is of that kind (and its condition holds), and gives them
    back when a reclassification ends that."""
    for inquiry_id, contact_id, at, kind, subject, message, fields, class_key, class_kind in rows:
        row: Row = {
            "kind": kind,
            "subject": subject,
            "message": message,
            "fields": fields,
            "class": class_key or "",
            "class_kind": class_kind or "",
        }
        when = read_dt(at)
        for rule in book.inquiries:
            if class_rules_only and not rule.class_kind:
                continue
            if rule.inquiry_kind and rule.inquiry_kind != kind:
                continue
            holds = rule.predicate is None or rule.predicate(row)
            if not rule.class_kind:
                if holds:
                    out.append(Match(contact_id, when, SourceKind.INQUIRY.value, inquiry_id, rule))
                continue
            if class_kind is None:
                # Unclassified: it holds no points of a class rule, and gets none yet.
                continue
            want = holds and class_kind == rule.class_kind
            out.append(Match(contact_id, when, SourceKind.INQUIRY.value, inquiry_id, rule, want=want))


def inquiry_select(inquiries: str) -> str:
    """The columns inquiry_matches reads, from `inquiries` (a FROM item aliased `i`) and its class."""
    return (
        f"SELECT i.id, i.contact_id, i.occurred_at, i.kind, i.subject, i.message, {fields_column()}, "  # noqa: S608
        f"k.key, k.kind FROM {inquiries} LEFT JOIN {CLASSES} k ON k.id = i.cls_id"
    )


def read_inquiries(book: RuleBook, after: int, upto: int) -> _Batch:
    batch = _Batch()
    if not book.inquiries:
        return batch
    rows = fetch(
        inquiry_select(f"{INQUIRIES} i") + " WHERE i.id > %s AND i.id <= %s ORDER BY i.id",
        [after, upto],
    )
    inquiry_matches(book, rows, batch.matches)
    return batch


def read_reviews(book: RuleBook, after: int, upto: int) -> _Batch:
    """A classification (classified, reclassified, resolved) re-checks the class-kind rules
    against the class the inquiry got (the inquiry's class at that review)."""
    batch = _Batch()
    if not book.class_rules:
        return batch
    rows = fetch(
        f"SELECT i.id, i.contact_id, r.created_at, i.kind, i.subject, i.message, {fields_column()}, "  # noqa: S608
        f"k.key, k.kind FROM {REVIEWS} r JOIN {INQUIRIES} i ON i.id = r.inquiry_id "
        f"LEFT JOIN {CLASSES} k ON k.id = r.to_class_id "
        "WHERE r.id > %s AND r.id <= %s AND r.to_class_id IS NOT NULL ORDER BY r.id",
        [after, upto],
    )
    inquiry_matches(book, rows, batch.matches, class_rules_only=True)
    return batch


def read_identified(book: RuleBook, after: int, upto: int) -> _Batch:
    """Hits and touches of visitors identified in (after, upto], for their contacts now."""
    batch = _Batch(dedupe=True)
    if not (book.hits or book.touches):
        return batch
    found = Activity.objects.filter(pk__gt=after, pk__lte=upto, kind="visitor_identified").values_list(
        "payload", flat=True
    )
    keys = {
        (int(p["site_id"]), str(p["visitor"]))
        for p in found
        if isinstance(p, dict) and isinstance(p.get("site_id"), int) and p.get("visitor")
    }
    if not keys:
        return batch
    visitors: dict[int, int] = {}
    for site_id in {s for s, _uid in keys}:
        uids = [uid for s, uid in keys if s == site_id]
        visitors.update(
            Visitor.objects.filter(site_id=site_id, uid__in=uids, contact__isnull=False).values_list(
                "pk", "contact_id"
            )
        )
    if not visitors:
        return batch
    ids = sorted(visitors)
    if book.hits:
        frm, params = rows_by(
            EVENTS,
            "visitor_id",
            ids,
            alias="e",
            where=f"id <= %s AND kind IN ({ints(sorted(book.hits))})",
            params=[cursor_get("events").position],
        )
        rows = fetch(
            f"SELECT e.id, e.visitor_id, e.kind, e.occurred_at, {hit_columns(book)} FROM {frm} ORDER BY e.id",  # noqa: S608
            params,
        )
        hit_matches(book, [(r[0], visitors[r[1]], *r[2:]) for r in rows], batch.matches)
    if book.touches:
        frm, params = rows_by(
            TOUCHES,
            "visitor_id",
            ids,
            alias="t",
            where="id <= %s AND contact_id IS NOT NULL",
            params=[cursor_get("touches").position],
        )
        rows = fetch(f"SELECT {TOUCH_COLUMNS} FROM {frm} ORDER BY t.id", params)  # noqa: S608
        touch_matches(book, rows, batch.matches)
    return batch


def _has_rules(stream: str, book: RuleBook) -> bool:
    if stream == "events":
        return bool(book.hits)
    if stream == "touches":
        return bool(book.touches)
    if stream == "inquiries":
        return bool(book.inquiries)
    if stream == "reviews":
        return bool(book.class_rules)
    return bool(book.hits or book.touches)


READERS: dict[str, Reader] = {
    "events": read_events,
    "touches": read_touches,
    "inquiries": read_inquiries,
    "reviews": read_reviews,
    "identify": read_identified,
}


def stream_batch(stream: str, book: RuleBook, *, span: int | None = None) -> StreamResult:
    """One batch of `stream`, in its own transaction. `caught_up` when nothing was left."""
    result = StreamResult(batches=1)
    with transaction.atomic():
        scoring_lock()
        cursor = cursor_get(stream)
        limit = horizon(cursor, _TABLES[stream])
        after = cursor.position
        # Rules apply to what happens after they are saved (`scoring recompute` applies them to
        # the past): a stream no rule listens to jumps to its horizon.
        step = (span or batch_span()) if _has_rules(stream, book) else limit
        upto = min(after + step, limit)
        if upto <= after:
            result.caught_up = True
            cursor.save()
            return result
        batch = READERS[stream](book, after, upto)
        entries = award(batch.matches, dedupe=batch.dedupe)
        ledger_write(entries)
        crossings = scores_apply(deltas_of(entries), settings=score_settings())
        cursor.position = upto
        cursor.save()
    result.ids = upto - after
    result.matches = len(batch.matches)
    result.entries = len(entries)
    result.crossings = len(crossings)
    result.caught_up = upto >= limit
    return result


def streams_run(*, budget: float | None = None, book: RuleBook | None = None) -> dict[str, StreamResult]:
    """Every stream until it catches up with its horizon or `budget` seconds have passed."""
    deadline = None if budget is None else time.monotonic() + budget
    book = book or RuleBook.load()
    results: dict[str, StreamResult] = {}
    for stream in STREAMS:
        total = StreamResult()
        while True:
            one = stream_batch(stream, book)
            total.add(one)
            if one.caught_up:
                total.caught_up = True
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
        results[stream] = total
    return results
