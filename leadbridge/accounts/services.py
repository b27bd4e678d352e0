"""Users, teams and API tokens: the one write path for each."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator
from django.db import transaction
from django.utils import translation
from django.utils.translation import gettext as _

from leadbridge.accounts.models import ApiToken, Notification, Team, User
from leadbridge.core import clock
from leadbridge.core.audit import audit_record
from leadbridge.core.errors import Conflict, FieldError, NotFound, ValidationFailed, field_error
from leadbridge.core.permissions import require
from leadbridge.core.roles import Perm, Role, has_perm

TOKEN_PREFIX = "lb_"  # noqa: S105 - a public prefix, not a secret


def _hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def team_get_or_create(*, name: str) -> Team:
    name = name.strip()
    if not name:
        raise field_error("team", _("Team name is required"))
    team, _created = Team.objects.get_or_create(name=name)
    return team


@transaction.atomic
def user_create(
    *,
    username: str,
    role: str,
    password: str | None = None,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    team: Team | None = None,
    language: str = "",
    actor: Any = None,
) -> User:
    if actor is not None:  # the CLI (actor None) is trusted; people need user.manage
        require(actor, Perm.USER_MANAGE)
    errors: list[FieldError] = []
    username = username.strip()
    if not username:
        errors.append(FieldError("username", _("Username is required")))
    elif len(username) > 150:
        errors.append(FieldError("username", _("At most 150 characters")))
    if role not in {r.value for r in Role}:
        message = _("Unknown role %(role)s; one of: %(choices)s") % {
            "role": repr(role),
            "choices": ", ".join(r.value for r in Role),
        }
        errors.append(FieldError("role", message))
    if password:
        try:
            validate_password(password)
        except DjangoValidationError as exc:
            errors.append(FieldError("password", " ".join(exc.messages)))
    email = (email or "").strip()
    if email:
        try:
            EmailValidator()(email)
        except DjangoValidationError:
            errors.append(FieldError("email", _("Not a valid email address")))
    for name, value in (("first_name", first_name), ("last_name", last_name)):
        if len(value or "") > 150:
            errors.append(FieldError(name, _("At most 150 characters")))
    if errors:
        raise ValidationFailed(errors)
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(
            _("User %(username)s already exists") % {"username": repr(username)},
            [FieldError("username", _("Already taken"))],
        )
    user = User(
        username=username,
        role=role,
        email=email,
        first_name=first_name,
        last_name=last_name,
        team=team,
        language=language,
        is_staff=role == Role.ADMIN,
    )
    if password:
        user.set_password(password)
    else:
        user.set_unusable_password()
    user.save()
    audit_record(
        actor=actor,
        action="user.create",
        object_type="user",
        object_id=user.pk,
        after={"username": username, "role": role, "team": team.name if team else None},
    )
    return user


@transaction.atomic
def user_update_preferences(*, user: User, language: str | None = None, timezone: str | None = None) -> User:
    from django.conf import settings

    if language is not None:
        if language and language not in dict(settings.LANGUAGES):
            raise field_error(
                "language", _("Unsupported language %(language)s") % {"language": repr(language)}
            )
        user.language = language
    if timezone is not None:
        import zoneinfo

        if timezone and timezone not in zoneinfo.available_timezones():
            raise field_error("timezone", _("Unknown time zone %(timezone)s") % {"timezone": repr(timezone)})
        user.timezone = timezone
    user.save(update_fields=["language", "timezone"])
    return user


@transaction.atomic
def token_create(*, user: User, name: str = "", actor: Any = None) -> str:
    """Create a token and return its clear value; only the hash is kept."""
    name = (name or "").strip()
    if len(name) > 120:
        raise field_error("name", _("At most 120 characters (got %(length)s)") % {"length": len(name)})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=raw[:10], token_hash=_hash_token(raw))
    audit_record(
        actor=actor or user,
        action="token.create",
        object_type="api_token",
        object_id=token.pk,
        after={"user": user.username, "name": name, "prefix": token.prefix},
    )
    return raw


def token_authenticate(raw: str) -> User | None:
    if not raw or len(raw) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=_hash_token(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None or not token.user.is_active:
        return None
    now = clock.now()
    # Touch last_used_at at most once a minute: tokens are read far more often than written.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


@transaction.atomic
def token_revoke(*, token_id: int, actor: Any) -> None:
    token = ApiToken.objects.filter(pk=token_id).first()
    # People revoke their own tokens; only user managers may revoke someone else's.
    if token is None or (
        actor is not None and token.user_id != actor.pk and not has_perm(actor, Perm.USER_MANAGE)
    ):
        raise NotFound(_("Token not found"))
    token.revoked_at = clock.now()
    token.save(update_fields=["revoked_at"])
    audit_record(actor=actor, action="token.revoke", object_type="api_token", object_id=token.pk)


# --- notifications ---------------------------------------------------------------------------


Text = str | Callable[[], str]


def _in_language(text: Text, language: str) -> str:
    if isinstance(text, str):
        return text
    with translation.override(language):
        return text()


@transaction.atomic
def notify(
    *,
    users: Iterable[User],
    kind: str,
    title: Text,
    body: Text = "",
    url: str = "",
    email: bool = True,
) -> list[Notification]:
    """Store an in-app notification for each active user and, with `email`, mail it to those who
    have an address once the transaction commits (a rolled-back change sends nothing).

    `title` and `body` may be callables that build the text with gettext: they are then called
    once per recipient language (the user's own, else the site's), so a Russian head of sales
    reads a dispute raised by an English-speaking marketer in Russian, on screen and by mail."""
    recipients = {u.pk: u for u in users if u.is_active}
    now = clock.now()
    texts: dict[str, tuple[str, str]] = {}
    rows: list[Notification] = []
    for u in recipients.values():
        language = u.language or settings.LANGUAGE_CODE
        if language not in texts:
            texts[language] = (_in_language(title, language).strip()[:200], _in_language(body, language))
        t, b = texts[language]
        rows.append(Notification(user=u, kind=kind[:48], title=t, body=b, url=url[:500], created_at=now))
    rows = Notification.objects.bulk_create(rows)
    if email:
        mails = [
            (texts[u.language or settings.LANGUAGE_CODE], u.email) for u in recipients.values() if u.email
        ]
        if mails:
            link = f"\n\n{_absolute(url)}" if url else ""
            letters = sorted({(t, b + link, addr) for (t, b), addr in mails}, key=lambda m: m[2])
            transaction.on_commit(lambda: _send_mail(letters))
    return rows


def _absolute(url: str) -> str:
    base = str(getattr(settings, "LEADBRIDGE", {}).get("BASE_URL", "") or "")
    return base.rstrip("/") + url if base and url.startswith("/") else url


def _send_mail(letters: list[tuple[str, str, str]]) -> None:
    """(subject, text, address) each: one message per person, so recipients never see each
    other's addresses, each in that person's language."""
    from django.core.mail import EmailMessage, mailers

    mailers.default.send_messages([EmailMessage(subject=t, body=b, to=[addr]) for t, b, addr in letters])


def notification_mark_read(*, user: User, ids: Iterable[int] | None = None) -> int:
    """Mark `user`'s notifications read (all unread ones without `ids`); returns how many changed."""
    qs = Notification.objects.filter(user_id=user.pk, read_at__isnull=True)
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    return qs.update(read_at=clock.now())
