from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _

from leadbridge.core import clock
from leadbridge.core.roles import ROLE_LABELS, Role


class Team(models.Model):
    """A group of users (e.g. "Sales Moscow"); sales see their team's contacts."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    head = models.ForeignKey(
        "accounts.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person who logs in. `role` decides what they may do; `team` what sales may see."""

    role = models.CharField(
        _("role"), max_length=20, choices=[(r.value, ROLE_LABELS[r]) for r in Role], default=Role.GUEST
    )
    team = models.ForeignKey(Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="members")
    language = models.CharField(_("language"), max_length=8, blank=True, default="")
    timezone = models.CharField(_("time zone"), max_length=64, blank=True, default="")

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class ApiToken(models.Model):
    """An API token. Only its SHA-256 hash is stored; the clear value is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=120, blank=True, default="")
    prefix = models.CharField(max_length=12, db_index=True)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=clock.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"


class Notification(models.Model):
    """A message to one user shown in the app (and, when asked, sent by email too)."""

    # notification_inbox (user, -created_at) leads with this column.
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="notifications", db_index=False)
    kind = models.CharField(max_length=48)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="")
    url = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=clock.now)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["user", "-created_at"], name="notification_inbox"),
            models.Index(
                fields=["user", "-created_at"], name="notification_unread", condition=models.Q(read_at=None)
            ),
        ]

    def __str__(self) -> str:
        return self.title
