"""Capture: the one write path for sites, tracking hits, identify, inquiries and their classes.

Public endpoints, the API, the CLI, imports and the worker all call these functions.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from leadbridge.accounts.models import User
from leadbridge.accounts.services import notify
from leadbridge.capture import contact_days
from leadbridge.capture.attribution import URL_MAX, Source, cap_text, host_of, source_of, strip_tracking
from leadbridge.capture.hitbuffer import HitBuffer, register
from leadbridge.capture.models import (
    ClassKind,
    ContactSource,
    EventKind,
    Inquiry,
    InquiryClass,
    InquiryKind,
    InquiryReview,
    JunkAlert,
    ReviewAction,
    ReviewStatus,
    Site,
    Touch,
    TrackingEvent,
    Visitor,
)
from leadbridge.contacts.cleaning import clean_contact_input, custom_field_defs
from leadbridge.contacts.models import Contact
from leadbridge.contacts.services import (
    activity_add,
    contact_create,
    contact_update,
    dq_item_record,
    find_by_email,
    find_by_phone,
    identity_lock,
)
from leadbridge.contacts.validation import Invalid, clean_text
from leadbridge.core import clock
from leadbridge.core.audit import audit_record
from leadbridge.core.errors import Conflict, FieldError, NotFound, ValidationFailed, field_error
from leadbridge.core.permissions import require
from leadbridge.core.roles import Perm, Role
from leadbridge.marketing.models import Campaign
from leadbridge.marketing.services import campaign_for, resolve_channel

# --- settings --------------------------------------------------------------------------------


def _setting(name: str, default: Any) -> Any:
    return getattr(settings, "LEADBRIDGE", {}).get(name, default)


# --- sites -------------------------------------------------------------------------------------


def _clean_origins(origins: Any) -> list[str]:
    if origins is None:
        return []
    if isinstance(origins, str) or not isinstance(origins, Iterable):
        raise field_error("origins", _("Must be a list of origins like https://example.com"))
    out: list[str] = []
    errors: list[FieldError] = []
    for i, raw in enumerate(origins):
        text = raw.strip() if isinstance(raw, str) else ""
        try:
            parts = urlsplit(text)
            port = parts.port
        except ValueError:
            parts, port = None, None
        if (
            parts is None
            or parts.scheme not in {"http", "https"}
            or not parts.hostname
            or parts.path not in {"", "/"}
            or parts.query
            or parts.fragment
            or parts.username
            or len(text) > 200
        ):
            message = _("Not an origin like https://example.com: %(value)s") % {"value": repr(text[:80])}
            errors.append(FieldError(f"origins[{i}]", message))
            continue
        origin = f"{parts.scheme}://{parts.hostname.lower()}" + (f":{port}" if port else "")
        if origin not in out:
            out.append(origin)
    if errors:
        raise ValidationFailed(errors)
    return out


def _clean_site_name(name: Any) -> str:
    try:
        text = clean_text(name, max_length=120)
    except Invalid as exc:
        raise field_error("name", str(exc)) from exc
    if not text:
        raise field_error("name", _("A site needs a name"))
    return text


@transaction.atomic
def site_create(*, actor: Any, name: str, origins: list[str]) -> Site:
    """Register a tracked site; its public key is generated. The CLI (actor None) is trusted."""
    if actor is not None:
        require(actor, Perm.SITE_MANAGE)
    clean_name = _clean_site_name(name)
    clean = _clean_origins(origins)
    site = Site.objects.create(name=clean_name, origins=clean)
    audit_record(
        actor=actor,
        action="site.create",
        object_type="site",
        object_id=site.pk,
        after={"name": clean_name, "origins": clean},
    )
    return site


@transaction.atomic
def site_update(
    *,
    actor: Any,
    site_id: int,
    name: str | None = None,
    origins: list[str] | None = None,
    is_active: bool | None = None,
    rotate_key: bool = False,
) -> Site:
    """Rename, change origins, (de)activate, or issue a new key (the old one stops working)."""
    if actor is not None:
        require(actor, Perm.SITE_MANAGE)
    site = Site.objects.select_for_update().filter(pk=site_id).first()
    if site is None:
        raise NotFound(_("Site not found"))
    before = {"name": site.name, "origins": list(site.origins), "is_active": site.is_active, "key": site.key}
    old_key = site.key
    if name is not None:
        site.name = _clean_site_name(name)
    if origins is not None:
        site.origins = _clean_origins(origins)
    if is_active is not None:
        site.is_active = bool(is_active)
    if rotate_key:
        from leadbridge.capture.models import new_site_key

        site.key = new_site_key()
    site.updated_at = clock.now()
    site.save()
    after = {"name": site.name, "origins": list(site.origins), "is_active": site.is_active, "key": site.key}
    changed = [k for k in after if before[k] != after[k]]
    if changed:
        audit_record(
            actor=actor,
            action="site.update",
            object_type="site",
            object_id=site.pk,
            before={k: before[k] for k in changed if k != "key"} | ({"key": "(old)"} if rotate_key else {}),
            after={k: after[k] for k in changed if k != "key"} | ({"key": "(new)"} if rotate_key else {}),
        )
    transaction.on_commit(lambda: site_cache_forget(old_key, site.key))
    return site


# Site lookups happen on every public hit; a short per-process cache spares the database.
# Changes reach other processes within SITE_CACHE_SECONDS (the changing process forgets at once).
SITE_CACHE_SECONDS = 30.0
_SITE_CACHE_MAX = 2000
_site_cache: dict[str, tuple[float, Site | None]] = {}
_site_cache_lock = threading.Lock()


def site_by_key(key: str) -> Site | None:
    """The active site with this public key, or None (unknown, malformed or inactive key)."""
    if not isinstance(key, str) or not 10 <= len(key) <= 32 or not key.isascii():
        return None
    now = time.monotonic()
    hit = _site_cache.get(key)
    if hit is not None and hit[0] > now:
        return hit[1]
    site = Site.objects.filter(key=key, is_active=True).first()
    with _site_cache_lock:
        if len(_site_cache) >= _SITE_CACHE_MAX:
            _site_cache.clear()
        _site_cache[key] = (now + SITE_CACHE_SECONDS, site)
    return site


def site_cache_forget(*keys: str) -> None:
    with _site_cache_lock:
        if not keys:
            _site_cache.clear()
        for key in keys:
            _site_cache.pop(key, None)


def _site_hosts(site: Site | None) -> frozenset[str]:
    if site is None:
        return frozenset()
    return frozenset(host_of(o) for o in site.origins or [])


# --- touches and the contact's source ----------------------------------------------------------


def _resolve(source: Source, *, create_campaign: bool) -> tuple[Any, Any]:
    """(channel, campaign) by the marketing rules."""
    channel = resolve_channel(
        utm=source.utm,
        referrer=source.referrer,
        click_ids=source.click_ids,
        landing_page=source.landing_page,
    )
    campaign = None
    name = source.utm.get("campaign", "")
    if name:
        campaign = campaign_for(utm_campaign=name, channel=channel, create=create_campaign)
    return channel, campaign


def _touch_create(
    *,
    kind: str,
    occurred_at: dt.datetime,
    source: Source,
    contact_id: int | None = None,
    visitor_id: int | None = None,
    create_campaign: bool = False,
) -> Touch:
    channel, campaign = _resolve(source, create_campaign=create_campaign)
    return Touch.objects.create(
        kind=kind,
        occurred_at=occurred_at,
        contact_id=contact_id,
        visitor_id=visitor_id,
        channel=channel,
        source=source.utm.get("source", ""),
        medium=source.utm.get("medium", ""),
        campaign_name=source.utm.get("campaign", ""),
        campaign=campaign,
        term=source.utm.get("term", ""),
        content=source.utm.get("content", ""),
        landing_page=strip_tracking(source.landing_page)[:URL_MAX],
        referrer=source.referrer[:URL_MAX],
        click_ids=dict(source.click_ids),
    )


def _touch_copy(touch: Touch, *, kind: str, occurred_at: dt.datetime, contact_id: int, landing: str) -> Touch:
    """A new touch that inherits the origin of an earlier one (a form sent pages after landing)."""
    campaign_id = touch.campaign_id
    if campaign_id is None and touch.campaign_name:
        # Visits do not create campaigns (bots make up UTM values); an inquiry does.
        campaign = campaign_for(utm_campaign=touch.campaign_name, channel=touch.channel, create=True)
        campaign_id = campaign.pk if campaign is not None else None
    return Touch.objects.create(
        kind=kind,
        occurred_at=occurred_at,
        contact_id=contact_id,
        visitor_id=touch.visitor_id,
        channel_id=touch.channel_id,
        source=touch.source,
        medium=touch.medium,
        campaign_name=touch.campaign_name,
        campaign_id=campaign_id,
        term=touch.term,
        content=touch.content,
        landing_page=strip_tracking(landing)[:URL_MAX] or touch.landing_page,
        referrer=touch.referrer,
        click_ids=dict(touch.click_ids or {}),
    )


def _source_of_touch(touch: Touch) -> Source:
    utm = {
        k: v
        for k, v in (
            ("source", touch.source),
            ("medium", touch.medium),
            ("campaign", touch.campaign_name),
            ("term", touch.term),
            ("content", touch.content),
        )
        if v
    }
    return Source(utm=utm, click_ids=dict(touch.click_ids or {}), referrer=touch.referrer)


def _contact_source_refresh(contact_id: int, *, lead_touch: Touch | None = None) -> None:
    """First and last touch from the contact's touches; the lead touch is set once (first inquiry)."""
    touches = Touch.objects.filter(contact_id=contact_id)

    def ends() -> tuple[int | None, int | None]:
        return (
            touches.order_by("occurred_at", "id").values_list("pk", flat=True).first(),
            touches.order_by("-occurred_at", "-id").values_list("pk", flat=True).first(),
        )

    current = ContactSource.objects.select_for_update().filter(contact_id=contact_id).first()
    if current is None:
        first, last = ends()
        if first is None or last is None:
            return
        try:
            with transaction.atomic():
                ContactSource.objects.create(
                    contact_id=contact_id,
                    first_touch_id=first,
                    last_touch_id=last,
                    lead_touch=lead_touch,
                )
            return
        except IntegrityError:
            # Created by a concurrent capture for the same contact; update that row instead.
            current = ContactSource.objects.select_for_update().get(contact_id=contact_id)
    # Read under the row lock: whoever held it before has committed, so its touches count too
    # (read before the lock, a racing first touch was overwritten by a stale first/last).
    first, last = ends()
    if first is None or last is None:
        return
    current.first_touch_id = first
    current.last_touch_id = last
    if lead_touch is not None and current.lead_touch_id is None:
        current.lead_touch = lead_touch
    current.save()


