"""Roles and what each may do. The lowest layer, so every app can check a role."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from django.utils.translation import gettext_lazy as _


class Role(StrEnum):
    ADMIN = "admin"
    DIRECTOR = "director"
    MARKETING = "marketing"
    SALES = "sales"
    SALES_HEAD = "sales_head"
    PRESALES = "presales"
    DATA_QUALITY = "data_quality"
    GUEST = "guest"


ROLE_LABELS = {
    Role.ADMIN: _("Administrator"),
    Role.DIRECTOR: _("Director"),
    Role.MARKETING: _("Marketing"),
    Role.SALES: _("Sales manager"),
    Role.SALES_HEAD: _("Head of sales"),
    Role.PRESALES: _("Pre-sales"),
    Role.DATA_QUALITY: _("Data quality"),
    Role.GUEST: _("Guest (read-only)"),
}

# Who sees every contact; the rest (sales, presales) see their own and their team's.
SEES_ALL = frozenset(
    {Role.ADMIN, Role.DIRECTOR, Role.MARKETING, Role.SALES_HEAD, Role.DATA_QUALITY, Role.GUEST}
)


class Perm(StrEnum):
    CONTACT_VIEW = "contact.view"
    CONTACT_EDIT = "contact.edit"
    CONTACT_DELETE = "contact.delete"
    CONTACT_IMPORT = "contact.import"
    CONTACT_EXPORT = "contact.export"
    CONTACT_MERGE = "contact.merge"
    STAGE_CHANGE = "stage.change"
    NOTE_ADD = "note.add"
    TAG_MANAGE = "tag.manage"
    CUSTOM_FIELD_MANAGE = "custom_field.manage"
    DATA_QUALITY_RESOLVE = "data_quality.resolve"
    AUDIT_VIEW = "audit.view"
    USER_MANAGE = "user.manage"
    PRODUCT_ISSUES_VIEW = "product_issues.view"
    PRODUCT_ISSUES_RESOLVE = "product_issues.resolve"
    # --- marketing: channels, channel rules, campaigns, spend (leadbridge.marketing) ---
    CAMPAIGN_VIEW = "campaign.view"
    CAMPAIGN_MANAGE = "campaign.manage"
    CHANNEL_MANAGE = "channel.manage"
    SPEND_VIEW = "spend.view"
    SPEND_MANAGE = "spend.manage"
    # --- end marketing ---
    # --- capture: sites, inquiries, classes, classification review (leadbridge.capture) ---
    INQUIRY_VIEW = "inquiry.view"
    INQUIRY_CAPTURE = "inquiry.capture"
    INQUIRY_CLASSIFY = "inquiry.classify"
    INQUIRY_REVIEW = "inquiry.review"
    INQUIRY_RESOLVE = "inquiry.resolve"
    INQUIRY_CLASS_MANAGE = "inquiry_class.manage"
    SITE_MANAGE = "site.manage"
    # --- end capture ---
    # --- segments and scoring ---
    SEGMENT_MANAGE = "segment.manage"
    SCORING_MANAGE = "scoring.manage"
    # --- end segments and scoring ---


_EDITORS = {Perm.CONTACT_VIEW, Perm.CONTACT_EDIT, Perm.STAGE_CHANGE, Perm.NOTE_ADD}

ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.ADMIN: frozenset(Perm),
    Role.DIRECTOR: frozenset(Perm) - {Perm.USER_MANAGE, Perm.CUSTOM_FIELD_MANAGE},
    Role.MARKETING: frozenset(
        _EDITORS | {Perm.CONTACT_IMPORT, Perm.CONTACT_EXPORT, Perm.TAG_MANAGE, Perm.PRODUCT_ISSUES_VIEW}
    ),
    Role.SALES_HEAD: frozenset(
        _EDITORS
        | {Perm.CONTACT_IMPORT, Perm.CONTACT_EXPORT, Perm.CONTACT_MERGE, Perm.TAG_MANAGE}
        | {Perm.AUDIT_VIEW, Perm.PRODUCT_ISSUES_VIEW, Perm.PRODUCT_ISSUES_RESOLVE, Perm.DATA_QUALITY_RESOLVE}
    ),
    Role.SALES: frozenset(_EDITORS),
    Role.PRESALES: frozenset(_EDITORS),
    Role.DATA_QUALITY: frozenset(
        _EDITORS
        | {Perm.CONTACT_MERGE, Perm.DATA_QUALITY_RESOLVE, Perm.CONTACT_IMPORT, Perm.CONTACT_EXPORT}
        | {Perm.CONTACT_DELETE}
    ),
    Role.GUEST: frozenset({Perm.CONTACT_VIEW, Perm.PRODUCT_ISSUES_VIEW}),
}

# --- marketing: who manages channels/campaigns/spend; sales read campaigns for their scripts ---
# (admin and director hold every Perm above already)
_MARKETING_GRANTS: dict[Role, set[Perm]] = {
    Role.MARKETING: {
        Perm.CAMPAIGN_VIEW,
        Perm.CAMPAIGN_MANAGE,
        Perm.CHANNEL_MANAGE,
        Perm.SPEND_VIEW,
        Perm.SPEND_MANAGE,
    },
    Role.SALES_HEAD: {Perm.CAMPAIGN_VIEW, Perm.SPEND_VIEW},
    Role.SALES: {Perm.CAMPAIGN_VIEW},
    Role.PRESALES: {Perm.CAMPAIGN_VIEW},
    Role.GUEST: {Perm.CAMPAIGN_VIEW},
}
for _role, _perms in _MARKETING_GRANTS.items():
    ROLE_PERMS[_role] = ROLE_PERMS[_role] | _perms
# --- end marketing ---

# --- capture: sales classify (their own and team's inquiries: InquiryQuerySet.visible_to),
# marketing reviews, the head of sales resolves disputes; guests read.
# (admin and director hold every Perm above already)
_CAPTURE_GRANTS: dict[Role, set[Perm]] = {
    Role.MARKETING: {Perm.INQUIRY_VIEW, Perm.INQUIRY_CAPTURE, Perm.INQUIRY_REVIEW, Perm.SITE_MANAGE},
    Role.SALES_HEAD: {
        Perm.INQUIRY_VIEW,
        Perm.INQUIRY_CAPTURE,
        Perm.INQUIRY_CLASSIFY,
        Perm.INQUIRY_RESOLVE,
        Perm.INQUIRY_CLASS_MANAGE,
    },
    Role.SALES: {Perm.INQUIRY_VIEW, Perm.INQUIRY_CAPTURE, Perm.INQUIRY_CLASSIFY},
    Role.PRESALES: {Perm.INQUIRY_VIEW, Perm.INQUIRY_CAPTURE, Perm.INQUIRY_CLASSIFY},
    Role.DATA_QUALITY: {Perm.INQUIRY_VIEW},
    Role.GUEST: {Perm.INQUIRY_VIEW},
}
for _role, _perms in _CAPTURE_GRANTS.items():
    ROLE_PERMS[_role] = ROLE_PERMS[_role] | _perms
# --- end capture ---

# --- segments and scoring: marketing builds segments and scoring rules; the head of sales builds
# segments for the team. The director changes scoring (it decides who sales call) but reads
# segments only: they are marketing's and sales' working lists.
_SEGMENT_GRANTS: dict[Role, set[Perm]] = {
    Role.MARKETING: {Perm.SEGMENT_MANAGE, Perm.SCORING_MANAGE},
    Role.SALES_HEAD: {Perm.SEGMENT_MANAGE},
}
for _role, _perms in _SEGMENT_GRANTS.items():
    ROLE_PERMS[_role] = ROLE_PERMS[_role] | _perms
ROLE_PERMS[Role.DIRECTOR] = ROLE_PERMS[Role.DIRECTOR] - {Perm.SEGMENT_MANAGE}
# --- end segments and scoring ---


class HasRole(Protocol):
    role: str
    is_active: bool


def role_of(user: HasRole) -> Role:
    try:
        return Role(user.role)
    except ValueError:
        return Role.GUEST


def has_perm(user: HasRole | None, perm: Perm) -> bool:
    if user is None or not getattr(user, "is_active", False) or not getattr(user, "is_authenticated", True):
        return False
    return perm in ROLE_PERMS[role_of(user)]
