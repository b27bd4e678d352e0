"""Channels, the rules that assign them, campaigns and spend.

The marketing layer knows nothing about contacts or capture: capture calls
`services.resolve_channel` / `services.campaign_for` and stores the results on its touches.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext, gettext_noop
from django.utils.translation import gettext_lazy as _

from leadbridge.core import clock

# The default channels (key, English name), in display order; `leadbridge init` creates them.
DEFAULT_CHANNELS: list[tuple[str, str]] = [
    ("paid_search", gettext_noop("Paid search")),
    ("organic_search", gettext_noop("Organic search")),
    ("paid_social", gettext_noop("Paid social")),
    ("social", gettext_noop("Social")),
    ("email", gettext_noop("Email")),
    ("referral", gettext_noop("Referral")),
    ("direct", gettext_noop("Direct")),
    ("display", gettext_noop("Display")),
    ("messenger", gettext_noop("Messenger")),
    ("offline", gettext_noop("Offline")),
    ("unknown", gettext_noop("Unknown")),
]
_DEFAULT_NAMES = dict(DEFAULT_CHANNELS)


class Channel(models.Model):
    """Where traffic comes from at the coarsest level (paid_search, social, direct, ...).

    `key` is what reports, the API and imports use; `name` is what people read.
    """

    key = models.SlugField(_("key"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=100)
    position = models.IntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=clock.now)
    updated_at = models.DateTimeField(_("updated"), default=clock.now)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        """The name to show: a default channel's untouched English name is translated."""
        if self.name and self.name == _DEFAULT_NAMES.get(self.key):
            return gettext(self.name)
        return self.name or self.key


class RuleField(models.TextChoices):
    CLICK_ID = "click_id", _("Click id (gclid, yclid, ...)")
    UTM_SOURCE = "utm_source", "utm_source"
    UTM_MEDIUM = "utm_medium", "utm_medium"
    UTM_CAMPAIGN = "utm_campaign", "utm_campaign"
    REFERRER_DOMAIN = "referrer_domain", _("Referrer domain")
    LANDING_PAGE = "landing_page", _("Landing page")


class RuleOp(models.TextChoices):
    EQUALS = "equals", _("equals")
    IN = "in", _("is one of")
    CONTAINS = "contains", _("contains")
    REGEX = "regex", _("matches regex")
    EXISTS = "exists", _("is present")


class ChannelRule(models.Model):
    """One "if this, then that channel" line. Rules are tried in `position` order; the first
    whose condition (and optional second condition) holds decides the channel.

    Values compare case-insensitively. For `click_id` the subject is the *names* of the click
    ids present (`gclid`, `yclid`); their values are opaque and never compared. For
    `referrer_domain`, `equals`/`in` also match subdomains (`mail.ru` matches `e.mail.ru`).
    """

    position = models.IntegerField(_("position"), default=0)
    channel = models.ForeignKey(
        Channel, on_delete=models.PROTECT, related_name="rules", verbose_name=_("channel")
    )
    field = models.CharField(_("field"), max_length=20, choices=RuleField.choices)
    op = models.CharField(_("operator"), max_length=10, choices=RuleOp.choices)
    value = models.TextField(_("value"), blank=True, default="")
    # The optional second condition (both must hold); blank field2 = none.
    field2 = models.CharField(
        _("second field"), max_length=20, choices=RuleField.choices, blank=True, default=""
    )
    op2 = models.CharField(
        _("second operator"), max_length=10, choices=RuleOp.choices, blank=True, default=""
    )
    value2 = models.TextField(_("second value"), blank=True, default="")
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=clock.now)
    updated_at = models.DateTimeField(_("updated"), default=clock.now)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"#{self.position} {self.field} {self.op} {self.value!r} -> {self.channel_id}"


class CampaignType(models.TextChoices):
    NOTIFICATION = "notification", _("Notification")
    NURTURE = "nurture", _("Nurture (keeps interest)")
    EXPERT = "expert", _("Expert (for those in the know)")


class Campaign(models.Model):
    """A marketing action: type, channel, `utm_campaign`, dates, budget and the sales script
    that sales see on every inquiry the campaign brought.

    `utm_campaign` is stored lower-case and is unique when not blank, so a tracking hit finds
    its campaign with one indexed lookup.
    """

    name = models.CharField(_("name"), max_length=200)
    type = models.CharField(
        _("type"), max_length=16, choices=CampaignType.choices, default=CampaignType.NOTIFICATION
    )
    channel = models.ForeignKey(
        Channel,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="campaigns",
        verbose_name=_("channel"),
    )
    utm_campaign = models.CharField(_("utm_campaign"), max_length=255, blank=True, default="")
    starts_on = models.DateField(_("starts on"), null=True, blank=True)
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    budget = models.DecimalField(_("budget"), max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(_("currency"), max_length=3, blank=True, default="")
    sales_script = models.TextField(_("sales script"), blank=True, default="")
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), default=clock.now)
    updated_at = models.DateTimeField(_("updated"), default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["utm_campaign"], condition=~Q(utm_campaign=""), name="campaign_utm_unique"
            ),
        ]
        indexes = [models.Index(fields=["utm_campaign"], name="campaign_utm")]

    def __str__(self) -> str:
        return self.name


class SpendSource(models.TextChoices):
    MANUAL = "manual", _("Entered by hand")
    IMPORT = "import", _("Imported")
    API = "api", _("API")


class Spend(models.Model):
    """Money spent on one channel (and optionally one campaign) on one day.

    One row per (date, channel, campaign): recording it again replaces the amount, so
    re-importing a file changes nothing. NULL campaigns are distinct in SQL unique indexes,
    hence the second, conditional constraint.
    """

    date = models.DateField(_("date"))
    channel = models.ForeignKey(
        Channel, on_delete=models.PROTECT, related_name="spend", verbose_name=_("channel")
    )
    campaign = models.ForeignKey(
        Campaign,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="spend",
        verbose_name=_("campaign"),
        # spend_campaign_date leads with this column.
        db_index=False,
    )
    amount = models.DecimalField(_("amount"), max_digits=14, decimal_places=2)
    currency = models.CharField(_("currency"), max_length=3)
    source = models.CharField(
        _("source"), max_length=8, choices=SpendSource.choices, default=SpendSource.MANUAL
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), default=clock.now)
    updated_at = models.DateTimeField(_("updated"), default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["date", "channel", "campaign"],
                condition=Q(campaign__isnull=False),
                name="spend_day_channel_campaign",
            ),
            models.UniqueConstraint(
                fields=["date", "channel"], condition=Q(campaign__isnull=True), name="spend_day_channel"
            ),
        ]
        indexes = [
            models.Index(fields=["date"], name="spend_date"),
            models.Index(fields=["campaign", "date"], name="spend_campaign_date"),
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.channel_id}/{self.campaign_id}: {self.amount} {self.currency}"
