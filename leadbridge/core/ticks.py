"""Periodic work as a chain of tasks (django.tasks, run by `leadbridge worker`).

A periodic job is one task that, at the end of each run, queues its successor: at once when work
was left, else after its interval. A row of the job's own (anything with a `run_at` datetime,
locked by `lock_row`) remembers when the next run is due, so a run queues a successor only when
none is queued, and `ensure` starts the chain when there is none or it died with its worker
process (a queued run older than `stale`). Times are the task queue's own (timezone.now(), which
django-tasks-db compares run_after with), not the business clock that tests move.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.utils import timezone

STALE = dt.timedelta(minutes=10)


def can_defer(task: Any) -> bool:
    # The immediate backend (some tests) runs a task inside enqueue(): a chain would never end.
    return bool(task.get_backend().supports_defer)


def schedule_next(task: Any, lock_row: Callable[[], Any], *, delay: float) -> None:
    """Queue the next run `delay` seconds from now, unless a future one is queued already."""
    if not can_defer(task):
        return
    now = timezone.now()
    with transaction.atomic():
        row = lock_row()
        if row.run_at is not None and row.run_at > now:
            return
        at = now + dt.timedelta(seconds=delay)
        task.using(run_after=at).enqueue()
        row.run_at = at
        row.save(update_fields=["run_at"])


def ensure(task: Any, lock_row: Callable[[], Any], *, stale: dt.timedelta = STALE) -> bool:
    """Start the chain if none is queued (or the queued run is older than `stale`). True when it
    queued a run."""
    now = timezone.now()
    with transaction.atomic():
        row = lock_row()
        if row.run_at is not None and row.run_at > now - stale:
            return False
        row.run_at = now
        row.save(update_fields=["run_at"])
        if can_defer(task):
            task.using(run_after=now).enqueue()
        else:
            transaction.on_commit(task.enqueue)
    return True
