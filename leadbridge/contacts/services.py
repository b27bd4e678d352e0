"""Contacts: every business action has one function here. UI, API, import and worker call them."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.db.models.functions import Lower
from django.db.transaction import TransactionManagementError
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from leadbridge.contacts.cleaning import CleanContact, clean_contact_input, custom_field_defs
from leadbridge.contacts.models import (
    STAGE_ORDER,
    Activity,
    Company,
    Consent,
    ConsentChannel,
    ConsentStatus,
    Contact,
    ContactPoint,
    ContactTag,
    CustomField,
    DataQualityItem,
    Note,
    SpecialDate,
    StageChange,
    Tag,
)
from leadbridge.contacts.validation import Invalid, clean_text
from leadbridge.core import clock
from leadbridge.core.audit import audit_record, diff
from leadbridge.core.errors import Conflict, FieldError, NotFound, ValidationFailed, field_error
from leadbridge.core.permissions import require
from leadbridge.core.roles import Perm

SNAPSHOT_FIELDS = (
    "name",
    "first_name",
    "last_name",
    "email",
    "phone",
    "job_title",
    "street",
    "city",
    "region",
    "postal_code",
    "country",
    "ip_address",
    "geo_city",
    "geo_country",
    "stage",
    "external_id",
)


def snapshot(contact: Contact) -> dict[str, Any]:
    data: dict[str, Any] = {f: getattr(contact, f) for f in SNAPSHOT_FIELDS}
    data["birthday"] = contact.birthday.isoformat() if contact.birthday else None
    data["owner_id"] = contact.owner_id
    data["company_id"] = contact.company_id
    data["custom"] = dict(contact.custom or {})
    return data


# --- timeline -------------------------------------------------------------------------------


def activity_add(
    *,
    contact: Contact | int,
    kind: str,
    actor: Any = None,
    payload: dict[str, Any] | None = None,
    occurred_at: dt.datetime | None = None,
) -> Activity:
    contact_id = contact if isinstance(contact, int) else contact.pk
    return Activity.objects.create(
        contact_id=contact_id,
        kind=kind,
        actor_id=getattr(actor, "pk", None),
        payload=payload or {},
        occurred_at=occurred_at or clock.now(),
    )


# --- lookups used by dedupe -------------------------------------------------------------------


def _identity_key(kind: str, value: str) -> int:
    """A signed 64-bit advisory-lock key for one identity (collisions only serialise more)."""
    digest = hashlib.blake2b(f"{kind}\0{value}".encode(), digest_size=8, person=b"lb.identity").digest()
    return int.from_bytes(digest, "big", signed=True)


def identity_lock(
    *, emails: Iterable[str] = (), phones: Iterable[str] = (), external_ids: Iterable[str] = ()
) -> None:
    """Hold these contact identities until the current transaction ends.

    Every find-or-create of a contact calls this inside its transaction BEFORE it looks (with
    the normalised values it will look up): two requests bringing the same new person at once
    then run one after the other, and the second finds the contact the first created instead
    of making a duplicate. The email column is deliberately not unique (duplicates are a
    data-quality case the merge tool handles), so this lock is the rule, not a constraint.

    PostgreSQL: transaction-scoped advisory locks, taken in one statement in key order, so two
    callers holding overlapping keys never deadlock on each other; taking a key again in the same
    transaction is immediate. Take identity locks before locking any contact-owned row
    (contact, ContactSource) so every path acquires locks in the same order.
    SQLite: nothing to take; transaction_mode IMMEDIATE already makes every write transaction
    hold the database's write lock from its start, so the caller's lookup is covered as long as
    it runs inside the same atomic block.
    """
    if not connection.in_atomic_block:
        raise TransactionManagementError("identity_lock() is only useful inside transaction.atomic()")
    if connection.vendor != "postgresql":
        return
    keys = sorted(
        {_identity_key("email", v.lower()) for v in emails if v}
        | {_identity_key("phone", v) for v in phones if v}
        | {_identity_key("external_id", v) for v in external_ids if v}
    )
    if not keys:
        return
    with connection.cursor() as cursor:
        if len(keys) == 1:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", keys)
        else:
            # unnest yields the array in order: the locks are taken in ascending key order.
            cursor.execute("SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k", [keys])


def find_by_email(email: str) -> Contact | None:
    if not email:
        return None
    hit = Contact.objects.alive().filter(email=email).order_by("id").first()
    if hit:
        return hit
    point = ContactPoint.objects.filter(kind="email", value=email, contact__merged_into__isnull=True).first()
    return point.contact if point else None


def find_by_phone(phone: str) -> Contact | None:
    if not phone:
        return None
    hit = Contact.objects.alive().filter(phone=phone).order_by("id").first()
    if hit:
        return hit
    point = ContactPoint.objects.filter(kind="phone", value=phone, contact__merged_into__isnull=True).first()
    return point.contact if point else None


def find_duplicates(*, email: str = "", phone: str = "", exclude_id: int | None = None) -> list[Contact]:
    """Alive contacts sharing an email or a phone with the given values."""
    cond = Q(pk__in=[])
    point_cond = Q(pk__in=[])
    if email:
        cond |= Q(email=email)
        point_cond |= Q(kind="email", value=email)
    if phone:
        cond |= Q(phone=phone)
        point_cond |= Q(kind="phone", value=phone)
    if not email and not phone:
        return []
    ids = set(Contact.objects.alive().filter(cond).values_list("id", flat=True)[:20])
    ids |= set(ContactPoint.objects.filter(point_cond).values_list("contact_id", flat=True)[:20])
    ids.discard(exclude_id)
    return list(Contact.objects.alive().filter(pk__in=ids).order_by("id"))


# --- relations ---------------------------------------------------------------------------------


def resolve_owner(username: str | None) -> Any:
    if not username:
        return None
    user = get_user_model().objects.filter(username__iexact=username, is_active=True).first()
    if user is None:
        raise field_error("owner", _("No active user %(username)s") % {"username": repr(username)})
    return user


def company_for_name(name: str | None, *, actor: Any = None) -> Company | None:
    if not name:
        return None
    company = Company.objects.filter(name__iexact=name).order_by("id").first()
    if company is None:
        company = Company.objects.create(name=name, owner_id=getattr(actor, "pk", None))
        audit_record(
            actor=actor,
            action="company.create",
            object_type="company",
            object_id=company.pk,
            after={"name": name},
        )
    return company


def companies_for_names(names: Iterable[str], *, actor: Any = None) -> tuple[dict[str, Company], list[str]]:
    """`company_for_name` for many names in a few queries (the importer): {lower-cased name:
    company} and the names of the companies it had to create."""
    wanted = {n.lower(): n for n in names if n}
    if not wanted:
        return {}, []
    found: dict[str, Company] = {}
    matches = Company.objects.annotate(lname=Lower("name")).filter(
        Q(name__in=list(wanted.values())) | Q(lname__in=list(wanted))
    )
    for company in matches.order_by("id"):
        found.setdefault(company.name.lower(), company)
    missing = [key for key in wanted if key not in found]
    created = Company.objects.bulk_create(
        [Company(name=wanted[key], owner_id=getattr(actor, "pk", None)) for key in missing]
    )
    for key, new in zip(missing, created, strict=True):
        found[key] = new
        audit_record(
            actor=actor, action="company.create", object_type="company", object_id=new.pk,
            after={"name": new.name},
        )  # fmt: skip
    return {key: found[key] for key in wanted}, [wanted[key] for key in missing]


def tags_for_names(names: Iterable[str]) -> list[Tag]:
    wanted = {n.lower(): n for n in names if n}
    if not wanted:
        return []
    existing = {t.key: t for t in Tag.objects.filter(key__in=list(wanted))}
    missing = [Tag(name=wanted[k], key=k) for k in wanted if k not in existing]
    if missing:
        Tag.objects.bulk_create(missing, ignore_conflicts=True)
        existing = {t.key: t for t in Tag.objects.filter(key__in=list(wanted))}
    return [existing[k] for k in wanted]


# --- contacts ---------------------------------------------------------------------------------


def _contact_for(actor: Any, contact_id: int, perm: Perm, *, lock: bool = False) -> Contact:
    """The live contact `actor` may act on with `perm` (None = the system itself), or NotFound.

    Contacts outside the actor's visibility are NotFound, not Forbidden: their existence stays hidden.
    """
    if actor is not None:
        require(actor, perm)
    qs = Contact.objects.alive()
    if lock:
        qs = qs.select_for_update()
    if actor is not None:
        qs = qs.visible_to(actor)
    contact = qs.filter(pk=contact_id).first()
    if contact is None:
        raise NotFound(_("Contact not found"))
    return contact


def _raise_if_errors(clean: CleanContact) -> None:
    if clean.errors:
        raise ValidationFailed(clean.errors)


def _apply_points(contact: Contact, clean: CleanContact) -> None:
    rows = [
        ContactPoint(contact=contact, kind="email", value=v) for v in clean.extra_emails if v != contact.email
    ]
    rows += [
        ContactPoint(contact=contact, kind="phone", value=v) for v in clean.extra_phones if v != contact.phone
    ]
    if rows:
        ContactPoint.objects.bulk_create(rows, ignore_conflicts=True)


def _set_tags(
    contact: Contact, names: list[str], *, actor: Any, replace: bool
) -> tuple[list[str], list[str]]:
    tags = tags_for_names(names)
    current = {link.tag_id: link.tag.name for link in contact.tag_links.select_related("tag")}
    wanted = {t.pk: t.name for t in tags}
    added = [wanted[t] for t in wanted if t not in current]
    ContactTag.objects.bulk_create(
        [ContactTag(contact=contact, tag_id=t) for t in wanted if t not in current], ignore_conflicts=True
    )
    removed: list[str] = []
    if replace:
        gone = [t for t in current if t not in wanted]
        if gone:
            ContactTag.objects.filter(contact=contact, tag_id__in=gone).delete()
            removed = [current[t] for t in gone]
    if added or removed:
        activity_add(
            contact=contact, kind="tags_changed", actor=actor, payload={"added": added, "removed": removed}
        )
        audit_record(
            actor=actor,
            action="contact.tags",
            object_type="contact",
            object_id=contact.pk,
            before={"removed": removed},
            after={"added": added},
        )
    return added, removed


@transaction.atomic
def contact_create(
    *,
    actor: Any,
    data: Mapping[str, Any],
    source: str = "manual",
    allow_duplicate: bool = False,
) -> Contact:
    """Create a contact. A likely duplicate (same email or phone) is a Conflict naming it."""
    if actor is not None:
        require(actor, Perm.CONTACT_EDIT)
    clean = clean_contact_input(data, defs=custom_field_defs(), partial=False)
    _raise_if_errors(clean)
    values = {k: v for k, v in clean.values.items() if v is not None}
    if not allow_duplicate:
        # Two creates of the same new person at once: the second sees the first and conflicts.
        identity_lock(
            emails=[values.get("email", "")],
            phones=[values.get("phone", "")],
            external_ids=[values.get("external_id", "")],
        )
        dupes = find_duplicates(email=values.get("email", ""), phone=values.get("phone", ""))
        if dupes:
            dupe = dupes[0]
            raise Conflict(
                _("Likely duplicate of contact #%(id)s (%(name)s)")
                % {"id": dupe.pk, "name": dupe.display_name},
                [
                    FieldError(
                        "email" if values.get("email") and dupe.email == values.get("email") else "phone",
                        _("Already used by contact #%(id)s") % {"id": dupe.pk},
                    )
                ],
            )
    ext = values.get("external_id")
    if ext and Contact.objects.filter(external_id=ext).exists():
        raise Conflict(
            _("External id %(external_id)s is already used") % {"external_id": repr(ext)},
            [FieldError("external_id", _("Already used"))],
        )
    owner = (
        resolve_owner(clean.owner_username)
        if clean.owner_username
        else (actor if actor is not None and getattr(actor, "role", "") in {"sales", "presales"} else None)
    )
    now = clock.now()
    contact = Contact(
        **values,
        custom={k: v for k, v in clean.custom.items() if v is not None},
        owner=owner,
        company=company_for_name(clean.company_name, actor=actor),
        created_at=now,
        updated_at=now,
    )
    try:
        with transaction.atomic():
            contact.save()
    except IntegrityError as exc:
        raise Conflict(
            _("External id is already used"), [FieldError("external_id", _("Already used"))]
        ) from exc
    _apply_points(contact, clean)
    StageChange.objects.create(
        contact=contact,
        from_stage="",
        to_stage=contact.stage,
        actor_id=getattr(actor, "pk", None),
        reason=f"created ({source})",
        occurred_at=now,
    )
    activity_add(
        contact=contact, kind="contact_created", actor=actor, payload={"source": source}, occurred_at=now
    )
    # After "contact_created", so the timeline reads in the order things happened.
    if clean.tags:
        _set_tags(contact, clean.tags, actor=actor, replace=False)
    audit_record(
        actor=actor,
        action="contact.create",
        object_type="contact",
        object_id=contact.pk,
        after=snapshot(contact),
    )
    return contact


@transaction.atomic
def contact_update(
    *,
    actor: Any,
    contact_id: int,
    data: Mapping[str, Any],
    expected_version: int | None = None,
    reason: str = "",
) -> Contact:
    """Change fields of a contact. With `expected_version`, a stale edit is a Conflict (no lost update)."""
    contact = _contact_for(actor, contact_id, Perm.CONTACT_EDIT, lock=True)
    if expected_version is not None and contact.version != expected_version:
        raise Conflict(
            _("This contact was changed by someone else since you opened it; reload and try again"),
            [
                FieldError(
                    "version",
                    _("Expected version %(expected)s, current is %(current)s")
                    % {"expected": expected_version, "current": contact.version},
                )
            ],
        )
    clean = clean_contact_input(data, defs=custom_field_defs(), partial=True)
    _raise_if_errors(clean)
    before = snapshot(contact)
    new_stage = clean.values.pop("stage", None)
    for key, value in clean.values.items():
        if (
            key == "external_id"
            and value
            and Contact.objects.filter(external_id=value).exclude(pk=contact.pk).exists()
        ):
            raise Conflict(
                _("External id %(external_id)s is already used") % {"external_id": repr(value)},
                [FieldError("external_id", _("Already used"))],
            )
        setattr(
            contact,
            key,
            value if value is not None or key in {"external_id", "ip_address", "birthday"} else "",
        )
    if clean.custom:
        merged = dict(contact.custom or {})
        for key, value in clean.custom.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        contact.custom = merged
    if "company" in data:
        contact.company = company_for_name(clean.company_name, actor=actor)
    if "owner" in data:
        contact.owner = resolve_owner(clean.owner_username)
    contact.version += 1
    contact.updated_at = clock.now()
    contact.save()
    _apply_points(contact, clean)
    if clean.tags is not None:
        _set_tags(contact, clean.tags, actor=actor, replace=True)
    after = snapshot(contact)
    changed_before, changed_after = diff(before, after)
    if changed_after:
        activity_add(
            contact=contact,
            kind="contact_updated",
            actor=actor,
            payload={"before": changed_before, "after": changed_after},
        )
        audit_record(
            actor=actor,
            action="contact.update",
            object_type="contact",
            object_id=contact.pk,
            before=changed_before,
            after=changed_after,
        )
    if new_stage and new_stage != contact.stage:
        contact_stage_change(actor=actor, contact_id=contact.pk, to_stage=new_stage, reason=reason)
        contact.refresh_from_db()
    return contact


@transaction.atomic
def contact_stage_change(*, actor: Any, contact_id: int, to_stage: str, reason: str = "") -> Contact:
    """Move a contact along the lifecycle. Moving backwards needs a reason."""
    contact = _contact_for(actor, contact_id, Perm.STAGE_CHANGE, lock=True)
    to_stage = (to_stage or "").strip().lower()
    if to_stage not in STAGE_ORDER:
        raise field_error(
            "stage",
            _("Unknown stage %(stage)s; one of: %(choices)s")
            % {"stage": repr(to_stage), "choices": ", ".join(STAGE_ORDER)},
        )
    try:
        reason = clean_text(reason, max_length=2000)
    except Invalid as exc:
        raise field_error("reason", str(exc)) from exc
    if to_stage == contact.stage:
        return contact
    from_stage = contact.stage
    in_funnel = {"subscriber", "lead", "mql", "sql", "opportunity", "customer"}
    backwards = (
        from_stage in in_funnel and to_stage in in_funnel and STAGE_ORDER[to_stage] < STAGE_ORDER[from_stage]
    )
    if (backwards or to_stage in {"disqualified", "recycled"}) and not reason:
        raise field_error("reason", _("Say why the stage moves back (or the lead is disqualified/recycled)"))
    now = clock.now()
    contact.stage = to_stage
    contact.version += 1
    contact.updated_at = now
    contact.save(update_fields=["stage", "version", "updated_at"])
    StageChange.objects.create(
        contact=contact,
        from_stage=from_stage,
        to_stage=to_stage,
        actor_id=getattr(actor, "pk", None),
        reason=reason,
        occurred_at=now,
    )
    activity_add(
        contact=contact,
        kind="stage_changed",
        actor=actor,
        payload={"from": from_stage, "to": to_stage, "reason": reason},
        occurred_at=now,
    )
    audit_record(
        actor=actor,
        action="contact.stage",
        object_type="contact",
        object_id=contact.pk,
        before={"stage": from_stage},
        after={"stage": to_stage, "reason": reason},
    )
    return contact


@transaction.atomic
def contact_tags_change(
    *, actor: Any, contact_id: int, add: Iterable[str] = (), remove: Iterable[str] = ()
) -> Contact:
    contact = _contact_for(actor, contact_id, Perm.CONTACT_EDIT)
    add_names: list[str] = []
    for i, name in enumerate(add):
        try:
            text = clean_text(name, max_length=100)
        except Invalid as exc:
            raise field_error(f"add[{i}]", str(exc)) from exc
        if text:
            add_names.append(text)
    if add_names:
        _set_tags(contact, add_names, actor=actor, replace=False)
    remove_keys = [str(n).strip().lower() for n in remove if str(n).strip()]
    if remove_keys:
        links = ContactTag.objects.filter(contact=contact, tag__key__in=remove_keys)
        names = list(links.values_list("tag__name", flat=True))
        if names:
            ContactTag.objects.filter(pk__in=list(links.values_list("pk", flat=True))).delete()
            activity_add(
                contact=contact, kind="tags_changed", actor=actor, payload={"added": [], "removed": names}
            )
            audit_record(
                actor=actor,
                action="contact.tags",
                object_type="contact",
                object_id=contact.pk,
                before={"removed": names},
                after={"added": []},
            )
    return contact


@transaction.atomic
def special_date_add(*, actor: Any, contact_id: int, label: str, date: Any) -> SpecialDate:
    """Remember a date about a contact (anniversary, contract renewal, ...)."""
    from leadbridge.contacts.validation import parse_date

    contact = _contact_for(actor, contact_id, Perm.CONTACT_EDIT)
    errors: list[FieldError] = []
    try:
        label = clean_text(label, max_length=80)
        if not label:
            errors.append(FieldError("label", _("Name the date (e.g. 'Wedding anniversary')")))
    except Invalid as exc:
        errors.append(FieldError("label", str(exc)))
    try:
        parsed = parse_date(date)
        if parsed is None:
            errors.append(FieldError("date", _("A date is required")))
    except Invalid as exc:
        errors.append(FieldError("date", str(exc)))
    if errors:
        raise ValidationFailed(errors)
    assert parsed is not None
    row = SpecialDate.objects.create(contact=contact, label=label, date=parsed)
    activity_add(
        contact=contact,
        kind="special_date_added",
        actor=actor,
        payload={"label": label, "date": parsed.isoformat()},
    )
    audit_record(
        actor=actor,
        action="contact.special_date",
        object_type="contact",
        object_id=contact.pk,
        after={"label": label, "date": parsed.isoformat()},
    )
    return row


@transaction.atomic
def contact_consent_set(
    *, actor: Any, contact_id: int, channel: str, status: str, source: str = ""
) -> Consent:
    if channel not in ConsentChannel.values:
        raise field_error(
            "channel",
            _("Unknown channel %(channel)s; one of: %(choices)s")
            % {"channel": repr(channel), "choices": ", ".join(ConsentChannel.values)},
        )
    if status not in ConsentStatus.values:
        raise field_error(
            "status",
            _("Unknown status %(status)s; one of: %(choices)s")
            % {"status": repr(status), "choices": ", ".join(ConsentStatus.values)},
        )
    contact = Contact.objects.alive().filter(pk=contact_id).first()
    if contact is None:
        raise NotFound(_("Contact not found"))
    consent, _created = Consent.objects.get_or_create(contact=contact, channel=channel)
    before = consent.status
    consent.status = status
    consent.source = source[:120]
    consent.changed_at = clock.now()
    consent.save()
    if before != status:
        activity_add(
            contact=contact,
            kind="consent_changed",
            actor=actor,
            payload={"channel": channel, "from": before, "to": status, "source": source},
        )
        audit_record(
            actor=actor,
            action="contact.consent",
            object_type="contact",
            object_id=contact.pk,
            before={channel: before},
            after={channel: status},
        )
    return consent


# Apps above contacts that hold personal data about a contact (capture: inquiry texts, the pages
# its visitors saw) register a function that erases it; it runs in contact_erase's transaction.
_ERASERS: list[Callable[[int], None]] = []


def register_eraser(erase: Callable[[int], None]) -> None:
    if erase not in _ERASERS:
        _ERASERS.append(erase)


@transaction.atomic
def contact_erase(*, actor: Any, contact_id: int, reason: str) -> Contact:
    """Erase personal data on request (GDPR/152-FZ). The row and its history stay, the PII goes."""
    require(actor, Perm.CONTACT_DELETE)
    if not reason.strip():
        raise field_error("reason", _("Say why the contact is erased"))
    contact = Contact.objects.alive().select_for_update().filter(pk=contact_id).first()
    if contact is None:
        raise NotFound(_("Contact not found"))
    before = snapshot(contact)
    for f in (
        "name",
        "first_name",
        "last_name",
        "email",
        "phone",
        "street",
        "postal_code",
        "geo_city",
        "job_title",
    ):
        setattr(contact, f, "")
    contact.ip_address = None
    contact.birthday = None
    contact.custom = {}
    contact.external_id = None
    contact.erased_at = clock.now()
    contact.version += 1
    contact.save()
    contact.points.all().delete()
    contact.special_dates.all().delete()
    for erase in _ERASERS:
        erase(contact.pk)
    activity_add(contact=contact, kind="contact_erased", actor=actor, payload={"reason": reason})
    audit_record(
        actor=actor,
        action="contact.erase",
        object_type="contact",
        object_id=contact.pk,
        before={"fields": sorted(k for k, v in before.items() if v)},
        after={"reason": reason},
    )
    return contact


# --- notes ---------------------------------------------------------------------------------


@transaction.atomic
def note_add(
    *, actor: Any, contact_id: int, body: str, is_product_issue: bool = False, product: str = ""
) -> Note:
    contact = _contact_for(actor, contact_id, Perm.NOTE_ADD)
    errors: list[FieldError] = []
    try:
        body = clean_text(body, max_length=20000)
    except Invalid as exc:
        errors.append(FieldError("body", str(exc)))
    if not errors and not body:
        errors.append(FieldError("body", _("A note cannot be empty")))
    try:
        product = clean_text(product, max_length=120)
    except Invalid as exc:
        errors.append(FieldError("product", str(exc)))
    if errors:
        raise ValidationFailed(errors)
    note = Note.objects.create(
        contact=contact,
        author_id=getattr(actor, "pk", None),
        body=body,
        is_product_issue=bool(is_product_issue),
        product=product,
    )
    activity_add(
        contact=contact,
        kind="note_added",
        actor=actor,
        payload={"note_id": note.pk, "product_issue": note.is_product_issue, "excerpt": body[:200]},
    )
    audit_record(
        actor=actor,
        action="note.create",
        object_type="note",
        object_id=note.pk,
        after={"contact_id": contact.pk, "product_issue": note.is_product_issue},
    )
    return note


@transaction.atomic
def note_resolve_issue(*, actor: Any, note_id: int) -> Note:
    require(actor, Perm.PRODUCT_ISSUES_RESOLVE)
    note = Note.objects.filter(pk=note_id, is_product_issue=True).first()
    if note is None:
        raise NotFound(_("Product issue not found"))
    if note.resolved_at is None:
        note.resolved_at = clock.now()
        note.save(update_fields=["resolved_at"])
        audit_record(actor=actor, action="note.resolve", object_type="note", object_id=note.pk)
    return note


# --- tags, custom fields, companies ----------------------------------------------------------


@transaction.atomic
def tag_create(*, actor: Any, name: str, color: str = "") -> Tag:
    require(actor, Perm.TAG_MANAGE)
    try:
        name = clean_text(name, max_length=100)
    except Invalid as exc:
        raise field_error("name", str(exc)) from exc
    if not name:
        raise field_error("name", _("A tag needs a name"))
    if Tag.objects.filter(key=name.lower()).exists():
        raise Conflict(
            _("Tag %(name)s exists") % {"name": repr(name)}, [FieldError("name", _("Already exists"))]
        )
    tag = Tag.objects.create(name=name, key=name.lower(), color=color[:16])
    audit_record(actor=actor, action="tag.create", object_type="tag", object_id=tag.pk, after={"name": name})
    return tag


@transaction.atomic
def tag_delete(*, actor: Any, tag_id: int) -> None:
    require(actor, Perm.TAG_MANAGE)
    tag = Tag.objects.filter(pk=tag_id).first()
    if tag is None:
        raise NotFound(_("Tag not found"))
    count = tag.contact_links.count()
    audit_record(
        actor=actor,
        action="tag.delete",
        object_type="tag",
        object_id=tag.pk,
        before={"name": tag.name, "contacts": count},
    )
    tag.delete()


CUSTOM_KEY_CHARS = set("abcdefghijklmnopqrstuvwxyz0123456789_")


@transaction.atomic
def custom_field_create(
    *,
    actor: Any,
    key: str,
    label: str,
    kind: str,
    entity: str = "contact",
    choices: list[str] | None = None,
    required: bool = False,
) -> CustomField:
    require(actor, Perm.CUSTOM_FIELD_MANAGE)
    errors: list[FieldError] = []
    key = (key or "").strip().lower()
    if not key or not set(key) <= CUSTOM_KEY_CHARS or not key[0].isalpha() or len(key) > 64:
        errors.append(
            FieldError("key", _("Use 1-64 lower-case latin letters, digits and _; start with a letter"))
        )
    if kind not in CustomField.Kind.values:
        message = _("Unknown type %(kind)s; one of: %(choices)s") % {
            "kind": repr(kind),
            "choices": ", ".join(CustomField.Kind.values),
        }
        errors.append(FieldError("kind", message))
    if entity not in CustomField.Entity.values:
        errors.append(FieldError("entity", _("Must be contact or company")))
    try:
        label = clean_text(label, max_length=120) or key
    except Invalid as exc:
        errors.append(FieldError("label", str(exc)))
    clean_choices: list[str] = []
    if kind in {"choice", "multi_choice"}:
        for i, c in enumerate(choices or []):
            try:
                text = clean_text(c, max_length=200)
            except Invalid as exc:
                errors.append(FieldError(f"choices[{i}]", str(exc)))
                continue
            if text and text not in clean_choices:
                clean_choices.append(text)
        if not clean_choices:
            errors.append(FieldError("choices", _("A choice field needs at least one choice")))
    if errors:
        raise ValidationFailed(errors)
    if CustomField.objects.filter(entity=entity, key=key).exists():
        raise Conflict(
            _("Custom field %(key)s exists") % {"key": repr(key)}, [FieldError("key", _("Already exists"))]
        )
    fdef = CustomField.objects.create(
        key=key,
        label=label,
        kind=kind,
        entity=entity,
        choices=clean_choices,
        required=required,
        position=CustomField.objects.filter(entity=entity).count(),
    )
    audit_record(
        actor=actor,
        action="custom_field.create",
        object_type="custom_field",
        object_id=fdef.pk,
        after={"key": key, "kind": kind, "entity": entity, "choices": clean_choices, "required": required},
    )
    return fdef


@transaction.atomic
def custom_field_delete(*, actor: Any, field_id: int) -> None:
    """Removes the definition; stored values stay in `custom` (nothing is lost) but are no longer shown."""
    require(actor, Perm.CUSTOM_FIELD_MANAGE)
    fdef = CustomField.objects.filter(pk=field_id).first()
    if fdef is None:
        raise NotFound(_("Custom field not found"))
    audit_record(
        actor=actor,
        action="custom_field.delete",
        object_type="custom_field",
        object_id=fdef.pk,
        before={"key": fdef.key, "kind": fdef.kind},
    )
    fdef.delete()


COMPANY_TEXT = {"name": 255, "domain": 255, "industry": 120, "phone": 32, "city": 120, "address": 255}


def _clean_company(data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    from leadbridge.contacts.validation import normalize_country, parse_number

    errors: list[FieldError] = []
    values: dict[str, Any] = {}
    for key, raw in data.items():
        try:
            if key in COMPANY_TEXT:
                values[key] = clean_text(raw, max_length=COMPANY_TEXT[key])
            elif key == "country":
                values[key] = normalize_country(raw)
            elif key == "employees":
                if raw in (None, ""):
                    values[key] = None
                else:
                    number = parse_number(raw)
                    if not isinstance(number, int) or not 0 <= number <= 10_000_000:
                        raise Invalid(_("Must be a whole number from 0 to 10,000,000"))
                    values[key] = number
            else:
                errors.append(FieldError(key, _("Unknown field")))
        except Invalid as exc:
            errors.append(FieldError(key, str(exc)))
    if values.get("domain"):
        values["domain"] = (
            values["domain"].lower().removeprefix("https://").removeprefix("http://").strip("/")
        )
    if not partial and not values.get("name"):
        errors.append(FieldError("name", _("A company needs a name")))
    if partial and "name" in values and not values["name"]:
        errors.append(FieldError("name", _("A company needs a name")))
    if errors:
        raise ValidationFailed(errors)
    return values


@transaction.atomic
def company_create(*, actor: Any, data: Mapping[str, Any]) -> Company:
    require(actor, Perm.CONTACT_EDIT)
    values = _clean_company(data, partial=False)
    company = Company.objects.create(**values, owner_id=getattr(actor, "pk", None))
    audit_record(
        actor=actor, action="company.create", object_type="company", object_id=company.pk, after=values
    )
    return company


@transaction.atomic
def company_update(*, actor: Any, company_id: int, data: Mapping[str, Any]) -> Company:
    require(actor, Perm.CONTACT_EDIT)
    company = Company.objects.select_for_update().filter(pk=company_id).first()
    if company is None:
        raise NotFound(_("Company not found"))
    values = _clean_company(data, partial=True)
    before = {k: getattr(company, k) for k in values}
    for k, v in values.items():
        setattr(company, k, v)
    company.updated_at = clock.now()
    company.save()
    b, a = diff(before, values)
    if a:
        audit_record(
            actor=actor,
            action="company.update",
            object_type="company",
            object_id=company.pk,
            before=b,
            after=a,
        )
    return company


# --- data-quality queue -----------------------------------------------------------------------


def _jsonable(raw: Any) -> Any:
    if isinstance(raw, Mapping):
        return {str(k)[:200]: _jsonable(v) for k, v in raw.items()}
    if isinstance(raw, (list, tuple)):
        return [_jsonable(v) for v in raw]
    if raw is None or isinstance(raw, (bool, int, float)):
        return raw
    return str(raw)


def dq_item_record(
    *,
    source: str,
    reason: str,
    raw: Any,
    errors: list[FieldError] | list[dict[str, str]],
    contact_id: int | None = None,
) -> DataQualityItem:
    """Keep input that failed checks, with why. Called by capture and import; never raises on content."""
    item = _dq_item(source=source, reason=reason, raw=raw, errors=errors, contact_id=contact_id)
    item.save(force_insert=True)
    return item


def dq_items_record(items: Iterable[Mapping[str, Any]]) -> int:
    """`dq_item_record` for many rows in one INSERT (an import queues thousands); same arguments."""
    rows = [_dq_item(**item) for item in items]
    DataQualityItem.objects.bulk_create(rows, batch_size=500)
    return len(rows)


def _dq_item(
    *,
    source: str,
    reason: str,
    raw: Any,
    errors: list[FieldError] | list[dict[str, str]],
    contact_id: int | None = None,
) -> DataQualityItem:
    error_rows = [e.as_dict() if isinstance(e, FieldError) else e for e in errors]
    return DataQualityItem(
        source=source[:40], reason=reason, raw=_jsonable(raw), errors=error_rows, contact_id=contact_id
    )


# Whole sentences per state, so that a translation can agree with each.
_ALREADY_RESOLVED: dict[str, Promise] = {
    DataQualityItem.Status.FIXED: gettext_lazy("Item is already fixed"),
    DataQualityItem.Status.MERGED: gettext_lazy("Item is already merged"),
    DataQualityItem.Status.DISCARDED: gettext_lazy("Item is already discarded"),
}


@transaction.atomic
def dq_item_resolve(
    *,
    actor: Any,
    item_id: int,
    action: str,
    data: Mapping[str, Any] | None = None,
    note: str = "",
) -> DataQualityItem:
    """Close a queue item: `fix` (create a contact from corrected data), `merge` (into the suspected
    duplicate, filling its blanks), or `discard` (with a reason)."""
    require(actor, Perm.DATA_QUALITY_RESOLVE)
    item = DataQualityItem.objects.select_for_update().filter(pk=item_id).first()
    if item is None:
        raise NotFound(_("Data-quality item not found"))
    if item.status != DataQualityItem.Status.OPEN:
        already = _ALREADY_RESOLVED.get(item.status)
        raise Conflict(str(already) if already else _("Item is already %(status)s") % {"status": item.status})
    if action == "fix":
        contact = contact_create(actor=actor, data=data or {}, source=f"data_quality:{item.source}")
        item.contact = contact
        item.status = DataQualityItem.Status.FIXED
    elif action == "merge":
        target_id = (data or {}).get("contact_id") or item.contact_id
        if not target_id:
            raise field_error("contact_id", _("Name the contact to merge into"))
        fields = {k: v for k, v in (data or {}).items() if k != "contact_id"}
        target = Contact.objects.alive().filter(pk=target_id).first()
        if target is None:
            raise field_error("contact_id", _("Contact not found"))
        if fields:
            current = snapshot(target)
            fill = {k: v for k, v in fields.items() if k in current and not current.get(k)}
            fill.update({k: v for k, v in fields.items() if k not in current})
            if fill:
                contact_update(actor=actor, contact_id=target.pk, data=fill, reason="data-quality merge")
        activity_add(contact=target, kind="quality_item_merged", actor=actor, payload={"item_id": item.pk})
        item.contact = target
        item.status = DataQualityItem.Status.MERGED
    elif action == "discard":
        if not note.strip():
            raise field_error("note", _("Say why the record is discarded"))
        item.status = DataQualityItem.Status.DISCARDED
    else:
        raise field_error("action", _("Must be fix, merge or discard"))
    item.resolution_note = note[:2000]
    item.resolved_by = actor
    item.resolved_at = clock.now()
    item.save()
    audit_record(
        actor=actor,
        action=f"data_quality.{action}",
        object_type="data_quality_item",
        object_id=item.pk,
        after={"status": item.status, "contact_id": item.contact_id, "note": note[:200]},
    )
    return item
