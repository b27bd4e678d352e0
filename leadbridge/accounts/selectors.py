"""Reads for users, teams and API tokens, scoped to who asks."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from leadbridge.accounts.models import ApiToken, Notification, Team, User
from leadbridge.core.permissions import require
from leadbridge.core.roles import Perm


def user_list(*, user: Any) -> QuerySet[User]:
    """Every user with its team, for the admin's user list."""
    require(user, Perm.USER_MANAGE)
    return User.objects.select_related("team").order_by("username")


def team_list() -> QuerySet[Team]:
    return Team.objects.order_by("name")


def token_list(*, user: Any) -> QuerySet[ApiToken]:
    """The API tokens of `user` itself (never anyone else's), newest first."""
    if user is None or not getattr(user, "is_authenticated", False):
        return ApiToken.objects.none()
    return ApiToken.objects.filter(user_id=user.pk).order_by("-created_at", "-id")


def assignable_users() -> QuerySet[User]:
    """Active users a contact can be assigned to (owner pickers and filters)."""
    return User.objects.filter(is_active=True).order_by("username")


def notification_list(*, user: Any, unread_only: bool = False) -> QuerySet[Notification]:
    """`user`'s own notifications, newest first."""
    if user is None or not getattr(user, "is_authenticated", False):
        return Notification.objects.none()
    qs = Notification.objects.filter(user_id=user.pk)
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs.order_by("-created_at", "-id")
