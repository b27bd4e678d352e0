"""Capture: tracked sites and visitors, tracking hits, touches (attribution), inquiries and
their classification, junk alerts."""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from leadbridge.core import clock
from leadbridge.core.models import StreamCursor
from leadbridge.core.roles import SEES_ALL, role_of


def new_site_key() -> str:
    # 16 random bytes -> 22 url-safe characters: unguessable enough that keys cannot be enumerated.
    return secrets.token_urlsafe(16)


class Site(models.Model):
    """A website that carries the tracker or posts forms. `key` is public (it sits in the page's
    HTML), so it is stored in clear; `origins` are the only browser origins allowed to use it."""

    name = models.CharField(_("name"), max_length=120)
    key = models.CharField(_("site key"), max_length=32, unique=True, default=new_site_key)
    origins = models.JSONField(_("allowed origins"), default=list, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    def __str__(self) -> str:
        return self.name


class Visitor(models.Model):
    """An anonymous browser seen by the tracker (first-party cookie id), linked to a contact on
    identify. Its events become the contact's visits through this link; events carry no contact."""

    # uniq_visitor_uid (site, uid) leads with this column.
    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="visitors", db_index=False)
    uid = models.CharField(max_length=64)
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.SET_NULL, related_name="visitors"
    )
    first_seen = models.DateTimeField(default=clock.now)
    last_seen = models.DateTimeField(default=clock.now)
    first_touch = models.ForeignKey(
        "capture.Touch", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_touch = models.ForeignKey(
        "capture.Touch", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "uid"], name="uniq_visitor_uid")]

    def __str__(self) -> str:
        return self.uid


class EventKind(models.IntegerChoices):
    PAGEVIEW = 1, _("Page view")
    EVENT = 2, _("Event")
    PIXEL = 3, _("Pixel")
    IDENTIFY = 4, _("Identify")


class TrackingEvent(models.Model):
    """One tracking hit: the lean, append-only, high-volume table (tens of millions of rows).

    Rows are written by raw `executemany` in `services.track_hits`, never one by one through
    the ORM. No FK constraint on the visitor: the insert path skips a lookup per row, and
    pruning old hits deletes by `occurred_at` without touching Touch rows (attribution).
    """

    id = models.BigAutoField(primary_key=True)
    # event_visitor_time (visitor, occurred_at) leads with this column.
    visitor = models.ForeignKey(
        Visitor, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    kind = models.PositiveSmallIntegerField(choices=EventKind.choices)
    occurred_at = models.DateTimeField()
    url = models.TextField(blank=True, default="")
    title = models.CharField(max_length=300, blank=True, default="")
    referrer = models.TextField(blank=True, default="")
    name = models.CharField(max_length=100, blank=True, default="")
    props = models.JSONField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["visitor", "occurred_at"], name="event_visitor_time")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.url[:60]}"


class TouchKind(models.TextChoices):
    VISIT = "visit", _("Visit")
    FORM = "form", _("Form")
    CALL = "call", _("Call")
    CHAT = "chat", _("Chat")
    CALLBACK = "callback", _("Callback request")
    EMAIL = "email", _("Email")
    MESSENGER = "messenger", _("Messenger")
    IMPORT = "import", _("Import")
    API = "api", _("API")


class Touch(models.Model):
    """One attributable interaction (a visit that brought a source, a form, a call, ...).

    Kept forever for attribution, whatever happens to the raw tracking events.
    """

    # touch_contact_time (contact, occurred_at) leads with this column.
    contact = models.ForeignKey(
        "contacts.Contact", null=True, blank=True, on_delete=models.CASCADE, related_name="touches",
        db_index=False,
    )  # fmt: skip
    visitor = models.ForeignKey(
        Visitor, null=True, blank=True, on_delete=models.SET_NULL, related_name="touches"
    )
    occurred_at = models.DateTimeField(default=clock.now)
    kind = models.CharField(max_length=12, choices=TouchKind.choices)
    channel = models.ForeignKey("marketing.Channel", on_delete=models.PROTECT, related_name="+")
    source = models.CharField(max_length=255, blank=True, default="")
    medium = models.CharField(max_length=255, blank=True, default="")
    campaign_name = models.CharField(max_length=255, blank=True, default="")
    campaign = models.ForeignKey(
        "marketing.Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    term = models.CharField(max_length=255, blank=True, default="")
    content = models.CharField(max_length=255, blank=True, default="")
    landing_page = models.TextField(blank=True, default="")
    referrer = models.TextField(blank=True, default="")
    click_ids = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["contact", "occurred_at"], name="touch_contact_time"),
            models.Index(fields=["occurred_at"], name="touch_time"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.source}/{self.medium}"


