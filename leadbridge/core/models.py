from __future__ import annotations

from django.conf import settings
from django.db import models

from leadbridge.core import clock


class AuditEntry(models.Model):
    """Who changed what, with the values before and after. Written by every service."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64, blank=True, default="")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    occurred_at = models.DateTimeField(default=clock.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["object_type", "object_id", "-occurred_at"])]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.action} {self.object_type}#{self.object_id}"


class StreamCursor(models.Model):
    """How far a background job got through a table it reads by id, and when its periodic task
    runs. `position` is the last id done; `safe_id` is the highest id it may read, the newest
    observation being `sample_id` at `sample_at` (core/idstream.py); `run_at` is when the job's
    chain of tasks runs next (core/ticks.py) or a periodic part of it last ran."""

    position = models.BigIntegerField(default=0)
    safe_id = models.BigIntegerField(default=0)
    sample_id = models.BigIntegerField(default=0)
    sample_at = models.DateTimeField(null=True, blank=True)
    run_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
