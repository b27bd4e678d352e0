from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from leadbridge.core import clock
from leadbridge.core.roles import SEES_ALL, role_of


class Stage(models.TextChoices):
    """Lifecycle stages in funnel order; `disqualified` and `recycled` sit outside it."""

    SUBSCRIBER = "subscriber", _("Subscriber")
    LEAD = "lead", _("Lead")
    MQL = "mql", _("MQL")
    SQL = "sql", _("SQL")
    OPPORTUNITY = "opportunity", _("Opportunity")
    CUSTOMER = "customer", _("Customer")
    DISQUALIFIED = "disqualified", _("Disqualified")
    RECYCLED = "recycled", _("Recycled")


STAGE_ORDER = {s.value: i for i, s in enumerate(Stage)}


class Band(models.TextChoices):
    """Score bands, lowest first. Scoring sets a contact's band together with its score."""

    COLD = "cold", _("Cold")
    WARM = "warm", _("Warm")
    HOT = "hot", _("Hot")


class ConsentStatus(models.TextChoices):
    UNKNOWN = "unknown", _("Unknown")
    GRANTED = "granted", _("Granted")
    REVOKED = "revoked", _("Revoked (unsubscribed)")


class ConsentChannel(models.TextChoices):
    EMAIL = "email", _("Email")
    SMS = "sms", _("SMS")
    PHONE = "phone", _("Phone calls")
    MESSENGER = "messenger", _("Messengers")


class ContactQuerySet(models.QuerySet["Contact"]):
    def alive(self) -> ContactQuerySet:
        return self.filter(merged_into__isnull=True, erased_at__isnull=True)

    def visible_to(self, user: Any) -> ContactQuerySet:
        """Sales and pre-sales see their own and their team's contacts; other roles see all."""
        if user is None or not user.is_authenticated or not user.is_active:
            return self.none()
        if role_of(user) in SEES_ALL:
            return self
        owner_ids = [user.pk]
        if user.team_id:
            # A literal id list (teams are small) lets the planner use the (owner, id) index;
            # a join on the owner's team makes it scan the whole table.
            members = user._meta.model._default_manager.filter(team_id=user.team_id).values_list(
                "pk", flat=True
            )
            owner_ids = sorted({user.pk, *members})
        return self.filter(owner_id__in=owner_ids)