class ContactSource(models.Model):
    """Where a contact came from: first touch, the touch that created the lead (its first
    inquiry), and the latest touch."""

    contact = models.OneToOneField(
        "contacts.Contact", primary_key=True, on_delete=models.CASCADE, related_name="source"
    )
    first_touch = models.ForeignKey(Touch, on_delete=models.PROTECT, related_name="+")
    lead_touch = models.ForeignKey(Touch, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    last_touch = models.ForeignKey(Touch, on_delete=models.PROTECT, related_name="+")

    def __str__(self) -> str:
        return f"source of {self.contact_id}"


class ClassKind(models.TextChoices):
    TARGET = "target", _("Target")
    UPSELL = "upsell", _("Upsell")
    SERVICE = "service", _("Service")
    JUNK = "junk", _("Junk")


class InquiryClass(models.Model):
    """The sales verdict at the end of a dialog. `kind` decides what it counts as (junk share,
    target leads); `product` narrows a target class to a product or service."""

    key = models.SlugField(_("key"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=120)
    kind = models.CharField(_("kind"), max_length=10, choices=ClassKind.choices)
    product = models.CharField(_("product"), max_length=120, blank=True, default="")
    position = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """The name to show: a default class's untouched English name is translated."""
        from leadbridge.capture.setup import DEFAULT_CLASSES

        if any(self.key == key and self.name == name for key, name, _kind in DEFAULT_CLASSES):
            return gettext(self.name)
        return self.name


class InquiryKind(models.TextChoices):
    FORM = "form", _("Form")
    CALL = "call", _("Call")
    CHAT = "chat", _("Chat")
    CALLBACK = "callback", _("Callback request")
    EMAIL = "email", _("Email")
    MESSENGER = "messenger", _("Messenger")
    # A lead imported from a file (`leadbridge import leads`): how it arrived (call, form, ...) is
    # not known, and calling it a form would skew every report by kind.
    IMPORT = "import", _("Import")


class ReviewStatus(models.TextChoices):
    NONE = "", _("Not reviewed")
    CONFIRMED = "confirmed", _("Confirmed")
    DISPUTED = "disputed", _("Disputed")
    RESOLVED = "resolved", _("Resolved")


class InquiryQuerySet(models.QuerySet["Inquiry"]):
    def visible_to(self, user: Any) -> InquiryQuerySet:
        """Like contacts: sales and pre-sales see inquiries they or their team handle, or whose
        contact they or their team own; other roles see all."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if role_of(user) in SEES_ALL:
            return self
        ids = [user.pk]
        if user.team_id:
            members = user._meta.model._default_manager.filter(team_id=user.team_id).values_list(
                "pk", flat=True
            )
            ids = sorted({user.pk, *members})
        return self.filter(Q(manager_id__in=ids) | Q(contact__owner_id__in=ids))


class Inquiry(models.Model):
    """One inbound contact attempt a human handles (call, chat, form, ...), with where it came
    from (its touch), the dialog, the manager and the sales verdict (class)."""

    kind = models.CharField(_("kind"), max_length=12, choices=InquiryKind.choices)
    # inquiry_contact_time (contact, occurred_at) leads with this column.
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, related_name="inquiries", db_index=False
    )
    touch = models.ForeignKey(Touch, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    site = models.ForeignKey(Site, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    occurred_at = models.DateTimeField(_("received"), default=clock.now)
    is_repeat = models.BooleanField(_("repeat"), default=False)
    # inquiry_manager_time (manager, occurred_at) leads with this column.
    manager = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        db_index=False,
    )  # fmt: skip
    cls = models.ForeignKey(
        InquiryClass, null=True, blank=True, on_delete=models.PROTECT, related_name="inquiries"
    )
    classified_at = models.DateTimeField(null=True, blank=True)
    classified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    review_status = models.CharField(max_length=10, choices=ReviewStatus.choices, blank=True, default="")
    subject = models.CharField(_("subject"), max_length=255, blank=True, default="")
    message = models.TextField(_("message"), blank=True, default="")
    # Submitted fields that are neither contact fields nor the message: kept, never dropped.
    fields = models.JSONField(default=dict, blank=True)
    dialog = models.JSONField(default=list, blank=True)
    transcript = models.TextField(blank=True, default="")
    recording_url = models.CharField(max_length=2000, blank=True, default="")
    duration_seconds = models.PositiveIntegerField(null=True, blank=True)
    tracking_number = models.CharField(max_length=32, blank=True, default="")
    provider = models.CharField(max_length=40, blank=True, default="")
    external_id = models.CharField(max_length=128, blank=True, default="")
    idempotency_key = models.CharField(max_length=128, blank=True, default="")
    first_response_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    objects = InquiryQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "inquiries"
        indexes = [
            models.Index(fields=["occurred_at", "id"], name="inquiry_time"),
            models.Index(fields=["contact", "occurred_at"], name="inquiry_contact_time"),
            models.Index(fields=["manager", "occurred_at"], name="inquiry_manager_time"),
            models.Index(fields=["occurred_at", "id"], name="inquiry_unclassified", condition=Q(cls=None)),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "idempotency_key"],
                name="uniq_inquiry_idempotency",
                condition=~Q(idempotency_key="") & Q(site__isnull=False),
            ),
            # NULL never equals NULL in a unique index, so inquiries without a site need their own.
            models.UniqueConstraint(
                fields=["idempotency_key"],
                name="uniq_inquiry_idempotency_nosite",
                condition=~Q(idempotency_key="") & Q(site__isnull=True),
            ),
            models.UniqueConstraint(
                fields=["provider", "external_id"], name="uniq_inquiry_external", condition=~Q(external_id="")
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"

    @property
    def age(self) -> dt.timedelta:
        """How long it has waited (for the unclassified queue)."""
        return clock.now() - self.occurred_at


class ReviewAction(models.TextChoices):
    CLASSIFIED = "classified", _("Classified")
    RECLASSIFIED = "reclassified", _("Reclassified")
    CONFIRMED = "confirmed", _("Confirmed")
    DISPUTED = "disputed", _("Disputed")
    RESOLVED = "resolved", _("Resolved")


class InquiryReview(models.Model):
    """The history of an inquiry's class: every classification, review and resolution."""

    # inquiry_review_history (inquiry, created_at) leads with this column.
    inquiry = models.ForeignKey(Inquiry, on_delete=models.CASCADE, related_name="reviews", db_index=False)
    action = models.CharField(max_length=14, choices=ReviewAction.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    from_class = models.ForeignKey(
        InquiryClass, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_class = models.ForeignKey(
        InquiryClass, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    comment = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        indexes = [models.Index(fields=["inquiry", "created_at"], name="inquiry_review_history")]
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.action} #{self.inquiry_id}"


class JunkAlert(models.Model):
    """A campaign's junk share crossed the threshold. One per crossing: `cleared_at` is set when
    the share falls back below it, and only then (or after the re-alert period) may a new one come."""

    # junk_alert_campaign (campaign, created_at) leads with this column.
    campaign = models.ForeignKey(
        "marketing.Campaign", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    inquiries = models.PositiveIntegerField()
    junk = models.PositiveIntegerField()
    share = models.DecimalField(max_digits=5, decimal_places=4)
    threshold = models.DecimalField(max_digits=5, decimal_places=4)
    cleared_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        indexes = [models.Index(fields=["campaign", "created_at"], name="junk_alert_campaign")]

    def __str__(self) -> str:
        return f"junk {self.share} on campaign {self.campaign_id}"


class EventRollup(models.Model):
    """Daily totals of tracking hits that were pruned from TrackingEvent (`retention.events_prune`).

    `page` is the hit's URL without query string or fragment. `visitors` counts distinct
    visitors within one pruning batch and is summed across batches, so it is exact when a
    day's hits are pruned in one run (the daily schedule) and an upper bound otherwise.
    """

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField()
    kind = models.PositiveSmallIntegerField(choices=EventKind.choices)
    page = models.CharField(max_length=500)
    name = models.CharField(max_length=100, blank=True, default="")
    hits = models.PositiveIntegerField(default=0)
    visitors = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["site", "day", "kind", "page", "name"], name="uniq_event_rollup")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.page} x{self.hits}"


class ContactDay(models.Model):
    """Per contact and UTC day: how many page hits of each path and how many events of each name
    the contact's visitors made. Behaviour filters (`visited("/pricing*") within 30d`, `visits >=
    5 within 7d`, `event("cart_add") within 30d`) read whole days here instead of the event
    table's ~1M rows per month; only the edges of a window and the hits newer than the roll-up's
    cursor come from TrackingEvent (segments/behaviour.py).

    Kept by `contact_days.advance` (the worker, hits by id up to a safe horizon) and rebuilt for
    a contact when a visitor is linked to it or contacts are merged (`contact_days.rebuild`).
    `kind` is PAGEVIEW for page views and pixel hits (the page kinds of behaviour filters), EVENT
    for custom events; `key` is the lower-cased path (query string and fragment cut, at most 500
    characters) or the event's name as sent.
    """

    id = models.BigAutoField(primary_key=True)
    # No FK constraint: the roll-up's inserts would take a share lock on each contact row, and a
    # merge holding its two contacts while waiting for the roll-up's cursor would deadlock with
    # them. Deleting a contact through the ORM still deletes its rows.
    contact = models.ForeignKey(
        "contacts.Contact", on_delete=models.CASCADE, related_name="+", db_index=False, db_constraint=False
    )  # fmt: skip
    day = models.DateField()
    kind = models.PositiveSmallIntegerField(choices=EventKind.choices)
    key = models.CharField(max_length=500)
    hits = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "day", "kind", "key"], name="uniq_contact_day"),
        ]
        indexes = [
            # Counting windows (`visits >= 5 within 7d`): a range of days, everything it needs in
            # the index.
            models.Index(fields=["kind", "day", "contact", "hits"], name="contact_day_time"),
            # One path prefix or event name over a range of days. text_pattern_ops lets
            # PostgreSQL answer `key LIKE '/pricing%'` from the index under any collation;
            # other databases ignore op classes.
            models.Index(
                fields=["kind", "key", "day", "contact"],
                name="contact_day_key",
                opclasses=["", "text_pattern_ops", "", ""],
            ),
        ]

    def __str__(self) -> str:
        return f"{self.contact_id} {self.day} {self.key} x{self.hits}"


class CaptureCursor(StreamCursor):
    """Capture's background jobs: `contact_days` (the roll-up, through the event table) and
    `tick` (when the capture task runs next)."""

    name = models.CharField(max_length=20, primary_key=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.position}"
