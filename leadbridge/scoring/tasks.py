"""Background tasks of the scoring app (django.tasks, run by `leadbridge worker`).

Scoring is one periodic task, `run_scoring_tick`: each run scores what arrived since the last
(scoring/streams.py, at most SCORING_TICK_BUDGET seconds of it), does what is due (fit rules,
decay, re-banding) and queues its successor: at once when rows are left, else after
SCORING_TICK_SECONDS (default 2). Its priority is below the default, so a backlog of scoring
never delays other tasks queued beside it. The `tick` cursor row remembers when the next run is
due; `ensure_scheduled()` starts the chain when there is none (or it died with its worker
process) and is called whenever rules or settings change and by `leadbridge scoring` commands.
Two runs at once are harmless (every batch takes the scoring lock), and the chains merge: a
run queues a successor only when none is queued.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.tasks import TaskContext, task
from django.utils import timezone

# Times here are the task queue's own (timezone.now(), which django-tasks-db compares run_after
# with), not the business clock that tests move.
# A queued or running tick older than this is taken for dead (its worker was killed).
STALE = dt.timedelta(minutes=10)


def _setting(name: str, default: float) -> float:
    from leadbridge.scoring.streams import setting

    return float(setting(name, default))


@task(priority=-10, takes_context=True)
def run_scoring_tick(context: TaskContext) -> dict[str, Any]:
    from leadbridge.scoring.services import scoring_tick

    backlog = False
    try:
        summary = scoring_tick()
        backlog = bool(summary.get("backlog"))
    finally:
        schedule_next(delay=0.0 if backlog else _setting("SCORING_TICK_SECONDS", 2))
    return summary


def _can_defer() -> bool:
    # The immediate backend (some tests) runs a task inside enqueue(): a chain would never end.
    return bool(run_scoring_tick.get_backend().supports_defer)


def schedule_next(*, delay: float) -> None:
    """Queue the next tick `delay` seconds from now, unless a future one is queued already."""
    from leadbridge.scoring.models import ScoringCursor

    if not _can_defer():
        return
    now = timezone.now()
    with transaction.atomic():
        row, _created = ScoringCursor.objects.select_for_update().get_or_create(stream="tick")
        if row.run_at is not None and row.run_at > now:
            return
        at = now + dt.timedelta(seconds=delay)
        run_scoring_tick.using(run_after=at).enqueue()
        row.run_at = at
        row.save(update_fields=["run_at"])


def ensure_scheduled() -> bool:
    """Start the tick chain if none is queued (or the queued one is older than STALE).
    True when it queued a tick."""
    from leadbridge.scoring.models import ScoringCursor

    now = timezone.now()
    with transaction.atomic():
        row, _created = ScoringCursor.objects.select_for_update().get_or_create(stream="tick")
        if row.run_at is not None and row.run_at > now - STALE:
            return False
        row.run_at = now
        row.save(update_fields=["run_at"])
        if _can_defer():
            run_scoring_tick.using(run_after=now).enqueue()
        else:
            transaction.on_commit(run_scoring_tick.enqueue)
    return True
