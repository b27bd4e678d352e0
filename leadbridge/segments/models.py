"""Saved segments: named filters over contacts, always compiled on use (membership is current)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from leadbridge.core import clock


class Segment(models.Model):
    """A saved filter. `filter_text` is the canonical text (segments.language.to_text) and
    `filter_json` its JSON tree (the builder's form). Names are unique case-insensitively:
    `key` is the lower-cased name (lower() in Python, so Cyrillic names fold on SQLite too).

    `uses` are the segments its filter names with `in segment("...")`: a segment another one
    uses cannot be deleted or renamed, and no chain of uses may come back to where it started.
    """

    name = models.CharField(_("name"), max_length=120)
    key = models.CharField(max_length=120, unique=True)
    description = models.TextField(_("description"), blank=True, default="")
    filter_text = models.TextField(_("filter"))
    filter_json = models.JSONField(default=dict)
    uses = models.ManyToManyField("self", symmetrical=False, related_name="used_by", blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.name