def _campaign_backfill(contact_id: int, touch: Touch) -> None:
    """Earlier touches of the contact that named this campaign before it existed now point to it."""
    if touch.campaign_id and touch.campaign_name:
        Touch.objects.filter(
            contact_id=contact_id, campaign__isnull=True, campaign_name__iexact=touch.campaign_name
        ).update(campaign_id=touch.campaign_id)


# --- visitors and tracking hits ----------------------------------------------------------------

HIT_KINDS = {
    "pageview": EventKind.PAGEVIEW,
    "event": EventKind.EVENT,
    "pixel": EventKind.PIXEL,
    "identify": EventKind.IDENTIFY,
}
MAX_HITS = 500
TITLE_MAX = 300
NAME_MAX = 100
PROPS_MAX = 4000
# A hit's own timestamp is trusted within this window (queued beacons, skewed clocks).
HIT_MAX_AGE = dt.timedelta(days=1)
# The same source seen again within this gap is the same visit (a reload, a back button).
VISIT_GAP = dt.timedelta(minutes=30)


def _clean_uid(visitor_uid: Any) -> str:
    uid = visitor_uid.strip() if isinstance(visitor_uid, str) else ""
    if not uid or len(uid) > 64 or not uid.isascii() or not uid.isprintable():
        raise field_error("visitor_id", _("A visitor id of 1-64 printable ASCII characters is required"))
    return uid


def _hit_time(ts: Any, now: dt.datetime) -> dt.datetime:
    if isinstance(ts, bool) or not isinstance(ts, (int, float)) or ts != ts:  # NaN
        return now
    try:
        at = dt.datetime.fromtimestamp(ts / 1000.0, tz=dt.UTC)
    except (OverflowError, OSError, ValueError):
        return now
    if at > now:
        return now
    return max(at, now - HIT_MAX_AGE)


