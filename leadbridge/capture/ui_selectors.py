"""Reads the web UI needs beyond `capture.selectors`: the inbox's sections, a contact's sources
block, one campaign's junk share, single sites and classes for the settings pages.

Same rules as the selectors: permission checks first, visibility through
`Inquiry.objects.visible_to`, rows loaded with what the pages show (no query per row).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Count, Exists, Q, QuerySet, Subquery
from django.utils.translation import gettext as _

from leadbridge.accounts.models import Notification
from leadbridge.capture.models import (
    ClassKind,
    ContactSource,
    Inquiry,
    InquiryClass,
    ReviewStatus,
    Site,
    Touch,
    TrackingEvent,
    Visitor,
)
from leadbridge.capture.selectors import contact_visit_page, period_bounds
from leadbridge.contacts.models import Contact
from leadbridge.core.errors import NotFound
from leadbridge.core.permissions import require
from leadbridge.core.roles import Perm

INQUIRY_ROW_RELATED = ("contact", "touch", "touch__channel", "touch__campaign", "cls", "manager")


def _rows(user: Any) -> QuerySet[Inquiry]:
    require(user, Perm.INQUIRY_VIEW)
    # Rows show a line of the message at most: the dialog and the rest stay unloaded.
    return (
        Inquiry.objects.visible_to(user)
        .select_related(*INQUIRY_ROW_RELATED)
        .defer("dialog", "transcript", "fields")
    )


def recent_classified(*, user: Any, limit: int = 30) -> list[Inquiry]:
    """The inbox's second section: classified inquiries `user` may see, newest first."""
    qs = _rows(user).filter(cls__isnull=False).order_by("-occurred_at", "-id")
    return list(qs[: max(1, min(limit, 200))])


def disputed_inquiries(*, user: Any, limit: int = 100) -> list[Inquiry]:
    """Inquiries whose class marketing disputed, oldest first: the head of sales' queue."""
    qs = _rows(user).filter(review_status=ReviewStatus.DISPUTED).order_by("occurred_at", "id")
    return list(qs[: max(1, min(limit, 500))])


# --- contact card: sources and visits ------------------------------------------------------------


@dataclass
class ContactSources:
    """A contact's first / lead-creation / last touch, its recent touches and page views."""

    first: Touch | None = None
    lead: Touch | None = None
    last: Touch | None = None
    touches: list[Touch] = field(default_factory=list)
    more_touches: bool = False
    visits: list[TrackingEvent] = field(default_factory=list)
    visits_next: str | None = None  # cursor of the older page views (`contact_visit_page`)

    @property
    def roles(self) -> list[tuple[str, Touch | None]]:
        return [("first", self.first), ("lead", self.lead), ("last", self.last)]

    @property
    def empty(self) -> bool:
        return not self.touches and not self.visits


def contact_sources(*, contact_id: int, touches: int = 20, visits: int = 20) -> ContactSources:
    """Most contacts were never tracked: one query (two EXISTS on indexed columns) says so and
    ends it. Otherwise one query for the touches (each marked with the contact's first/lead/last
    touch ids by scalar subqueries on ContactSource), and `capture.selectors.contact_visit_page` for
    the page views when the contact has visitors. The first touch is usually older than the
    newest `touches`: only then is it fetched on its own."""
    flags = (
        Contact.objects.filter(pk=contact_id)
        .annotate(
            has_touches=Exists(Touch.objects.filter(contact_id=contact_id)),
            has_visitors=Exists(Visitor.objects.filter(contact_id=contact_id)),
        )
        .values_list("has_touches", "has_visitors")
        .first()
    )
    has_touches, has_visitors = flags or (False, False)
    result = ContactSources()
    if has_visitors:
        page = contact_visit_page(contact=contact_id, limit=visits)
        result.visits, result.visits_next = page.items, page.next
    if not has_touches:
        return result
    source = ContactSource.objects.filter(contact_id=contact_id)
    rows: list[Touch] = list(
        Touch.objects.filter(contact_id=contact_id)
        .select_related("channel", "campaign")
        .annotate(
            first_id=Subquery(source.values("first_touch_id")[:1]),
            lead_id=Subquery(source.values("lead_touch_id")[:1]),
            last_id=Subquery(source.values("last_touch_id")[:1]),
        )
        .order_by("-occurred_at", "-id")[: touches + 1]
    )
    result.touches, result.more_touches = rows[:touches], len(rows) > touches
    if rows:
        marks: Any = rows[0]
        by_id: dict[int, Touch] = {t.pk: t for t in rows}
        wanted = {"first": marks.first_id, "lead": marks.lead_id, "last": marks.last_id}
        missing = [pk for pk in wanted.values() if pk is not None and pk not in by_id]
        if missing:
            by_id.update(
                (t.pk, t) for t in Touch.objects.filter(pk__in=missing).select_related("channel", "campaign")
            )
        for role, pk in wanted.items():
            setattr(result, role, by_id.get(pk) if pk is not None else None)
    return result


