"""Pruning old tracking hits: roll them up into daily totals, then delete them.

Touches, inquiries, visitors and contact sources are never touched: attribution keeps working on
data older than the retention period; only the per-hit detail (a contact's page views) goes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection, transaction
from django.utils.translation import gettext as _

from leadbridge.capture.models import EventRollup, TrackingEvent, Visitor
from leadbridge.capture.services import HIT_MAX_AGE
from leadbridge.core import clock
from leadbridge.core.audit import audit_record
from leadbridge.core.errors import field_error
from leadbridge.core.permissions import require
from leadbridge.core.rawsql import read_datetime
from leadbridge.core.roles import Perm

BATCH = 50_000


def _sql(rollup: bool) -> tuple[str, str, str]:
    """(roll-up INSERT, DELETE, COUNT) for one id range; identifiers come from the models."""
    events, visitors, rollups = (m._meta.db_table for m in (TrackingEvent, Visitor, EventRollup))
    if connection.vendor == "postgresql":
        day = "(e.occurred_at AT TIME ZONE 'UTC')::date"
        page = "left(split_part(split_part(e.url, '#', 1), '?', 1), 500)"
        source = f"{events} e"
    else:  # SQLite keeps UTC datetimes as ISO text
        day = "substr(e.occurred_at, 1, 10)"
        page = "substr(CASE WHEN instr(e.u, '?') > 0 THEN substr(e.u, 1, instr(e.u, '?') - 1) ELSE e.u END, 1, 500)"
        source = (
            "(SELECT x.*, CASE WHEN instr(x.url, '#') > 0 THEN substr(x.url, 1, instr(x.url, '#') - 1)"  # noqa: S608
            f" ELSE x.url END AS u FROM {events} x WHERE x.id BETWEEN %s AND %s AND x.occurred_at < %s) e"
        )
    where = "e.id BETWEEN %s AND %s AND e.occurred_at < %s"
    insert = (
        f"INSERT INTO {rollups} (site_id, day, kind, page, name, hits, visitors) "  # noqa: S608
        f"SELECT v.site_id, {day}, e.kind, {page}, e.name, count(*), count(DISTINCT e.visitor_id) "
        f"FROM {source} JOIN {visitors} v ON v.id = e.visitor_id WHERE {where} "
        "GROUP BY 1, 2, 3, 4, 5 "
        "ON CONFLICT (site_id, day, kind, page, name) DO UPDATE SET "
        f"hits = {rollups}.hits + excluded.hits, visitors = {rollups}.visitors + excluded.visitors"
    )
    if not rollup:
        insert = ""
    delete = f"DELETE FROM {events} WHERE id BETWEEN %s AND %s AND occurred_at < %s"  # noqa: S608
    count = f"SELECT count(*), min(occurred_at) FROM {events} WHERE id BETWEEN %s AND %s"  # noqa: S608
    return insert, delete, count


def events_prune(
    *,
    actor: Any,
    older_than_days: int,
    rollup: bool = True,
    dry_run: bool = False,
    batch: int = BATCH,
) -> dict[str, Any]:
    """Delete tracking hits older than `older_than_days` days (rolled up into EventRollup first
    unless `rollup=False`), in id-range batches of `batch` rows, each in its own transaction, so
    a long prune never holds one huge transaction and can be interrupted safely. `actor=None` is
    the system (CLI, scheduled runs)."""
    if actor is not None:
        require(actor, Perm.SITE_MANAGE)
    if isinstance(older_than_days, bool) or not isinstance(older_than_days, int) or older_than_days < 1:
        raise field_error("older_than_days", _("Give a whole number of days, at least 1"))
    now = clock.now()
    cutoff = now - dt.timedelta(days=older_than_days)
    adapt = connection.ops.adapt_datetimefield_value
    # A hit's time is at most HIT_MAX_AGE before it was stored, and ids grow with storing time:
    # once a batch's oldest hit is newer than cutoff + HIT_MAX_AGE, no later batch holds old hits.
    stop_after = cutoff + HIT_MAX_AGE
    insert, delete, count = _sql(rollup)
    bounds = TrackingEvent.objects.order_by().values_list("id", flat=True)
    first, last = bounds.order_by("id").first(), bounds.order_by("-id").first()
    deleted = 0
    if first is not None and last is not None:
        low = first
        while low <= last:
            high = low + batch - 1
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT count(*) FROM {TrackingEvent._meta.db_table} WHERE id BETWEEN %s AND %s AND occurred_at < %s",  # noqa: S608
                    [low, high, adapt(cutoff)],
                )
                old = int(cursor.fetchone()[0])
                if old and not dry_run:
                    if insert:
                        params = [low, high, adapt(cutoff)]
                        cursor.execute(insert, params * 2 if connection.vendor == "sqlite" else params)
                    cursor.execute(delete, [low, high, adapt(cutoff)])
                deleted += old
                cursor.execute(count, [low, high])
                _n, oldest = cursor.fetchone()
            if oldest is not None and read_datetime(oldest) > stop_after:
                break
            low = high + 1
    result = {
        "cutoff": cutoff.isoformat(),
        "deleted": deleted,
        "rolled_up": rollup,
        "dry_run": dry_run,
    }
    if not dry_run and deleted:
        audit_record(
            actor=actor, action="events.prune", object_type="tracking_event", object_id="", after=result
        )
    return result
