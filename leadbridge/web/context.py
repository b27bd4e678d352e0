"""Template context shared by every page: what the user may do and the navigation built from it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from leadbridge.core.roles import Perm, Role, has_perm, role_of


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str | Promise
    url: str
    active: bool


# (key, label, URL name, any of these permissions). A URL name that does not exist yet (a page
# still being built) is skipped, so the layout never breaks on a missing page.
NAV: list[tuple[str, str | Promise, str, tuple[Perm, ...]]] = [
    # Capture: sales work the inbox; marketing and the bosses watch the feed of all inquiries.
    ("inbox", _("Inbox"), "web:inbox", (Perm.INQUIRY_CLASSIFY,)),
    ("inquiries", _("Inquiries"), "web:inquiry_feed", (Perm.INQUIRY_VIEW,)),
    ("contacts", _("Contacts"), "web:contact_list", (Perm.CONTACT_VIEW,)),
    ("companies", _("Companies"), "web:company_list", (Perm.CONTACT_VIEW,)),
    ("segments", _("Segments"), "web:segment_list", (Perm.CONTACT_VIEW,)),
    # Marketing manages campaigns; sales read them (the sales script) and guests look.
    ("campaigns", _("Campaigns"), "web:campaign_list", (Perm.CAMPAIGN_VIEW,)),
    ("quality", _("Data quality"), "web:quality_list", (Perm.DATA_QUALITY_RESOLVE,)),
    ("import", _("Import"), "web:import_start", (Perm.CONTACT_IMPORT,)),
    ("product_issues", _("Product issues"), "web:product_issues", (Perm.PRODUCT_ISSUES_VIEW,)),
    ("audit", _("Audit log"), "web:audit_list", (Perm.AUDIT_VIEW,)),
    # Every user has a settings page: their API tokens; admins also see fields and users there.
    ("settings", _("Settings"), "web:settings", (Perm.CONTACT_VIEW,)),
    # Capture setup: tracked sites (and their snippet), inquiry classes.
    (
        "capture_settings",
        _("Capture setup"),
        "web:capture_settings",
        (Perm.SITE_MANAGE, Perm.INQUIRY_CLASS_MANAGE),
    ),
]

# Entries shown only to some roles even though others hold the permission: the inbox is the sales
# team's tool, the feed is for those who watch all inquiries (sales reach it from the inbox).
NAV_ROLES: dict[str, frozenset[Role]] = {
    "inbox": frozenset({Role.SALES, Role.PRESALES, Role.SALES_HEAD}),
    "inquiries": frozenset({Role.MARKETING, Role.DIRECTOR, Role.ADMIN, Role.SALES_HEAD, Role.GUEST}),
}


def nav_items(request: HttpRequest, can: dict[str, bool]) -> list[NavItem]:
    items: list[NavItem] = []
    for key, label, url_name, perms in NAV:
        if not any(can[p.name.lower()] for p in perms):
            continue
        if key in NAV_ROLES and role_of(request.user) not in NAV_ROLES[key]:  # type: ignore[arg-type]
            continue
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue
        items.append(NavItem(key=key, label=label, url=url, active=request.path.startswith(url)))
    return items


def navigation(request: HttpRequest) -> dict[str, Any]:
    """`can.<perm>` booleans (e.g. `can.contact_edit`) and `nav`, the links this user may follow."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"can": {p.name.lower(): False for p in Perm}, "nav": []}
    can = {p.name.lower(): has_perm(user, p) for p in Perm}
    return {"can": can, "nav": nav_items(request, can)}