class Company(models.Model):
    """An organisation (account); it accumulates the history of all its contacts."""

    name = models.CharField(_("name"), max_length=255)
    domain = models.CharField(_("domain"), max_length=255, blank=True, default="", db_index=True)
    industry = models.CharField(_("industry"), max_length=120, blank=True, default="")
    phone = models.CharField(_("phone"), max_length=32, blank=True, default="")
    city = models.CharField(_("city"), max_length=120, blank=True, default="")
    country = models.CharField(_("country"), max_length=2, blank=True, default="")
    address = models.CharField(_("address"), max_length=255, blank=True, default="")
    employees = models.PositiveIntegerField(_("employees"), null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    custom = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        verbose_name_plural = "companies"
        indexes = [models.Index(fields=["name"])]

    def __str__(self) -> str:
        return self.name


# Contact columns only the scoring services write (see Contact.save).
SCORING_FIELDS = frozenset({"score", "band"})


class Contact(models.Model):
    """One person we know something about. Never deleted silently: merges and erasures are audited.

    `email` and `phone` are the primary ones (normalised, indexed for dedupe); further
    addresses live in `ContactPoint`. `version` increments on every write so that two people
    editing the same card cannot overwrite each other (the second gets a conflict).
    """

    name = models.CharField(_("name"), max_length=255, blank=True, default="")
    first_name = models.CharField(_("first name"), max_length=120, blank=True, default="")
    last_name = models.CharField(_("last name"), max_length=120, blank=True, default="")
    email = models.CharField(_("email"), max_length=254, blank=True, default="")
    phone = models.CharField(_("phone"), max_length=32, blank=True, default="")
    company = models.ForeignKey(
        Company,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contacts",
        verbose_name=_("company"),
        # contact_company indexes this column; a second FK index would be an exact duplicate.
        db_index=False,
    )
    job_title = models.CharField(_("job title"), max_length=120, blank=True, default="")
    street = models.CharField(_("street address"), max_length=255, blank=True, default="")
    city = models.CharField(_("city"), max_length=120, blank=True, default="")
    region = models.CharField(_("region"), max_length=120, blank=True, default="")
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True, default="")
    country = models.CharField(_("country"), max_length=2, blank=True, default="")
    ip_address = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    geo_city = models.CharField(_("city by IP"), max_length=120, blank=True, default="")
    geo_country = models.CharField(_("country by IP"), max_length=2, blank=True, default="")
    birthday = models.DateField(_("birthday"), null=True, blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_contacts",
        verbose_name=_("owner"),
        # contact_owner_id (owner, id) leads with this column.
        db_index=False,
    )
    stage = models.CharField(_("lifecycle stage"), max_length=16, choices=Stage.choices, default=Stage.LEAD)
    score = models.IntegerField(_("score"), default=0)
    # Written only by the scoring services, together with `score` (thresholds: scoring.ScoreSettings).
    # The database default lets the column be added to a big table without rewriting it.
    band = models.CharField(
        _("band"), max_length=8, choices=Band.choices, default=Band.COLD, db_default=Band.COLD
    )
    external_id = models.CharField(_("external id"), max_length=128, null=True, blank=True, unique=True)
    custom = models.JSONField(_("custom fields"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), default=clock.now)
    updated_at = models.DateTimeField(_("updated"), default=clock.now)
    version = models.PositiveIntegerField(default=1)
    merged_into = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="merged_from"
    )
    erased_at = models.DateTimeField(null=True, blank=True)

    objects = ContactQuerySet.as_manager()

    class Meta:
        indexes = [
            models.Index(fields=["email"], name="contact_email"),
            models.Index(fields=["phone"], name="contact_phone"),
            models.Index(fields=["owner", "id"], name="contact_owner_id"),
            models.Index(fields=["stage", "id"], name="contact_stage_id"),
            models.Index(fields=["company"], name="contact_company"),
            models.Index(fields=["created_at"], name="contact_created"),
            models.Index(fields=["score"], name="contact_score"),
            models.Index(fields=["band", "id"], name="contact_band_id"),
        ]

    def __str__(self) -> str:
        return self.display_name

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A full save of an existing contact leaves `score` and `band` alone: the scoring
        services set them by SQL, and an edit (or a merge, whose refreshers re-score inside its
        transaction) holding the row from before must not write the old values back."""
        if not self._state.adding and kwargs.get("update_fields") is None and not kwargs.get("force_insert"):
            skip = SCORING_FIELDS | self.get_deferred_fields()
            kwargs["update_fields"] = [
                f.attname for f in self._meta.concrete_fields if not f.primary_key and f.attname not in skip
            ]
        super().save(*args, **kwargs)

    @property
    def display_name(self) -> str:
        full = self.name or " ".join(p for p in (self.first_name, self.last_name) if p)
        return full or self.email or self.phone or f"#{self.pk}"


class ContactPoint(models.Model):
    """An additional email or phone of a contact (the primary ones sit on Contact)."""

    class Kind(models.TextChoices):
        EMAIL = "email", _("Email")
        PHONE = "phone", _("Phone")

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="points")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    value = models.CharField(max_length=254)
    label = models.CharField(max_length=40, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "kind", "value"], name="uniq_contact_point")
        ]
        indexes = [models.Index(fields=["kind", "value"], name="contact_point_lookup")]

    def __str__(self) -> str:
        return self.value


class SpecialDate(models.Model):
    """A date worth remembering about a contact (anniversary, contract renewal, ...)."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="special_dates")
    label = models.CharField(max_length=80)
    date = models.DateField()

    def __str__(self) -> str:
        return f"{self.label}: {self.date}"


class Consent(models.Model):
    """Consent per contact and channel; `revoked` means unsubscribed and is never overridden by import."""

    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(max_length=12, choices=ConsentChannel.choices)
    status = models.CharField(max_length=10, choices=ConsentStatus.choices, default=ConsentStatus.UNKNOWN)
    source = models.CharField(max_length=120, blank=True, default="")
    changed_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "channel"], name="uniq_consent")]

    def __str__(self) -> str:
        return f"{self.channel}: {self.status}"


class Tag(models.Model):
    """A label on contacts; names are unique case-insensitively (`key` is the lower-cased name)."""

    name = models.CharField(_("name"), max_length=100)
    key = models.CharField(max_length=100, unique=True)
    color = models.CharField(max_length=16, blank=True, default="")
    created_at = models.DateTimeField(default=clock.now)

    def __str__(self) -> str:
        return self.name


class ContactTag(models.Model):
    """Contact ↔ tag link. Indexed by (tag, contact) for segment semi-joins."""

    # uniq_contact_tag (contact, tag) and contact_tag_by_tag (tag, contact) lead with these columns.
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="tag_links", db_index=False)
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="contact_links", db_index=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact", "tag"], name="uniq_contact_tag")]
        indexes = [models.Index(fields=["tag", "contact"], name="contact_tag_by_tag")]

    def __str__(self) -> str:
        return f"{self.contact_id}:{self.tag_id}"


