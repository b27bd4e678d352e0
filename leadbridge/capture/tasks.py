"""Background tasks of the capture app (django.tasks): thin shells over services.

Arguments are plain JSON values; every task is safe to run twice.
"""

from __future__ import annotations

from typing import Any

from django.tasks import task

from leadbridge.core import ticks


@task
def run_junk_check(campaign_ids: list[int] | None = None) -> dict[str, Any]:
    """Check the junk share of these campaigns (all recently active ones without ids); enqueued
    after each classification. A second run alerts nobody twice (see `junk_check`)."""
    from leadbridge.capture.services import junk_check

    alerts = junk_check(campaign_ids=campaign_ids)
    return {"alerts": [a.pk for a in alerts]}


def _tick_row() -> Any:
    from leadbridge.capture.models import CaptureCursor

    return CaptureCursor.objects.select_for_update().get_or_create(name="tick")[0]


@task(priority=-10)
def run_capture_tick() -> dict[str, Any]:
    """The capture app's periodic work (a chain, core/ticks.py): roll new tracking hits up per
    contact and day (contact_days.advance, at most CAPTURE_TICK_BUDGET seconds), then queue the
    next run, at once when hits are left, else after CAPTURE_TICK_SECONDS (default 5)."""
    from leadbridge.capture import contact_days

    summary: dict[str, Any] = {}
    try:
        summary = contact_days.advance(budget=float(contact_days.setting("CAPTURE_TICK_BUDGET", 5)))
    finally:
        caught_up = bool(summary.get("caught_up", True))
        ticks.schedule_next(
            run_capture_tick,
            _tick_row,
            delay=0.0 if not caught_up else float(contact_days.setting("CAPTURE_TICK_SECONDS", 5)),
        )
    return summary


def ensure_scheduled() -> bool:
    """Start the capture tick chain if none is queued (or the queued run is stale)."""
    return ticks.ensure(run_capture_tick, _tick_row)
