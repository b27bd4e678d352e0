"""Reading a growing table by id, batch after batch, without skipping rows.

On PostgreSQL a row's id is drawn when it is inserted and the row becomes visible when its
transaction commits, so while id 1001 is visible, id 1000 may still be on its way; a cursor
that moved past 1000 would never see it. A reader therefore goes only up to the highest id it
saw at least `lag` seconds earlier: every transaction that drew a lower id has committed by
then, since the writers' transactions last milliseconds. SQLite has one writer at a time, so ids
become visible in order and the horizon is simply the last id.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from django.db import connection

from leadbridge.core import clock


class HorizonCursor(Protocol):
    safe_id: int
    sample_id: int
    sample_at: dt.datetime | None


def max_id(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MAX(id) FROM {table}")  # noqa: S608 - a table name of our models
        row: Any = cursor.fetchone()
    return int(row[0] or 0)


def safe_horizon(cursor: HorizonCursor, table: str, lag: float) -> int:
    """The highest id of `table` a reader may take now; updates the cursor's sample (the caller
    saves the cursor)."""
    current = max_id(table)
    if connection.vendor != "postgresql" or lag <= 0:
        cursor.safe_id = current
        return current
    now = clock.now()
    if cursor.sample_at is None:
        cursor.sample_id, cursor.sample_at = current, now
    elif cursor.sample_at <= now - dt.timedelta(seconds=lag):
        cursor.safe_id = max(cursor.safe_id, cursor.sample_id)
        cursor.sample_id, cursor.sample_at = current, now
    return cursor.safe_id