def _props_json(props: Any) -> str | None:
    if props is None or props == {}:
        return None
    try:
        text = json.dumps(props, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return None
    if len(text) > PROPS_MAX:
        return json.dumps({"_truncated": True, "size": len(text)})
    return text


def _visitor_upsert_sql() -> str:
    table = Visitor._meta.db_table
    return (
        f"INSERT INTO {table} (site_id, uid, first_seen, last_seen) VALUES (%s, %s, %s, %s) "  # noqa: S608
        f"ON CONFLICT (site_id, uid) DO UPDATE SET last_seen = CASE WHEN excluded.last_seen > "
        f"{table}.last_seen THEN excluded.last_seen ELSE {table}.last_seen END "
        "RETURNING id, contact_id"
    )


def _visitor_upsert(site_id: int, uid: str, first: dt.datetime, last: dt.datetime) -> tuple[int, int | None]:
    """(visitor id, contact id): one statement, whether the visitor is new or known."""
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(_visitor_upsert_sql(), [site_id, uid, adapt(first), adapt(last)])
        row = cursor.fetchone()
    return int(row[0]), row[1]


_EVENT_COLUMNS = "(visitor_id, kind, occurred_at, url, title, referrer, name, props)"
# Seven arrays, one constant statement: psycopg parses it once, the server unnests.
_PG_EVENT_ROWS = (
    "unnest(%s::smallint[], %s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::text[], "
    "%s::text[]) AS x(k, o, u, t, r, n, p)"
)


def _event_params(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows with their times adapted for the database (most hits of a batch share one)."""
    adapt = connection.ops.adapt_datetimefield_value
    adapted: dict[dt.datetime, Any] = {}
    params = []
    for kind, at, url, title, ref, name, pj in rows:
        value = adapted.get(at)
        if value is None:
            value = adapted[at] = adapt(at)
        params.append((kind, value, url, title, ref, name, pj))
    return params


def _events_insert(visitor_id: int, rows: list[tuple[Any, ...]]) -> None:
    """All rows in one statement: executemany on SQLite (in-process, no round trips), an
    INSERT ... SELECT FROM unnest(arrays) on PostgreSQL (psycopg's executemany costs a round
    trip per row, and a multi-row VALUES list is re-parsed on every call)."""
    table = TrackingEvent._meta.db_table
    params = _event_params(rows)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {table} {_EVENT_COLUMNS} SELECT %s, k, o, u, t, r, n, p::jsonb "  # noqa: S608
                f"FROM {_PG_EVENT_ROWS}",
                [visitor_id, *(list(c) for c in zip(*params, strict=True))],
            )
        else:
            sql = f"INSERT INTO {table} {_EVENT_COLUMNS} VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"  # noqa: S608
            cursor.executemany(sql, [(visitor_id, *p) for p in params])


@dataclass(slots=True)
class _SourcedHit:
    at: dt.datetime
    source: Source
    from_url: bool


def track_hits(
    *,
    site: Site,
    visitor_uid: str,
    hits: list[dict[str, Any]],
    ip: str = "",
    user_agent: str = "",
    defer: bool = False,
) -> int:
    """Store a batch of tracking hits of one visitor; returns how many were stored.

    Hits that are not objects or have an unknown `type` are skipped (counted out of the return
    value), oversized values are cut, timestamps outside [now - 1 day, now] are clamped. A hit
    whose URL brings a source (UTM, click id, a referrer from another site) records a visit
    touch; an `identify` hit links the visitor to a contact. The events themselves are one
    `executemany`: no ORM object per hit.
    """
    uid = _clean_uid(visitor_uid)
    if not isinstance(hits, list):
        raise field_error("hits", _("Must be a list of hits"))
    now = clock.now()
    hosts = _site_hosts(site)
    rows: list[tuple[Any, ...]] = []
    sourced: list[_SourcedHit] = []
    identifies: list[dict[str, Any]] = []
    for hit in hits[:MAX_HITS]:
        if not isinstance(hit, dict):
            continue
        kind = HIT_KINDS.get(hit.get("type") or "pageview")
        if kind is None:
            continue
        at = _hit_time(hit.get("ts"), now)
        url = cap_text(hit.get("url"), URL_MAX)
        referrer = cap_text(hit.get("referrer"), URL_MAX)
        rows.append(
            (
                int(kind),
                at,
                url,
                cap_text(hit.get("title"), TITLE_MAX),
                referrer,
                cap_text(hit.get("name"), NAME_MAX),
                _props_json(hit.get("props")),
            )
        )
        if kind in (EventKind.PAGEVIEW, EventKind.PIXEL):
            # Most hits are plain page views inside the site: skip parsing them.
            ref_host = host_of(referrer) if referrer else ""
            external = bool(ref_host) and ref_host not in hosts and ref_host != host_of(url)
            from_url = (
                source_of(url=url, referrer=referrer, internal_hosts=hosts)
                if external or "?" in url
                else None
            )
            if from_url is not None and from_url.carries_source:
                sourced.append(_SourcedHit(at, from_url, True))
            elif hit.get("utm") or hit.get("click_ids"):
                # The tracker's remembered landing source: a touch only if we never saw one.
                kept = source_of(
                    url=url, utm=hit.get("utm"), click_ids=hit.get("click_ids"), internal_hosts=hosts
                )
                if kept.carries_source:
                    sourced.append(_SourcedHit(at, kept, False))
        elif kind == EventKind.IDENTIFY and isinstance(hit.get("traits"), dict):
            identifies.append(hit["traits"])
    if not rows:
        return 0
    if not sourced and not identifies:
        # Nothing but events (nearly all hits): the pixel hands them to the process's write-behind
        # buffer, everything else writes them in one statement (PostgreSQL) right away.
        plain = [(site.pk, uid, row) for row in rows]
        buffer = pixel_buffer() if defer else None
        if buffer is not None:
            buffer.add(plain)
            return len(rows)
        if connection.vendor == "postgresql":
            plain_hits_store(plain)
            return len(rows)
    first, last = min(r[1] for r in rows), max(r[1] for r in rows)
    with transaction.atomic():
        visitor_id, _contact_id = _visitor_upsert(site.pk, uid, first, last)
        _events_insert(visitor_id, rows)
        if sourced or identifies:
            visitor = Visitor.objects.select_related("last_touch").get(pk=visitor_id)
            if identifies:
                # The batch's identities before _visit_touches locks a contact's source row: the
                # order inquiry capture takes them in, and all at once in key order, so neither
                # a racing form nor another batch can deadlock with this one.
                _identities_lock(identifies)
            if sourced:
                _visit_touches(visitor, sourced)
            for traits in identifies:
                identify(site=site, visitor=visitor, traits=traits)
    return len(rows)


def _visit_touches(visitor: Visitor, hits: list[_SourcedHit]) -> None:
    last = visitor.last_touch
    last_source = _source_of_touch(last) if last is not None else None
    last_at = last.occurred_at if last is not None else None
    created: Touch | None = None
    for hit in sorted(hits, key=lambda h: h.at):
        if not hit.from_url and last is not None:
            continue
        if (
            last_source is not None
            and last_at is not None
            and hit.source.same_origin_as(last_source)
            and abs(hit.at - last_at) < VISIT_GAP
        ):
            continue
        touch = _touch_create(
            kind="visit",
            occurred_at=hit.at,
            source=hit.source,
            contact_id=visitor.contact_id,
            visitor_id=visitor.pk,
        )
        created = last = touch
        last_source, last_at = hit.source, hit.at
        if visitor.first_touch_id is None:
            visitor.first_touch = touch
    if created is not None:
        visitor.last_touch = created
        visitor.save(update_fields=["first_touch", "last_touch"])
        if visitor.contact_id:
            _contact_source_refresh(visitor.contact_id)


def _visitor_get_or_create(site: Site, uid: str, at: dt.datetime) -> Visitor:
    visitor_id, _ = _visitor_upsert(site.pk, uid, at, at)
    return Visitor.objects.select_related("last_touch").get(pk=visitor_id)


def _link_visitor(visitor: Visitor, contact: Contact, *, via: str, actor: Any = None) -> bool:
    """Make the visitor (and its earlier visits and touches) the contact's. False if it already was."""
    if visitor.contact_id == contact.pk:
        return False
    previous = visitor.contact_id
    visitor.contact = contact
    visitor.save(update_fields=["contact"])
    Touch.objects.filter(visitor_id=visitor.pk, contact__isnull=True).update(contact_id=contact.pk)
    # The visitor's hits so far become the contact's in the behaviour roll-up.
    contact_days.rebuild([contact.pk] + ([previous] if previous else []))
    activity_add(
        contact=contact,
        kind="visitor_identified",
        actor=actor,
        payload={"site_id": visitor.site_id, "visitor": visitor.uid, "via": via},
    )
    return True


# Traits `identify` understands; the rest of what a page sends is ignored.
IDENTIFY_TRAITS = ("email", "phone", "name", "first_name", "last_name", "company")


def _identities_lock(traits_list: list[dict[str, Any]]) -> None:
    """identity_lock() on the normalised emails and phones of several identify calls at once."""
    emails, phones = [], []
    for traits in traits_list:
        raw = {k: traits[k] for k in ("email", "phone") if traits.get(k) not in (None, "")}
        values = clean_contact_input(raw, defs={}, partial=True).values
        emails.append(values.get("email") or "")
        phones.append(values.get("phone") or "")
    identity_lock(emails=emails, phones=phones)


@transaction.atomic
def identify(*, site: Site, visitor: Visitor, traits: dict[str, Any], actor: Any = None) -> Contact | None:
    """Link a visitor to the contact with this email or phone, creating the contact if none.

    Returns None when the traits name no usable email or phone; invalid values go to the
    data-quality queue with the traits as received.
    """
    data = {k: traits[k] for k in IDENTIFY_TRAITS if traits.get(k) not in (None, "")}
    clean = clean_contact_input(data, defs={}, partial=True)
    if clean.errors:
        dq_item_record(source="capture:identify", reason="invalid", raw=traits, errors=clean.errors)
        bad = {e.field for e in clean.errors}
        data = {k: v for k, v in data.items() if k not in bad}
        clean = clean_contact_input(data, defs={}, partial=True)
    email = clean.values.get("email") or ""
    phone = clean.values.get("phone") or ""
    if not email and not phone:
        return None
    # Before the lookup, in this transaction: the form post that the tracker sends this identify
    # with (another worker, the same millisecond) then finds this contact, or this call finds its.
    identity_lock(emails=[email], phones=[phone])
    contact = find_by_email(email) or find_by_phone(phone)
    if contact is None:
        contact = contact_create(actor=None, data=data, source="tracker", allow_duplicate=True)
    via = cap_text(traits.get("via"), 40) or "identify"
    if _link_visitor(visitor, contact, via=via, actor=actor):
        _contact_source_refresh(contact.pk)
    return contact


# --- inquiries: capture ------------------------------------------------------------------------

# Form fields that describe the contact (everything else is the message or kept in `fields`).
CONTACT_FIELDS = frozenset(
    {
        "name",
        "first_name",
        "last_name",
        "email",
        "phone",
        "company",
        "job_title",
        "city",
        "region",
        "country",
        "street",
        "postal_code",
        "external_id",
    }
)
MESSAGE_FIELDS = ("message", "comment", "text", "question")
MESSAGE_MAX = 20000
TRANSCRIPT_MAX = 200_000
DIALOG_MAX = 2000


@dataclass
class _Prepared:
    kind: str
    site: Site | None
    contact_data: dict[str, Any]
    email: str
    phone: str
    external_ref: str
    subject: str
    message: str
    extra: dict[str, Any]
    source: Source
    visitor_uid: str
    occurred_at: dt.datetime
    idempotency_key: str
    provider: str
    external_id: str
    dialog: list[dict[str, str]]
    transcript: str
    recording_url: str
    duration_seconds: int | None
    tracking_number: str


def _text(errors: list[FieldError], name: str, value: Any, limit: int) -> str:
    try:
        return clean_text(value, max_length=limit)
    except Invalid as exc:
        errors.append(FieldError(name, str(exc)))
        return ""


def parse_when(value: Any, *, name: str = "occurred_at") -> dt.datetime | None:
    """A datetime or ISO 8601 text (date-times or dates; naive values are in TIME_ZONE)."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        parsed: dt.datetime | None = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            parsed = parse_datetime(text)
            if parsed is None:
                day = parse_date(text)
                parsed = dt.datetime.combine(day, dt.time()) if day else None
        except ValueError:
            parsed = None
    else:
        parsed = None
    if parsed is None:
        raise field_error(name, _("Not an ISO 8601 date-time, e.g. 2026-03-01T10:15:00Z"))
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_default_timezone())
    return parsed


def _clean_dialog(errors: list[FieldError], raw: Any) -> list[dict[str, str]]:
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        errors.append(FieldError("dialog", _('Must be a list of {"from", "text", "at"} messages')))
        return []
    if len(raw) > DIALOG_MAX:
        message = ngettext(
            "At most %(limit)d message (got %(count)d)",
            "At most %(limit)d messages (got %(count)d)",
            DIALOG_MAX,
        ) % {"limit": DIALOG_MAX, "count": len(raw)}
        errors.append(FieldError("dialog", message))
        return []
    out: list[dict[str, str]] = []
    for i, item in enumerate(raw):
        if not isinstance(item, Mapping):
            errors.append(FieldError(f"dialog[{i}]", _('Must be an object {"from", "text", "at"}')))
            continue
        out.append(
            {
                "from": cap_text(item.get("from"), 120),
                "text": cap_text(item.get("text"), MESSAGE_MAX),
                "at": cap_text(item.get("at"), 40),
            }
        )
    return out


def _split_fields(raw: Mapping[str, Any], defs: Mapping[str, Any]) -> tuple[dict[str, Any], str, str, dict]:
    """(contact data, subject, message, other fields) out of what a form or provider sent."""
    contact_data: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    subject: Any = ""
    message: Any = ""
    for key, value in raw.items():
        name = str(key).strip()
        low = name.lower()
        if isinstance(value, list) and len(value) == 1:
            value = value[0]  # an HTML form field sent once arrives as a one-item list
        if low in CONTACT_FIELDS:
            contact_data[low] = value
        elif low.startswith("custom.") or low in defs:
            contact_data[low if low.startswith("custom.") else f"custom.{low}"] = value
        elif low in MESSAGE_FIELDS and not message:
            message = value
        elif low == "subject":
            subject = value
        else:
            extra[name[:100]] = value
    return contact_data, subject, message, extra


def _prepare(
    *,
    kind: str,
    site: Site | None,
    fields: Any,
    page_url: str,
    referrer: str,
    visitor_uid: str,
    utm: Any,
    click_ids: Any,
    occurred_at: Any,
    idempotency_key: str,
    provider: str,
    external_id: str,
    dialog: Any,
    transcript: str,
    recording_url: str,
    duration_seconds: Any,
    tracking_number: str,
) -> _Prepared:
    errors: list[FieldError] = []
    if kind not in InquiryKind.values:
        message = _("Unknown kind %(kind)s; one of: %(choices)s") % {
            "kind": repr(kind),
            "choices": ", ".join(InquiryKind.values),
        }
        errors.append(FieldError("kind", message))
    if not isinstance(fields, Mapping):
        raise ValidationFailed([*errors, FieldError("fields", _("Must be an object of field values"))])
    defs = custom_field_defs()
    contact_data, subject, message, extra = _split_fields(fields, defs)
    clean = clean_contact_input(contact_data, defs=defs, partial=True)
    errors.extend(clean.errors)
    email = clean.values.get("email") or ""
    phone = clean.values.get("phone") or ""
    external_ref = clean.values.get("external_id") or ""
    subject_text = _text(errors, "subject", subject, 255)
    message_text = _text(errors, "message", message, MESSAGE_MAX)
    when: dt.datetime | None = None
    try:
        when = parse_when(occurred_at)
    except ValidationFailed as exc:
        errors.extend(exc.errors)
    now = clock.now()
    if when is not None and when > now + dt.timedelta(minutes=5):
        errors.append(FieldError("occurred_at", _("Is in the future")))
    key = _text(errors, "idempotency_key", idempotency_key, 128)
    provider_text = _text(errors, "provider", provider, 40).lower()
    ext = _text(errors, "external_id", external_id, 128)
    number = _text(errors, "tracking_number", tracking_number, 32)
    recording = _text(errors, "recording_url", recording_url, 2000)
    if recording and urlsplit(recording).scheme not in {"http", "https"}:
        errors.append(FieldError("recording_url", _("Must be an http(s) URL")))
    duration: int | None = None
    if duration_seconds not in (None, ""):
        try:
            duration = int(duration_seconds)
            if isinstance(duration_seconds, bool) or not 0 <= duration <= 7 * 86400:
                raise ValueError
        except (TypeError, ValueError):
            message = _("Must be a whole number of seconds (0-604800)")
            errors.append(FieldError("duration_seconds", message))
            duration = None
    transcript_text = _text(errors, "transcript", transcript, TRANSCRIPT_MAX)
    dialog_rows = _clean_dialog(errors, dialog)
    if errors:
        raise ValidationFailed(errors)
    uid = visitor_uid.strip() if isinstance(visitor_uid, str) else ""
    if len(uid) > 64 or not uid.isprintable():
        uid = ""  # a broken cookie id must not cost the inquiry; it only loses the visit history
    return _Prepared(
        kind=kind,
        site=site,
        contact_data=contact_data,
        email=email,
        phone=phone,
        external_ref=external_ref,
        subject=subject_text,
        message=message_text,
        extra=extra,
        source=source_of(
            url=cap_text(page_url, URL_MAX),
            referrer=referrer,
            utm=utm,
            click_ids=click_ids,
            internal_hosts=_site_hosts(site),
        ),
        visitor_uid=uid,
        occurred_at=min(when, now) if when is not None else now,
        idempotency_key=key,
        provider=provider_text,
        external_id=ext,
        dialog=dialog_rows,
        transcript=transcript_text,
        recording_url=recording,
        duration_seconds=duration,
        tracking_number=number,
    )


def _replayed(site: Site | None, idempotency_key: Any, provider: Any, external_id: Any) -> Inquiry | None:
    key = idempotency_key.strip() if isinstance(idempotency_key, str) else ""
    ext = external_id.strip() if isinstance(external_id, str) else ""
    prov = provider.strip().lower() if isinstance(provider, str) else ""
    cond = Q(pk__in=[])
    if key:
        cond |= (
            Q(site=site, idempotency_key=key)
            if site is not None
            else Q(site__isnull=True, idempotency_key=key)
        )
    if ext:
        cond |= Q(provider=prov, external_id=ext)
    if not key and not ext:
        return None
    return Inquiry.objects.filter(cond).order_by("id").first()


def _next_sales_manager() -> User | None:
    """Round-robin over active sales managers: the one after whoever got the latest inquiry."""
    ids = list(
        User.objects.filter(is_active=True, role=Role.SALES).order_by("id").values_list("id", flat=True)
    )
    if not ids:
        return None
    last = (
        Inquiry.objects.filter(manager_id__in=ids)
        .order_by("-id")
        .values_list("manager_id", flat=True)
        .first()
    )
    chosen = ids[0] if last is None else next((i for i in ids if i > last), ids[0])
    return User.objects.get(pk=chosen)


def _match_contact(p: _Prepared) -> Contact | None:
    """The contact this inquiry is from, by external id, email, then phone.

    Takes the identity locks first (the caller's transaction holds them until commit), so a
    concurrent identify or inquiry for the same new person waits and then finds the contact
    this one creates instead of creating a second one.
    """
    identity_lock(emails=[p.email], phones=[p.phone], external_ids=[p.external_ref])
    if p.external_ref:
        hit = Contact.objects.alive().filter(external_id=p.external_ref).first()
        if hit is not None:
            return hit
    return find_by_email(p.email) or find_by_phone(p.phone)


def inquiry_capture(
    *,
    kind: str,
    site: Site | None = None,
    fields: dict[str, Any],
    page_url: str = "",
    referrer: str = "",
    visitor_uid: str = "",
    utm: Mapping[str, str] | None = None,
    click_ids: Mapping[str, str] | None = None,
    occurred_at: dt.datetime | str | None = None,
    idempotency_key: str = "",
    provider: str = "",
    external_id: str = "",
    dialog: list[dict[str, Any]] | None = None,
    transcript: str = "",
    recording_url: str = "",
    duration_seconds: int | None = None,
    tracking_number: str = "",
    actor: Any = None,
) -> tuple[Inquiry, bool]:
    """Record an inbound inquiry: the one write path for forms, webhooks, the API and imports.

    Returns (inquiry, created). A replay (same site + idempotency key, or same provider +
    external id) returns the existing inquiry with created=False. Invalid input raises
    ValidationFailed naming the fields, after the raw payload went to the data-quality queue.
    """
    if actor is not None:
        require(actor, Perm.INQUIRY_CAPTURE)
    existing = _replayed(site, idempotency_key, provider, external_id)
    if existing is not None:
        return existing, False
    args: dict[str, Any] = {
        "kind": kind,
        "site": site,
        "fields": fields,
        "page_url": page_url,
        "referrer": referrer,
        "visitor_uid": visitor_uid,
        "utm": utm,
        "click_ids": click_ids,
        "occurred_at": occurred_at,
        "idempotency_key": idempotency_key,
        "provider": provider,
        "external_id": external_id,
        "dialog": dialog,
        "transcript": transcript,
        "recording_url": recording_url,
        "duration_seconds": duration_seconds,
        "tracking_number": tracking_number,
    }
    try:
        prepared = _prepare(**args)
        return _capture(prepared, actor=actor), True
    except (ValidationFailed, Conflict) as exc:
        # Conflict: the contact data collides with a merged or erased contact's external id.
        raw = {k: v for k, v in args.items() if k != "site" and v not in (None, "", [], {})}
        raw["site_id"] = site.pk if site is not None else None
        src = f"capture:{provider or kind}" if isinstance(provider or kind, str) else "capture"
        dq_item_record(source=src, reason="invalid", raw=raw, errors=exc.errors)
        raise
    except IntegrityError:
        # A concurrent replay won the race to the unique constraint: answer with its inquiry.
        existing = _replayed(site, idempotency_key, provider, external_id)
        if existing is None:
            raise
        return existing, False


@transaction.atomic
def _capture(p: _Prepared, *, actor: Any) -> Inquiry:
    visitor = (
        _visitor_get_or_create(p.site, p.visitor_uid, p.occurred_at) if p.site and p.visitor_uid else None
    )
    contact = _match_contact(p)
    if contact is None and not (p.email or p.phone or p.external_ref) and visitor and visitor.contact_id:
        # An anonymous chat or form from a browser we already know.
        contact = Contact.objects.alive().filter(pk=visitor.contact_id).first()
    manager: User | None = None
    if contact is not None:
        owner = User.objects.filter(pk=contact.owner_id, is_active=True).first() if contact.owner_id else None
        manager = owner or _next_sales_manager()
        fill = {
            k: v
            for k, v in p.contact_data.items()
            if k in {"name", "email", "phone"} and not getattr(contact, k)
        }
        if owner is None and manager is not None:
            fill["owner"] = manager.username
        if fill:
            contact = contact_update(actor=None, contact_id=contact.pk, data=fill, reason="inquiry")
    else:
        if not any(p.contact_data.get(k) for k in ("name", "first_name", "last_name", "email", "phone")):
            raise field_error("fields", _("Give at least a name, an email or a phone"))
        manager = _next_sales_manager()
        data = dict(p.contact_data)
        if manager is not None:
            data["owner"] = manager.username
        contact = contact_create(actor=None, data=data, source=f"inquiry:{p.kind}", allow_duplicate=True)
    is_repeat = Inquiry.objects.filter(contact_id=contact.pk).exists()

    if p.source.carries_source or visitor is None or visitor.last_touch is None:
        touch = _touch_create(
            kind=p.kind,
            occurred_at=p.occurred_at,
            source=p.source,
            contact_id=contact.pk,
            visitor_id=visitor.pk if visitor else None,
            create_campaign=True,
        )
    else:
        # No source on the form itself: it inherits where the visitor last came from.
        touch = _touch_copy(
            visitor.last_touch, kind=p.kind, occurred_at=p.occurred_at, contact_id=contact.pk,
            landing=p.source.landing_page,
        )  # fmt: skip
    inquiry = Inquiry.objects.create(
        kind=p.kind,
        contact=contact,
        touch=touch,
        site=p.site,
        occurred_at=p.occurred_at,
        is_repeat=is_repeat,
        manager=manager,
        subject=p.subject,
        message=p.message,
        fields=_jsonable(p.extra),
        dialog=p.dialog,
        transcript=p.transcript,
        recording_url=p.recording_url,
        duration_seconds=p.duration_seconds,
        tracking_number=p.tracking_number,
        provider=p.provider,
        external_id=p.external_id,
        idempotency_key=p.idempotency_key,
    )
    if visitor is not None:
        _link_visitor(visitor, contact, via=p.kind, actor=actor)
    _campaign_backfill(contact.pk, touch)
    _contact_source_refresh(contact.pk, lead_touch=touch)
    activity_add(
        contact=contact,
        kind="inquiry_received",
        actor=actor,
        occurred_at=p.occurred_at,
        payload={
            "inquiry_id": inquiry.pk,
            "kind": p.kind,
            "channel": touch.channel.key,
            "campaign": touch.campaign.name if touch.campaign_id and touch.campaign else touch.campaign_name,
            "source": touch.source,
            "medium": touch.medium,
            "is_repeat": is_repeat,
            "manager": manager.username if manager else None,
            "excerpt": p.message[:200],
        },
    )
    return inquiry


def _jsonable(raw: Any) -> Any:
    if isinstance(raw, Mapping):
        return {str(k)[:100]: _jsonable(v) for k, v in raw.items()}
    if isinstance(raw, (list, tuple)):
        return [_jsonable(v) for v in raw]
    if raw is None or isinstance(raw, (bool, int, float)):
        return raw
    return str(raw)[:MESSAGE_MAX]


# --- inquiries: classification and review ------------------------------------------------------


def _inquiry_for(actor: Any, inquiry_id: int, perm: Perm) -> Inquiry:
    """The inquiry `actor` may act on (locked), or NotFound: others' inquiries stay hidden."""
    require(actor, perm)
    inquiry = (
        Inquiry.objects.visible_to(actor)
        .select_for_update(of=("self",))
        .select_related("cls", "touch", "contact")
        .filter(pk=inquiry_id)
        .first()
    )
    if inquiry is None:
        raise NotFound(_("Inquiry not found"))
    return inquiry


def _class_by_key(key: Any, *, name: str = "class") -> InquiryClass:
    text = key.strip().lower() if isinstance(key, str) else ""
    cls = InquiryClass.objects.filter(key=text, is_active=True).first() if text else None
    if cls is None:
        keys = ", ".join(InquiryClass.objects.filter(is_active=True).values_list("key", flat=True))
        message = _("Unknown inquiry class %(key)s; one of: %(choices)s") % {
            "key": repr(text),
            "choices": keys,
        }
        raise field_error(name, message)
    return cls


def _comment(value: Any, *, required: bool, why: str = "") -> str:
    try:
        text = clean_text(value, max_length=5000)
    except Invalid as exc:
        raise field_error("comment", str(exc)) from exc
    if required and not text:
        raise field_error("comment", why or _("A comment is required"))
    return text


def _already_reviewed(status: str) -> str:
    # Whole sentences per state, so that a translation can agree with each.
    if status == ReviewStatus.CONFIRMED:
        return _("The class is already confirmed")
    if status == ReviewStatus.DISPUTED:
        return _("The class is already disputed")
    return _("The class is already resolved")


def _class_ref(cls: InquiryClass | None) -> str | None:
    return cls.key if cls is not None else None


def _enqueue_junk_check(inquiry: Inquiry) -> None:
    campaign_id = inquiry.touch.campaign_id if inquiry.touch_id and inquiry.touch else None
    if campaign_id is None:
        return

    def enqueue() -> None:
        from leadbridge.capture.tasks import run_junk_check

        run_junk_check.enqueue(campaign_ids=[campaign_id])

    transaction.on_commit(enqueue)


@transaction.atomic
def inquiry_classify(*, actor: Any, inquiry_id: int, class_key: str, comment: str = "") -> Inquiry:
    """Sales set the class at the end of the dialog (again, to correct it, until it is disputed)."""
    inquiry = _inquiry_for(actor, inquiry_id, Perm.INQUIRY_CLASSIFY)
    cls = _class_by_key(class_key)
    text = _comment(comment, required=False)
    if inquiry.review_status == ReviewStatus.DISPUTED:
        raise Conflict(_("The class is disputed; the head of sales decides it now"))
    previous = inquiry.cls
    if previous is not None and previous.pk == cls.pk:
        return inquiry
    now = clock.now()
    inquiry.cls = cls
    inquiry.classified_at = now
    inquiry.classified_by = actor
    # A new verdict is a new thing to review.
    inquiry.review_status = ReviewStatus.NONE
    inquiry.save(update_fields=["cls", "classified_at", "classified_by", "review_status"])
    action = ReviewAction.CLASSIFIED if previous is None else ReviewAction.RECLASSIFIED
    InquiryReview.objects.create(
        inquiry=inquiry,
        action=action,
        actor=actor,
        from_class=previous,
        to_class=cls,
        comment=text,
        created_at=now,
    )
    activity_add(
        contact=inquiry.contact_id,
        kind="inquiry_classified",
        actor=actor,
        occurred_at=now,
        payload={
            "inquiry_id": inquiry.pk,
            "from": _class_ref(previous),
            "to": cls.key,
            "class_kind": cls.kind,
        },
    )
    audit_record(
        actor=actor,
        action=f"inquiry.{action}",
        object_type="inquiry",
        object_id=inquiry.pk,
        before={"class": _class_ref(previous)},
        after={"class": cls.key, "comment": text},
    )
    _enqueue_junk_check(inquiry)
    return inquiry


@transaction.atomic
def inquiry_review(*, actor: Any, inquiry_id: int, action: str, comment: str = "") -> Inquiry:
    """Marketing confirm or dispute (with a comment) the class sales set; a dispute goes to the
    heads of sales."""
    inquiry = _inquiry_for(actor, inquiry_id, Perm.INQUIRY_REVIEW)
    if action not in {"confirm", "dispute"}:
        raise field_error("action", _("Must be confirm or dispute"))
    text = _comment(comment, required=action == "dispute", why=_("Say why the class is wrong"))
    if inquiry.cls is None:
        raise Conflict(_("The inquiry is not classified yet"))
    if inquiry.review_status != ReviewStatus.NONE:
        raise Conflict(_already_reviewed(inquiry.review_status))
    now = clock.now()
    status = ReviewStatus.CONFIRMED if action == "confirm" else ReviewStatus.DISPUTED
    inquiry.review_status = status
    inquiry.save(update_fields=["review_status"])
    InquiryReview.objects.create(
        inquiry=inquiry,
        action=ReviewAction.CONFIRMED if action == "confirm" else ReviewAction.DISPUTED,
        actor=actor,
        from_class=inquiry.cls,
        to_class=inquiry.cls,
        comment=text,
        created_at=now,
    )
    activity_add(
        contact=inquiry.contact_id,
        kind="inquiry_reviewed",
        actor=actor,
        occurred_at=now,
        payload={"inquiry_id": inquiry.pk, "action": action, "class": inquiry.cls.key, "comment": text[:200]},
    )
    audit_record(
        actor=actor,
        action=f"inquiry.{status}",
        object_type="inquiry",
        object_id=inquiry.pk,
        after={"class": inquiry.cls.key, "comment": text},
    )
    if status == ReviewStatus.DISPUTED:
        heads = User.objects.filter(is_active=True, role=Role.SALES_HEAD)
        cls_name = inquiry.cls.name if inquiry.cls is not None else ""
        notify(
            users=heads,
            kind="inquiry_disputed",
            title=lambda: (
                _("Inquiry #%(id)s: class “%(cls)s” disputed") % {"id": inquiry.pk, "cls": cls_name}
            ),
            body=lambda: _("%(who)s disputes the class: %(comment)s") % {"who": str(actor), "comment": text},
            url=f"/inquiries/{inquiry.pk}/",
        )
    return inquiry


@transaction.atomic
def inquiry_resolve(*, actor: Any, inquiry_id: int, class_key: str, comment: str = "") -> Inquiry:
    """The head of sales decides a disputed class (keeping it or changing it)."""
    inquiry = _inquiry_for(actor, inquiry_id, Perm.INQUIRY_RESOLVE)
    cls = _class_by_key(class_key)
    text = _comment(comment, required=False)
    if inquiry.review_status != ReviewStatus.DISPUTED:
        raise Conflict(_("Only a disputed class can be resolved"))
    previous = inquiry.cls
    now = clock.now()
    inquiry.cls = cls
    inquiry.review_status = ReviewStatus.RESOLVED
    fields = ["cls", "review_status"]
    if previous is None or previous.pk != cls.pk:
        inquiry.classified_at = now
        inquiry.classified_by = actor
        fields += ["classified_at", "classified_by"]
    inquiry.save(update_fields=fields)
    InquiryReview.objects.create(
        inquiry=inquiry,
        action=ReviewAction.RESOLVED,
        actor=actor,
        from_class=previous,
        to_class=cls,
        comment=text,
        created_at=now,
    )
    activity_add(
        contact=inquiry.contact_id,
        kind="inquiry_resolved",
        actor=actor,
        occurred_at=now,
        payload={
            "inquiry_id": inquiry.pk,
            "from": _class_ref(previous),
            "to": cls.key,
            "comment": text[:200],
        },
    )
    audit_record(
        actor=actor,
        action="inquiry.resolved",
        object_type="inquiry",
        object_id=inquiry.pk,
        before={"class": _class_ref(previous)},
        after={"class": cls.key, "comment": text},
    )
    disputer_ids = list(
        inquiry.reviews.filter(action=ReviewAction.DISPUTED).values_list("actor_id", flat=True).distinct()
    )
    notify(
        users=User.objects.filter(pk__in=[i for i in disputer_ids if i]),
        kind="inquiry_resolved",
        title=lambda: (
            _("Inquiry #%(id)s: dispute resolved as “%(cls)s”") % {"id": inquiry.pk, "cls": cls.name}
        ),
        body=text,
        url=f"/inquiries/{inquiry.pk}/",
    )
    if previous is None or previous.pk != cls.pk:
        _enqueue_junk_check(inquiry)
    return inquiry


@transaction.atomic
def inquiry_first_response(*, actor: Any, inquiry_id: int, at: dt.datetime | None = None) -> Inquiry:
    """A manager's first reply or call back; the earliest one counts (speed to lead)."""
    inquiry = _inquiry_for(actor, inquiry_id, Perm.INQUIRY_CLASSIFY)
    when = at or clock.now()
    if timezone.is_naive(when):
        when = timezone.make_aware(when, timezone.get_default_timezone())
    if when < inquiry.occurred_at:
        raise field_error("at", _("Cannot be before the inquiry arrived"))
    if when > clock.now() + dt.timedelta(minutes=5):
        raise field_error("at", _("Is in the future"))
    if inquiry.first_response_at is not None and inquiry.first_response_at <= when:
        return inquiry
    inquiry.first_response_at = when
    inquiry.save(update_fields=["first_response_at"])
    activity_add(
        contact=inquiry.contact_id,
        kind="inquiry_responded",
        actor=actor,
        occurred_at=when,
        payload={
            "inquiry_id": inquiry.pk,
            "seconds": int((when - inquiry.occurred_at).total_seconds()),
        },
    )
    return inquiry


# --- inquiry classes ---------------------------------------------------------------------------

_CLASS_KEY_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_-")


def _clean_class(data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    for key, raw in data.items():
        if key == "key":
            text = raw.strip().lower() if isinstance(raw, str) else ""
            if not text or len(text) > 64 or not set(text) <= _CLASS_KEY_CHARS or not text[0].isalpha():
                errors.append(FieldError("key", _("Use 1-64 lower-case latin letters, digits, _ and -")))
            values["key"] = text
        elif key == "name":
            values["name"] = _text(errors, "name", raw, 120)
            if not values["name"]:
                errors.append(FieldError("name", _("A class needs a name")))
        elif key == "kind":
            if raw not in ClassKind.values:
                message = _("Unknown kind %(kind)s; one of: %(choices)s") % {
                    "kind": repr(raw),
                    "choices": ", ".join(ClassKind.values),
                }
                errors.append(FieldError("kind", message))
            values["kind"] = raw
        elif key == "product":
            values["product"] = _text(errors, "product", raw, 120)
        elif key == "position":
            if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 1_000_000:
                errors.append(FieldError("position", _("Must be a whole number from 0")))
            values["position"] = raw
        elif key == "is_active":
            values["is_active"] = bool(raw)
        else:
            errors.append(FieldError(key, _("Unknown field")))
    if not partial:
        for required in ("key", "name", "kind"):
            if required not in values:
                errors.append(FieldError(required, _("This field is required")))
    if errors:
        raise ValidationFailed(errors)
    return values


@transaction.atomic
def inquiry_class_create(*, actor: Any, data: Mapping[str, Any]) -> InquiryClass:
    if actor is not None:
        require(actor, Perm.INQUIRY_CLASS_MANAGE)
    values = _clean_class(data, partial=False)
    if InquiryClass.objects.filter(key=values["key"]).exists():
        detail = _("Inquiry class %(key)s exists") % {"key": repr(values["key"])}
        raise Conflict(detail, [FieldError("key", _("Already exists"))])
    values.setdefault("position", InquiryClass.objects.count())
    cls = InquiryClass.objects.create(**values)
    audit_record(
        actor=actor,
        action="inquiry_class.create",
        object_type="inquiry_class",
        object_id=cls.pk,
        after=values,
    )
    return cls


@transaction.atomic
def inquiry_class_update(*, actor: Any, class_id: int, data: Mapping[str, Any]) -> InquiryClass:
    """Rename, re-kind, reorder or (de)activate a class. Its key stays: reports and imports use it."""
    require(actor, Perm.INQUIRY_CLASS_MANAGE)
    cls = InquiryClass.objects.select_for_update().filter(pk=class_id).first()
    if cls is None:
        raise NotFound(_("Inquiry class not found"))
    if "key" in data:
        raise field_error("key", _("A class's key cannot change"))
    values = _clean_class(data, partial=True)
    before = {k: getattr(cls, k) for k in values}
    for k, v in values.items():
        setattr(cls, k, v)
    cls.save()
    changed = [k for k in values if before[k] != values[k]]
    if changed:
        audit_record(
            actor=actor,
            action="inquiry_class.update",
            object_type="inquiry_class",
            object_id=cls.pk,
            before={k: before[k] for k in changed},
            after={k: values[k] for k in changed},
        )
    return cls


@transaction.atomic
def inquiry_class_move(*, actor: Any, class_id: int, direction: str) -> InquiryClass:
    """Swap a class with its neighbour in the order sales see them (positions renumbered 0..n-1;
    all classes are locked, so two people reordering at once cannot interleave)."""
    require(actor, Perm.INQUIRY_CLASS_MANAGE)
    if direction not in ("up", "down"):
        raise field_error("direction", _("Must be 'up' or 'down'"))
    ordered = list(InquiryClass.objects.select_for_update().order_by("position", "id"))
    index = next((i for i, c in enumerate(ordered) if c.pk == class_id), None)
    if index is None:
        raise NotFound(_("Inquiry class not found"))
    other = index - 1 if direction == "up" else index + 1
    moving = ordered[index]
    if not 0 <= other < len(ordered):
        return moving
    ordered[index], ordered[other] = ordered[other], ordered[index]
    before = moving.position
    for position, cls in enumerate(ordered):
        if cls.position != position:
            InquiryClass.objects.filter(pk=cls.pk).update(position=position)
            cls.position = position
    audit_record(
        actor=actor,
        action="inquiry_class.move",
        object_type="inquiry_class",
        object_id=moving.pk,
        before={"position": before},
        after={"position": moving.position, "direction": direction},
    )
    return moving


# --- junk control ------------------------------------------------------------------------------


@dataclass(frozen=True)
class JunkWindow:
    campaign_id: int
    inquiries: int
    junk: int
    window_start: dt.datetime
    window_end: dt.datetime

    @property
    def share(self) -> Decimal:
        return (
            (Decimal(self.junk) / Decimal(self.inquiries)).quantize(Decimal("0.0001"))
            if self.inquiries
            else Decimal(0)
        )


def junk_window(*, campaign_id: int, now: dt.datetime | None = None) -> JunkWindow:
    """The campaign's last JUNK_WINDOW classified inquiries of the last JUNK_PERIOD_DAYS days."""
    now = now or clock.now()
    since = now - dt.timedelta(days=int(_setting("JUNK_PERIOD_DAYS", 30)))
    rows = list(
        Inquiry.objects.filter(
            touch__campaign_id=campaign_id, cls__isnull=False, occurred_at__gte=since, occurred_at__lte=now
        )
        .order_by("-occurred_at", "-id")
        .values_list("occurred_at", "cls__kind")[: int(_setting("JUNK_WINDOW", 50))]
    )
    junk = sum(1 for _, kind in rows if kind == ClassKind.JUNK)
    start = rows[-1][0] if rows else since
    return JunkWindow(
        campaign_id=campaign_id, inquiries=len(rows), junk=junk, window_start=start, window_end=now
    )


def junk_check(
    *, now: dt.datetime | None = None, campaign_ids: Iterable[int] | None = None
) -> list[JunkAlert]:
    """Alert marketing (in the app and by email) about each campaign whose junk share over its
    recent classified inquiries passes JUNK_THRESHOLD. One alert per crossing: a campaign is
    alerted again only after its share fell back below the threshold, or JUNK_REALERT_DAYS later.

    Without `campaign_ids`, every campaign with a classified inquiry in the period is checked.
    """
    now = now or clock.now()
    threshold = Decimal(str(_setting("JUNK_THRESHOLD", "0.15")))
    minimum = int(_setting("JUNK_MIN_INQUIRIES", 10))
    realert = dt.timedelta(days=int(_setting("JUNK_REALERT_DAYS", 7)))
    if campaign_ids is None:
        since = now - dt.timedelta(days=int(_setting("JUNK_PERIOD_DAYS", 30)))
        ids = sorted(
            set(
                Inquiry.objects.filter(
                    cls__isnull=False, occurred_at__gte=since, touch__campaign__isnull=False
                )
                .values_list("touch__campaign_id", flat=True)
                .distinct()
            )
        )
    else:
        ids = sorted(set(campaign_ids))
    alerts: list[JunkAlert] = []
    for campaign_id in ids:
        alert = _junk_check_one(campaign_id, now=now, threshold=threshold, minimum=minimum, realert=realert)
        if alert is not None:
            alerts.append(alert)
    return alerts


@transaction.atomic
def _junk_check_one(
    campaign_id: int, *, now: dt.datetime, threshold: Decimal, minimum: int, realert: dt.timedelta
) -> JunkAlert | None:
    # Locking the campaign row serialises two workers checking the same campaign at once.
    campaign = Campaign.objects.select_for_update().filter(pk=campaign_id).first()
    if campaign is None:
        return None
    window = junk_window(campaign_id=campaign_id, now=now)
    latest = JunkAlert.objects.filter(campaign_id=campaign_id).order_by("-created_at", "-id").first()
    if window.inquiries < minimum or window.share <= threshold:
        if latest is not None and latest.cleared_at is None and window.inquiries >= minimum:
            latest.cleared_at = now
            latest.save(update_fields=["cleared_at"])
        return None
    if latest is not None and latest.cleared_at is None and now - latest.created_at < realert:
        return None
    alert = JunkAlert.objects.create(
        campaign_id=campaign_id,
        window_start=window.window_start,
        window_end=window.window_end,
        inquiries=window.inquiries,
        junk=window.junk,
        share=window.share,
        threshold=threshold,
        created_at=now,
    )
    if latest is not None and latest.cleared_at is None:
        latest.cleared_at = now  # superseded by the re-alert
        latest.save(update_fields=["cleared_at"])
    numbers = {
        "campaign": campaign.name,
        "share": f"{window.share * 100:.1f}",
        "junk": window.junk,
        "total": window.inquiries,
        "threshold": f"{threshold * 100:.1f}",
    }
    notify(
        users=User.objects.filter(is_active=True, role=Role.MARKETING),
        kind="junk_alert",
        title=lambda: _("Junk share of campaign “%(campaign)s” is %(share)s%%") % numbers,
        body=lambda: (
            _(
                "%(junk)s of the last %(total)s classified inquiries of campaign “%(campaign)s” are junk "
                "(%(share)s%%; the threshold is %(threshold)s%%)."
            )
            % numbers
        ),
        url=f"/campaigns/{campaign_id}/",
    )
    return alert


# --- plain hits, many visitors at once (the pixel's write-behind buffer) -------------------------


def plain_hits_store(items: list[tuple[int, str, tuple[Any, ...]]]) -> None:
    """Store (site id, visitor uid, event row) items that record no touch and no identify: upsert
    each visitor once (first/last seen over its items), then insert every event.

    PostgreSQL: one statement, outside an atomic block its own transaction that skips waiting
    for the WAL flush (set_config(..., is_local) lasts until the end of the statement's
    transaction): a database crash may lose the last moment's page views, never a touch, a
    contact or an inquiry (those commit synchronously). SQLite: one transaction of three
    statements per hundreds of visitors.
    """
    if not items:
        return
    spans: dict[tuple[int, str], list[dt.datetime]] = {}
    for site_id, uid, row in items:
        span = spans.get((site_id, uid))
        if span is None:
            spans[(site_id, uid)] = [row[1], row[1]]
        elif row[1] < span[0]:
            span[0] = row[1]
        elif row[1] > span[1]:
            span[1] = row[1]
    events = _event_params([row for _s, _u, row in items])
    visitors, table = Visitor._meta.db_table, TrackingEvent._meta.db_table
    if connection.vendor == "postgresql":
        lazy = connection.get_autocommit()
        setting = ", c AS (SELECT set_config('synchronous_commit', 'off', true))" if lazy else ""
        sql = (
            f"WITH v AS (INSERT INTO {visitors} (site_id, uid, first_seen, last_seen) "  # noqa: S608
            "SELECT * FROM unnest(%s::bigint[], %s::text[], %s::timestamptz[], %s::timestamptz[]) "
            f"ON CONFLICT (site_id, uid) DO UPDATE SET last_seen = GREATEST({visitors}.last_seen, "
            f"excluded.last_seen) RETURNING id, site_id, uid){setting} "
            f"INSERT INTO {table} {_EVENT_COLUMNS} SELECT v.id, x.k, x.o, x.u, x.t, x.r, x.n, x.p::jsonb "
            "FROM unnest(%s::bigint[], %s::text[], %s::smallint[], %s::timestamptz[], %s::text[], "
            "%s::text[], %s::text[], %s::text[], %s::text[]) WITH ORDINALITY AS x(s, id, k, o, u, t, r, n, p, i) "
            f"JOIN v ON v.site_id = x.s AND v.uid = x.id{', c' if lazy else ''} "
            # Ids in the order the hits came (the join would group them by visitor): readers by id
            # (scoring's caps, the roll-up) then see them in arrival order, as on SQLite.
            "ORDER BY x.i"
        )
        keys = list(spans)
        params: list[Any] = [
            [k[0] for k in keys],
            [k[1] for k in keys],
            [spans[k][0] for k in keys],
            [spans[k][1] for k in keys],
            [s for s, _u, _r in items],
            [u for _s, u, _r in items],
            *(list(c) for c in zip(*events, strict=True)),
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
        return
    adapt = connection.ops.adapt_datetimefield_value
    upsert = (
        f"INSERT INTO {visitors} (site_id, uid, first_seen, last_seen) VALUES (%s, %s, %s, %s) "  # noqa: S608
        f"ON CONFLICT (site_id, uid) DO UPDATE SET last_seen = max({visitors}.last_seen, excluded.last_seen)"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.executemany(upsert, [(k[0], k[1], adapt(f), adapt(t)) for k, (f, t) in spans.items()])
        ids: dict[tuple[int, str], int] = {}
        by_site: dict[int, list[str]] = {}
        for site_id, uid in spans:
            by_site.setdefault(site_id, []).append(uid)
        for site_id, uids in by_site.items():
            for start in range(0, len(uids), 500):
                chunk = uids[start : start + 500]
                cursor.execute(
                    f"SELECT id, uid FROM {visitors} WHERE site_id = %s AND uid IN "  # noqa: S608
                    f"({', '.join(['%s'] * len(chunk))})",
                    [site_id, *chunk],
                )
                ids.update(((site_id, uid), pk) for pk, uid in cursor.fetchall())
        cursor.executemany(
            f"INSERT INTO {table} {_EVENT_COLUMNS} VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",  # noqa: S608
            [(ids[(s, u)], *e) for (s, u, _r), e in zip(items, events, strict=True)],
        )


_pixel_buffer: HitBuffer | None = None
_pixel_buffer_lock = threading.Lock()


def pixel_buffer() -> HitBuffer | None:
    """The process's write-behind buffer for pixel hits (see capture/hitbuffer.py); None when
    LEADBRIDGE["CAPTURE_PIXEL_FLUSH_MS"] is 0."""
    global _pixel_buffer
    interval_ms = int(str(settings.LEADBRIDGE.get("CAPTURE_PIXEL_FLUSH_MS") or 0))
    if interval_ms <= 0:
        return None
    if _pixel_buffer is None:
        with _pixel_buffer_lock:
            if _pixel_buffer is None:
                _pixel_buffer = register(HitBuffer(plain_hits_store, interval=interval_ms / 1000))
    return _pixel_buffer
