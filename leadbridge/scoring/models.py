"""Scoring: rules that give contacts points, the thresholds of the bands, decay, and the ledger
that explains every contact's score.

A contact's score is always the sum of its `ScoreEntry` rows (behaviour, fit and decay), and its
band follows from the score and the thresholds; both sit on `contacts.Contact` (`score`, `band`)
so lists and segments filter on them with an index. Only `scoring.services` writes them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from leadbridge.core import clock
from leadbridge.core.models import StreamCursor


class RuleKind(models.TextChoices):
    BEHAVIOUR = "behaviour", _("Behaviour")
    FIT = "fit", _("Fit")


class RuleSource(models.TextChoices):
    """What a behaviour rule reacts to."""

    PAGEVIEW = "pageview", _("Page view")
    EVENT = "event", _("Tracked event")
    PIXEL = "pixel", _("Pixel hit")
    INQUIRY = "inquiry", _("Inquiry")
    TOUCH = "touch", _("Touch")


class Frequency(models.TextChoices):
    ONCE = "once", _("Once per contact")
    REPEATABLE = "repeatable", _("Every time")


class DecayMode(models.TextChoices):
    OFF = "off", _("No decay")
    PERCENT = "percent", _("Lose a percentage")
    POINTS = "points", _("Lose points")


class ScoringRule(models.Model):
    """One way to earn (or lose) points.

    Behaviour rules react to a source: a tracking hit (`pageview`, `event` named `event_name` or
    any, `pixel`), an `inquiry` (of `inquiry_kind`; with `class_kind`, when it is classified
    with a class of that kind) or a `touch` (through `channel`, a channel key). `condition` is an
    optional filter in the segment language over the source's own fields (url, title, props.<key>,
    ...; see scoring/conditions.py). `once` rules give their points to a contact one time;
    repeatable ones every time, at most `cap_points` within any `cap_days` days.

    Fit rules give `points` while the contact matches `condition`, a contact filter.
    """

    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=10, choices=RuleKind.choices)
    source = models.CharField(_("source"), max_length=10, choices=RuleSource.choices, blank=True, default="")
    event_name = models.CharField(_("event name"), max_length=100, blank=True, default="")
    inquiry_kind = models.CharField(_("inquiry kind"), max_length=12, blank=True, default="")
    class_kind = models.CharField(_("class kind"), max_length=10, blank=True, default="")
    channel = models.CharField(_("channel"), max_length=64, blank=True, default="")
    condition = models.TextField(_("condition"), blank=True, default="")
    points = models.IntegerField(_("points"))
    frequency = models.CharField(
        _("frequency"), max_length=10, choices=Frequency.choices, default=Frequency.REPEATABLE
    )
    cap_points = models.PositiveIntegerField(_("cap (points)"), null=True, blank=True)
    cap_days = models.PositiveIntegerField(_("cap period (days)"), null=True, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    position = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class ScoreSettings(models.Model):
    """The one row (pk=1) of scoring settings: band thresholds and decay.

    Bands: cold below `warm_threshold`, warm from it, hot from `hot_threshold`. Decay: a contact
    with nothing scored for `decay_days` days loses `decay_amount` percent (rounded, at least one
    point) or points of its behaviour points, never below zero; again after every further
    `decay_days` without activity. Fit points never decay.
    """

    warm_threshold = models.IntegerField(_("warm from"), default=30)
    hot_threshold = models.IntegerField(_("hot from"), default=60)
    decay_mode = models.CharField(_("decay"), max_length=8, choices=DecayMode.choices, default=DecayMode.OFF)
    decay_amount = models.PositiveIntegerField(_("decay amount"), default=10)
    decay_days = models.PositiveIntegerField(_("decay after days without activity"), default=30)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        verbose_name_plural = "score settings"

    def __str__(self) -> str:
        return f"warm {self.warm_threshold}, hot {self.hot_threshold}"


class SourceKind(models.IntegerChoices):
    EVENT = 1, _("Tracking hit")
    INQUIRY = 2, _("Inquiry")
    TOUCH = 3, _("Touch")
    FIT = 4, _("Fit")
    DECAY = 5, _("Decay")


class ScoreEntry(models.Model):
    """The ledger: points a contact got (or lost), from which rule, for what, when.

    `source_kind`/`source_id` name what earned them (a tracking hit, inquiry or touch id; none for
    fit and decay). A fit entry is +points when the contact starts matching the rule and
    -points when it stops. Decay entries have no rule. The contact's score is the sum.
    Append-only apart from `scoring recompute`, which rebuilds it from the sources.
    """

    id = models.BigAutoField(primary_key=True)
    # score_entry_contact (contact, -occurred_at, -id) and score_entry_cap (contact, rule,
    # occurred_at) lead with this column.
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, related_name="score_entries", db_index=False
    )
    # Deleting a rule deletes its entries (scoring.services.rule_delete re-scores first).
    rule = models.ForeignKey(
        ScoringRule, null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    source_kind = models.PositiveSmallIntegerField(choices=SourceKind.choices)
    source_id = models.BigIntegerField(null=True, blank=True)
    points = models.IntegerField()
    occurred_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["contact", "-occurred_at", "-id"], name="score_entry_contact"),
            models.Index(fields=["contact", "rule", "occurred_at"], name="score_entry_cap"),
            # Fit entries are few (one per change of a contact's match): what each fit rule gives
            # whom, without reading the behaviour ledger.
            models.Index(fields=["rule", "contact"], name="score_entry_fit", condition=Q(source_kind=4)),
        ]
        verbose_name_plural = "score entries"

    def __str__(self) -> str:
        return f"{self.points:+d} for {self.contact_id}"


class ScoringCursor(StreamCursor):
    """How far the worker got: one row per stream of source rows it consumes by id
    (`events`, `touches`, `inquiries`, `reviews`, `identify`), and one per periodic job (`decay`,
    `fit`, `tick`; `run_at` is its last run).

    `position` is the last id processed. On PostgreSQL, ids are taken when a row is inserted but
    become visible when its transaction commits, so a lower id can appear after a higher one was
    read; the worker therefore reads only up to `safe_id`: the highest id seen at least
    SCORING_SAFE_LAG seconds ago (`sample_id` at `sample_at` is the newest observation).
    """

    stream = models.CharField(max_length=20, primary_key=True)

    def __str__(self) -> str:
        return f"{self.stream} at {self.position}"