class CustomField(models.Model):
    """An admin-defined field stored in `custom` of contacts or companies, validated on every write."""

    class Kind(models.TextChoices):
        TEXT = "text", _("Text")
        NUMBER = "number", _("Number")
        DATE = "date", _("Date")
        CHOICE = "choice", _("Choice")
        MULTI_CHOICE = "multi_choice", _("Multiple choice")
        BOOL = "bool", _("Yes/No")

    class Entity(models.TextChoices):
        CONTACT = "contact", _("Contact")
        COMPANY = "company", _("Company")

    entity = models.CharField(max_length=10, choices=Entity.choices, default=Entity.CONTACT)
    key = models.SlugField(_("key"), max_length=64)
    label = models.CharField(_("label"), max_length=120)
    kind = models.CharField(_("type"), max_length=16, choices=Kind.choices)
    choices = models.JSONField(default=list, blank=True)
    required = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entity", "key"], name="uniq_custom_field")]
        ordering = ["entity", "position", "id"]

    def __str__(self) -> str:
        return self.label


class StageChange(models.Model):
    """Lifecycle stage history: from, to, who, when, why."""

    # stage_change_contact (contact, occurred_at) leads with this column.
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="stage_changes", db_index=False
    )
    from_stage = models.CharField(max_length=16, blank=True, default="")
    to_stage = models.CharField(max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.TextField(blank=True, default="")
    occurred_at = models.DateTimeField(default=clock.now)

    class Meta:
        indexes = [
            models.Index(fields=["contact", "occurred_at"], name="stage_change_contact"),
            models.Index(fields=["to_stage", "occurred_at"], name="stage_change_to"),
        ]
        ordering = ["-occurred_at", "-id"]

    def __str__(self) -> str:
        return f"{self.from_stage}->{self.to_stage}"


class Activity(models.Model):
    """The contact timeline: one row per state change, written in the same transaction."""

    # activity_timeline (contact, -occurred_at, -id) leads with this column.
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="activities", db_index=False)
    kind = models.CharField(max_length=48)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    payload = models.JSONField(default=dict, blank=True)
    occurred_at = models.DateTimeField(default=clock.now)

    class Meta:
        indexes = [
            models.Index(fields=["contact", "-occurred_at", "-id"], name="activity_timeline"),
            models.Index(fields=["kind", "occurred_at"], name="activity_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} @ {self.occurred_at:%Y-%m-%d}"


class Note(models.Model):
    """A comment on a contact. `is_product_issue` flags product problems for the director."""

    # note_contact (contact, -created_at) leads with this column.
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="notes", db_index=False)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    body = models.TextField(_("text"))
    is_product_issue = models.BooleanField(_("product issue"), default=False)
    product = models.CharField(_("product"), max_length=120, blank=True, default="")
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        indexes = [
            models.Index(fields=["contact", "-created_at"], name="note_contact"),
            models.Index(
                fields=["-created_at"], name="note_product_issue", condition=Q(is_product_issue=True)
            ),
        ]

    def __str__(self) -> str:
        return self.body[:40]


class DataQualityItem(models.Model):
    """A record that failed checks on capture or import: the raw input is kept with the reason."""

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        FIXED = "fixed", _("Fixed")
        MERGED = "merged", _("Merged")
        DISCARDED = "discarded", _("Discarded")

    class Reason(models.TextChoices):
        INVALID = "invalid", _("Invalid values")
        DUPLICATE = "duplicate", _("Likely duplicate")
        MALFORMED = "malformed", _("Malformed payload")

    source = models.CharField(max_length=40)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    raw = models.JSONField(default=dict)
    errors = models.JSONField(default=list)
    contact = models.ForeignKey(
        Contact,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="quality_items",
        help_text="The existing contact this record most likely duplicates, or the one it fixed into.",
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    resolution_note = models.TextField(blank=True, default="")
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        indexes = [models.Index(fields=["status", "-id"], name="dq_status")]

    def __str__(self) -> str:
        return f"{self.reason} from {self.source}"


class Merge(models.Model):
    """A merge of `loser` into `winner`, with what moved so it can be undone."""

    winner = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="merges_won")
    loser = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="merges_lost")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    snapshot = models.JSONField(default=dict)
    merged_at = models.DateTimeField(default=clock.now)
    undone_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.loser_id} -> {self.winner_id}"


class ImportJob(models.Model):
    """A CSV import run from the UI or CLI: its file, mapping and result summary."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("Uploaded")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    kind = models.CharField(max_length=16)
    file = models.FileField(upload_to="imports/%Y/%m/", blank=True)
    original_name = models.CharField(max_length=255, blank=True, default="")
    mapping = models.JSONField(default=dict, blank=True)
    defaults = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.UPLOADED)
    dry_run = models.BooleanField(default=False)
    summary = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"import {self.kind} #{self.pk}"
