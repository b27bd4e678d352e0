# ruff: noqa: S608 - SQL is built here: identifiers come from our own models, every value is a parameter.
"""The per-contact daily roll-up of tracking hits (`ContactDay`), which behaviour filters read.

`advance()` (the worker's capture tick, or `leadbridge events rollup`) reads the event table by
id from the `contact_days` cursor up to a safe horizon (core/idstream.py), in batches of
CONTACT_DAYS_BATCH ids, each one transaction: the cursor row locked, one INSERT ... SELECT that
groups the batch's hits of linked visitors by (contact, UTC day, kind, key) and adds them to the
rows already there, the cursor moved. A hit counts for the contact its visitor belongs to when
the batch reads it.

`rebuild(contact_ids)` recomputes these contacts' rows from the hits of their visitors up to
the cursor. Capture calls it when a visitor is linked to a contact (its anonymous history
becomes the contact's) and contacts' merges and undos call it (visitors move between contacts).
Both take the cursor row's lock first, so a batch and a rebuild never interleave: a batch that
read a visitor as anonymous has moved the cursor before the rebuild reads up to it, and a batch
that starts after a link sees the link. Nothing is counted twice or missed.

So the roll-up holds exactly the hits with ids up to `position()`; a reader adds the hits above
it from the event table (segments/behaviour.py). Pruning old hits (retention.py) leaves the
roll-up alone: behaviour filters keep seeing days the event table no longer has. Erasing a
contact deletes its rows (lifecycle.contact_capture_erase).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from django.conf import settings as django_settings
from django.db import connection, transaction

from leadbridge.capture.models import CaptureCursor, ContactDay, EventKind, TrackingEvent, Visitor
from leadbridge.core.idstream import max_id, safe_horizon

EVENTS = TrackingEvent._meta.db_table
VISITORS = Visitor._meta.db_table
DAYS = ContactDay._meta.db_table
CURSOR = "contact_days"
PAGE = int(EventKind.PAGEVIEW)
EVENT = int(EventKind.EVENT)
# Page views and pixel hits are the page kinds of behaviour filters; identify hits count nowhere.
KINDS = (int(EventKind.PAGEVIEW), int(EventKind.EVENT), int(EventKind.PIXEL))
KEY_LENGTH = ContactDay._meta.get_field("key").max_length or 500


def setting(name: str, default: Any) -> Any:
    return getattr(django_settings, "LEADBRIDGE", {}).get(name, default)


def path_sql(url: str) -> str:
    """The path of the URL expression `url`: what follows scheme and host, cut before "?" and
    "#". Behaviour filters match `visited("/...")` patterns against it."""
    if connection.vendor == "postgresql":
        return f"substring({url} from '^[^:/?#]+://[^/?#]*([^?#]*)')"
    # The path starts at the first "/" after "://" and ends before "?" or "#".
    path = f"substr({url}, instr({url}, '://') + 2 + instr(substr({url}, instr({url}, '://') + 3), '/'))"
    for stop in ("?", "#"):
        path = f"CASE WHEN instr({path}, '{stop}') > 0 THEN substr({path}, 1, instr({path}, '{stop}') - 1) ELSE {path} END"
    return path


def lower_sql(expr: str) -> str:
    # SQLite's own lower() folds ASCII only; lb_lower is Python's str.lower (core/apps.py).
    return f"lower({expr})" if connection.vendor == "postgresql" else f"lb_lower({expr})"


def _select(where: str) -> str:
    """SELECT contact, day, kind, key, hits of the hits of linked visitors meeting `where`."""
    pg = connection.vendor == "postgresql"
    day = "(e.occurred_at AT TIME ZONE 'UTC')::date" if pg else "substr(e.occurred_at, 1, 10)"
    page_key = f"COALESCE({lower_sql(path_sql('e.url'))}, '')"
    key = f"substr(CASE WHEN e.kind = {EVENT} THEN e.name ELSE {page_key} END, 1, {KEY_LENGTH})"
    kind = f"CASE WHEN e.kind = {EVENT} THEN {EVENT} ELSE {PAGE} END"
    return (
        f"SELECT v.contact_id, {day}, {kind}, {key}, COUNT(*) "
        f"FROM {EVENTS} e JOIN {VISITORS} v ON v.id = e.visitor_id "
        f"WHERE v.contact_id IS NOT NULL AND e.kind IN ({', '.join(map(str, KINDS))}) AND {where} "
        "GROUP BY 1, 2, 3, 4"
    )


def _upsert(select: str) -> str:
    return (
        f"INSERT INTO {DAYS} (contact_id, day, kind, key, hits) {select} "
        f"ON CONFLICT (contact_id, day, kind, key) DO UPDATE SET hits = {DAYS}.hits + excluded.hits"
    )


def _locked() -> CaptureCursor:
    return CaptureCursor.objects.select_for_update().get_or_create(name=CURSOR)[0]


def position() -> int:
    """The last event id the roll-up holds (every hit up to it, none above it)."""
    found = CaptureCursor.objects.filter(name=CURSOR).values_list("position", flat=True).first()
    return int(found or 0)


def safe_lag() -> float:
    return float(setting("CAPTURE_SAFE_LAG", 10))


def advance(*, budget: float | None = None, batch: int | None = None, wait: bool = False) -> dict[str, Any]:
    """Roll new hits up, batch after batch, until the horizon or `budget` seconds (None: no
    limit). Returns ids passed, rows written, batches and whether it caught up. `wait` (the
    CLI): when the horizon holds back hits that exist now, wait for it once and go on."""
    summary = _advance(budget=budget, batch=batch)
    if wait and summary["caught_up"] and position() < max_id(EVENTS) and safe_lag() > 0:
        time.sleep(safe_lag() + 0.1)
        for name, value in _advance(budget=budget, batch=batch).items():
            summary[name] = value if name == "caught_up" else summary[name] + value
    return summary


def _advance(*, budget: float | None, batch: int | None) -> dict[str, Any]:
    span = int(batch or setting("CONTACT_DAYS_BATCH", 50_000))
    lag = safe_lag()
    started = time.monotonic()
    summary: dict[str, Any] = {"ids": 0, "rows": 0, "batches": 0, "caught_up": False}
    while True:
        with transaction.atomic():
            cursor = _locked()
            limit = safe_horizon(cursor, EVENTS, lag)
            upto = min(cursor.position + span, limit)
            if upto > cursor.position:
                with connection.cursor() as db:
                    # Skip a gap in the ids at once (hits pruned or never committed, a sequence
                    # that starts high): a batch is a span of ids, and empty spans cost a
                    # transaction each.
                    db.execute(
                        f"SELECT id FROM {EVENTS} WHERE id > %s ORDER BY id LIMIT 1", [cursor.position]
                    )
                    found = db.fetchone()
                    start = cursor.position if found is None else max(cursor.position, int(found[0]) - 1)
                    upto = limit if found is None or start >= limit else min(start + span, limit)
                    if start < upto:
                        db.execute(_upsert(_select("e.id > %s AND e.id <= %s")), [start, upto])
                        summary["rows"] += max(db.rowcount, 0)
                        summary["batches"] += 1
                summary["ids"] += upto - cursor.position
                cursor.position = upto
            cursor.save()
        if upto >= limit:
            summary["caught_up"] = True
            return summary
        if budget is not None and time.monotonic() - started >= budget:
            return summary


def rebuild(contact_ids: Sequence[int]) -> None:
    """Recompute these contacts' rows from their visitors' hits up to the cursor."""
    ids = sorted({int(i) for i in contact_ids if i})
    if not ids:
        return
    with transaction.atomic():
        cursor = _locked()
        marks = ", ".join(["%s"] * len(ids))
        with connection.cursor() as db:
            db.execute(f"DELETE FROM {DAYS} WHERE contact_id IN ({marks})", ids)
            if cursor.position > 0:
                db.execute(
                    _upsert(_select(f"v.contact_id IN ({marks}) AND e.id <= %s")), [*ids, cursor.position]
                )
