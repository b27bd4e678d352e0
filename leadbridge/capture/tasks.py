"""Background tasks of the capture app (django.tasks): thin shells over services.

Arguments are plain JSON values; every task is safe to run twice.
"""

from __future__ import annotations

from typing import Any

from django.tasks import task


@task
def run_junk_check(campaign_ids: list[int] | None = None) -> dict[str, Any]:
    """Check the junk share of these campaigns (all recently active ones without ids); enqueued
    after each classification. A second run alerts nobody twice (see `junk_check`)."""
    from leadbridge.capture.services import junk_check

    alerts = junk_check(campaign_ids=campaign_ids)
    return {"alerts": [a.pk for a in alerts]}
