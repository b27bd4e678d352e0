"""Values read by raw SQL, the same on both databases."""

from __future__ import annotations

import datetime as dt
from typing import Any


def read_datetime(value: Any) -> dt.datetime:
    """A datetime column read by raw SQL: aware already (PostgreSQL) or UTC ISO text (SQLite,
    as Django stores it)."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
    parsed = dt.datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)