# --- junk share of one campaign ------------------------------------------------------------------


def campaign_junk_share(
    *,
    user: Any,
    campaign_id: int,
    date_from: dt.date | dt.datetime | None = None,
    date_to: dt.date | dt.datetime | None = None,
) -> dict[str, Any] | None:
    """The campaign page's figure, by the glossary's definition (junk ÷ classified inquiries
    received in the period) as `capture.selectors.junk_share(by="campaign")` counts it, but for
    one campaign id (that selector groups all campaigns by name). None when nothing is classified.
    `share` is a percentage."""
    require(user, Perm.INQUIRY_VIEW)
    qs = Inquiry.objects.visible_to(user).filter(touch__campaign_id=campaign_id, cls__isnull=False)
    start, end = period_bounds(date_from, date_to)
    if start is not None:
        qs = qs.filter(occurred_at__gte=start)
    if end is not None:
        qs = qs.filter(occurred_at__lt=end)
    row = qs.aggregate(classified=Count("id"), junk=Count("id", filter=Q(cls__kind=ClassKind.JUNK)))
    if not row["classified"]:
        return None
    share = (Decimal(row["junk"]) * 100 / Decimal(row["classified"])).quantize(Decimal("0.1"))
    return {"inquiries": row["classified"], "junk": row["junk"], "share": share}


# --- settings ------------------------------------------------------------------------------------


def site_get(*, user: Any, site_id: int) -> Site:
    require(user, Perm.SITE_MANAGE)
    site = Site.objects.filter(pk=site_id).first()
    if site is None:
        raise NotFound(_("Site not found"))
    return site


def inquiry_class_get(*, user: Any, class_id: int) -> InquiryClass:
    require(user, Perm.INQUIRY_CLASS_MANAGE)
    cls = InquiryClass.objects.filter(pk=class_id).first()
    if cls is None:
        raise NotFound(_("Inquiry class not found"))
    return cls


def class_usage(*, user: Any) -> dict[int, int]:
    """How many inquiries carry each class (the classes page shows what a change affects)."""
    require(user, Perm.INQUIRY_CLASS_MANAGE)
    rows = Inquiry.objects.filter(cls__isnull=False).values("cls_id").annotate(n=Count("id")).order_by()
    return {r["cls_id"]: r["n"] for r in rows}


# --- notifications -------------------------------------------------------------------------------

UNREAD_CAP = 100


def unread_notifications(*, user: Any) -> int:
    """The header bell's number, capped: counting stops at UNREAD_CAP (shown as "99+")."""
    if user is None or not getattr(user, "is_authenticated", False):
        return 0
    ids = Notification.objects.filter(user_id=user.pk, read_at__isnull=True).values_list("id", flat=True)
    return len(ids[:UNREAD_CAP])


def notification_get(*, user: Any, notification_id: int) -> Notification:
    """One of `user`'s own notifications (anyone else's is NotFound)."""
    item = Notification.objects.filter(user_id=user.pk, pk=notification_id).first()
    if item is None:
        raise NotFound(_("Notification not found"))
    return item
