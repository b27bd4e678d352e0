"""Merging two contacts keeps all history of both, and can be undone.

Rows that point at a contact move from the loser to the winner; the Merge row records
exactly which rows moved and which blank fields of the winner were filled, so `merge_undo`
puts everything back. Apps above contacts (inquiries, deals, ...) register their own
contact foreign keys with `register_relation` in their AppConfig.ready().
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db import models, transaction
from django.utils.translation import gettext as _

from leadbridge.contacts.models import (
    Activity,
    Consent,
    Contact,
    ContactPoint,
    ContactTag,
    DataQualityItem,
    Merge,
    Note,
    SpecialDate,
    StageChange,
)
from leadbridge.contacts.services import SNAPSHOT_FIELDS, activity_add, snapshot
from leadbridge.core import clock
from leadbridge.core.audit import audit_record
from leadbridge.core.errors import Conflict, NotFound, field_error
from leadbridge.core.permissions import require
from leadbridge.core.roles import Perm

# (model, name of its FK to Contact) whose rows simply move to the winner.
_RELATIONS: list[tuple[type[models.Model], str]] = [
    (Activity, "contact"),
    (Note, "contact"),
    (StageChange, "contact"),
    (SpecialDate, "contact"),
    (DataQualityItem, "contact"),
]

# Fields a merge copies to the winner where the winner has none: the snapshot's plain fields
# (stage and external id have rules of their own below) plus the dates and relations.
FILLABLE = (
    *(f for f in SNAPSHOT_FIELDS if f not in {"stage", "external_id"}),
    "birthday",
    "company_id",
    "owner_id",
)


# Apps above contacts that keep data derived from the rows a merge moves (capture: a contact's
# first/lead/last touch) register a function that rebuilds it for the given contact ids; it runs
# inside the merge's (or the undo's) transaction, after the rows moved.
_REFRESHERS: list[Callable[[list[int]], None]] = []


def register_relation(model: type[models.Model], field: str) -> None:
    if (model, field) not in _RELATIONS:
        _RELATIONS.append((model, field))


def register_refresher(refresh: Callable[[list[int]], None]) -> None:
    if refresh not in _REFRESHERS:
        _REFRESHERS.append(refresh)


def _label(model: type[models.Model], field: str) -> str:
    return f"{model._meta.label}.{field}"


@transaction.atomic
def contact_merge(*, actor: Any, winner_id: int, loser_id: int) -> Merge:
    require(actor, Perm.CONTACT_MERGE)
    if winner_id == loser_id:
        raise field_error("loser_id", _("A contact cannot be merged into itself"))
    contacts = {
        c.pk: c for c in Contact.objects.alive().select_for_update().filter(pk__in=[winner_id, loser_id])
    }
    if winner_id not in contacts:
        raise NotFound(_("Contact to keep not found (or already merged)"))
    if loser_id not in contacts:
        raise NotFound(_("Contact to merge not found (or already merged)"))
    winner, loser = contacts[winner_id], contacts[loser_id]
    moved: dict[str, list[int]] = {}
    for model, field in _RELATIONS:
        ids = list(model._default_manager.filter(**{f"{field}_id": loser.pk}).values_list("pk", flat=True))
        if ids:
            model._default_manager.filter(pk__in=ids).update(**{f"{field}_id": winner.pk})
            moved[_label(model, field)] = ids
    for refresh in _REFRESHERS:
        refresh([winner.pk, loser.pk])

    # Tags: the winner gets the loser's tags it lacks; the loser's links are kept for undo.
    winner_tags = set(ContactTag.objects.filter(contact=winner).values_list("tag_id", flat=True))
    loser_tags = list(ContactTag.objects.filter(contact=loser).values_list("tag_id", flat=True))
    new_links = [ContactTag(contact=winner, tag_id=t) for t in loser_tags if t not in winner_tags]
    ContactTag.objects.bulk_create(new_links)
    added_tag_ids = [t for t in loser_tags if t not in winner_tags]

    # Emails/phones: the loser's become extra points of the winner.
    added_points: list[int] = []
    for kind, value in [("email", loser.email), ("phone", loser.phone)] + [
        (p.kind, p.value) for p in ContactPoint.objects.filter(contact=loser)
    ]:
        if value and value != getattr(winner, kind):
            point, created = ContactPoint.objects.get_or_create(contact=winner, kind=kind, value=value)
            if created:
                added_points.append(point.pk)

    # Consents: a revocation on either side wins (unsubscribed people stay unsubscribed).
    consent_before = {c.channel: c.status for c in Consent.objects.filter(contact=winner)}
    for lc in Consent.objects.filter(contact=loser):
        wc = Consent.objects.filter(contact=winner, channel=lc.channel).first()
        if wc is None:
            Consent.objects.create(contact=winner, channel=lc.channel, status=lc.status, source=lc.source)
        elif lc.status == "revoked" and wc.status != "revoked":
            wc.status = "revoked"
            wc.save(update_fields=["status"])

    filled: dict[str, Any] = {}
    for f in FILLABLE:
        if getattr(winner, f) in (None, "") and getattr(loser, f) not in (None, ""):
            filled[f] = getattr(winner, f)
            setattr(winner, f, getattr(loser, f))
    custom_before = dict(winner.custom or {})
    winner.custom = {**(loser.custom or {}), **(winner.custom or {})}
    ext_moved = None
    if not winner.external_id and loser.external_id:
        ext_moved = loser.external_id
        Contact.objects.filter(pk=loser.pk).update(external_id=None)
        winner.external_id = ext_moved
    winner.version += 1
    winner.updated_at = clock.now()
    winner.save()
    loser.merged_into = winner
    loser.version += 1
    loser.save(update_fields=["merged_into", "version"])

    merge = Merge.objects.create(
        winner=winner,
        loser=loser,
        actor_id=getattr(actor, "pk", None),
        snapshot={
            "moved": moved,
            "added_tag_ids": added_tag_ids,
            "added_point_ids": added_points,
            "filled": {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in filled.items()},
            "custom_before": custom_before,
            "consent_before": consent_before,
            "external_id_moved": ext_moved,
        },
    )
    activity_add(
        contact=winner,
        kind="contact_merged",
        actor=actor,
        payload={"merge_id": merge.pk, "loser_id": loser.pk, "loser": snapshot(loser)},
    )
    audit_record(
        actor=actor,
        action="contact.merge",
        object_type="contact",
        object_id=winner.pk,
        before={"loser_id": loser.pk},
        after={"merge_id": merge.pk, "filled": list(filled)},
    )
    return merge


@transaction.atomic
def merge_undo(*, actor: Any, merge_id: int) -> Merge:
    require(actor, Perm.CONTACT_MERGE)
    merge = Merge.objects.select_for_update().filter(pk=merge_id).first()
    if merge is None:
        raise NotFound(_("Merge not found"))
    if merge.undone_at is not None:
        raise Conflict(_("This merge was already undone"))
    later = Merge.objects.filter(
        loser_id=merge.winner_id, undone_at__isnull=True, merged_at__gte=merge.merged_at
    )
    if later.exists():
        raise Conflict(_("The kept contact was merged again later; undo that merge first"))
    snap = merge.snapshot
    winner = Contact.objects.select_for_update().get(pk=merge.winner_id)
    loser = Contact.objects.select_for_update().get(pk=merge.loser_id)
    labels = {_label(m, f): (m, f) for m, f in _RELATIONS}
    for label, ids in snap.get("moved", {}).items():
        if label in labels:
            model, field = labels[label]
            model._default_manager.filter(pk__in=ids, **{f"{field}_id": winner.pk}).update(
                **{f"{field}_id": loser.pk}
            )
    for refresh in _REFRESHERS:
        refresh([winner.pk, loser.pk])
    ContactTag.objects.filter(contact=winner, tag_id__in=snap.get("added_tag_ids", [])).delete()
    ContactPoint.objects.filter(pk__in=snap.get("added_point_ids", [])).delete()
    for channel, status in snap.get("consent_before", {}).items():
        Consent.objects.filter(contact=winner, channel=channel).update(status=status)
    Consent.objects.filter(contact=winner).exclude(channel__in=list(snap.get("consent_before", {}))).delete()
    for f, old in snap.get("filled", {}).items():
        if f == "birthday" and old:
            import datetime as dt

            old = dt.date.fromisoformat(old)
        setattr(winner, f, old)
    winner.custom = snap.get("custom_before", {})
    if snap.get("external_id_moved"):
        winner.external_id = None
        winner.save(update_fields=["external_id"])
        loser.external_id = snap["external_id_moved"]
    winner.version += 1
    winner.updated_at = clock.now()
    winner.save()
    loser.merged_into = None
    loser.version += 1
    loser.save()
    merge.undone_at = clock.now()
    merge.save(update_fields=["undone_at"])
    activity_add(
        contact=winner, kind="merge_undone", actor=actor, payload={"merge_id": merge.pk, "loser_id": loser.pk}
    )
    activity_add(
        contact=loser,
        kind="merge_undone",
        actor=actor,
        payload={"merge_id": merge.pk, "winner_id": winner.pk},
    )
    audit_record(
        actor=actor,
        action="contact.merge_undo",
        object_type="contact",
        object_id=winner.pk,
        after={"merge_id": merge.pk, "loser_id": loser.pk},
    )
    return merge
