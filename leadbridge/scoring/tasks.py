"""Background tasks of the scoring app (django.tasks, run by `leadbridge worker`).

Scoring is one periodic task, `run_scoring_tick` (a chain, core/ticks.py): each run scores what
arrived since the last (scoring/streams.py, at most SCORING_TICK_BUDGET seconds of it), does what
is due (fit rules, decay, re-banding) and queues its successor: at once when rows are left, else
after SCORING_TICK_SECONDS (default 2). Its priority is below the default, so a backlog of
scoring never delays other tasks queued beside it. The `tick` cursor row remembers when the next
run is due; `ensure_scheduled()` starts the chain when there is none (or it died with its worker
process) and is called whenever rules or settings change, by `leadbridge scoring` commands and
when a worker starts. Two runs at once are harmless (every batch takes the scoring lock).
"""

from __future__ import annotations

from typing import Any

from django.tasks import TaskContext, task

from leadbridge.core import ticks


def _setting(name: str, default: float) -> float:
    from leadbridge.scoring.streams import setting

    return float(setting(name, default))


def _tick_row() -> Any:
    from leadbridge.scoring.models import ScoringCursor

    return ScoringCursor.objects.select_for_update().get_or_create(stream="tick")[0]


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


def schedule_next(*, delay: float) -> None:
    """Queue the next tick `delay` seconds from now, unless a future one is queued already."""
    ticks.schedule_next(run_scoring_tick, _tick_row, delay=delay)


def ensure_scheduled() -> bool:
    """Start the tick chain if none is queued (or the queued one is stale). True when it queued."""
    return ticks.ensure(run_scoring_tick, _tick_row)
