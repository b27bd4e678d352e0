"""Merging keeps the history of both contacts and can be undone exactly."""

from __future__ import annotations

import pytest

from leadbridge.contacts.merge import contact_merge, merge_undo
from leadbridge.contacts.models import Activity, Consent, Contact, ContactPoint, ContactTag, Note
from leadbridge.contacts.services import (
    contact_consent_set,
    contact_create,
    note_add,
)
from leadbridge.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from tests.factories import user

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(admin):
    keep = contact_create(
        actor=admin, data={"name": "Anna Nowak", "email": "anna@example.pl", "tags": ["vip"]}
    )
    dupe = contact_create(
        actor=admin,
        data={
            "name": "A. Nowak",
            "phone": "+48 601 234 567",
            "city": "Gdańsk",
            "tags": ["webinar", "vip"],
            "external_id": "crm-42",
        },
    )
    note_add(actor=admin, contact_id=dupe.pk, body="Called, wants a demo")
    contact_consent_set(actor=admin, contact_id=dupe.pk, channel="email", status="revoked")
    return keep, dupe


def test_merge_moves_history_fills_blanks_and_hides_loser(admin, pair):
    keep, dupe = pair
    contact_merge(actor=admin, winner_id=keep.pk, loser_id=dupe.pk)
    keep.refresh_from_db()
    dupe.refresh_from_db()
    assert dupe.merged_into_id == keep.pk
    assert not Contact.objects.alive().filter(pk=dupe.pk).exists()
    assert keep.phone == "+48601234567" and keep.city == "Gdańsk" and keep.external_id == "crm-42"
    assert keep.name == "Anna Nowak"  # filled only where blank
    assert Note.objects.filter(contact=keep, body="Called, wants a demo").exists()
    assert set(ContactTag.objects.filter(contact=keep).values_list("tag__key", flat=True)) == {
        "vip",
        "webinar",
    }
    # Unsubscribed on either side stays unsubscribed.
    assert Consent.objects.get(contact=keep, channel="email").status == "revoked"
    assert Activity.objects.filter(contact=keep, kind="contact_merged").exists()


def test_undo_restores_both_contacts_exactly(admin, pair):
    keep, dupe = pair
    keep_activities = set(Activity.objects.filter(contact=keep).values_list("pk", flat=True))
    dupe_activities = set(Activity.objects.filter(contact=dupe).values_list("pk", flat=True))
    merge = contact_merge(actor=admin, winner_id=keep.pk, loser_id=dupe.pk)
    merge_undo(actor=admin, merge_id=merge.pk)
    keep.refresh_from_db()
    dupe.refresh_from_db()
    assert dupe.merged_into_id is None
    assert keep.phone == "" and keep.city == "" and keep.external_id is None
    assert dupe.external_id == "crm-42"
    assert set(ContactTag.objects.filter(contact=keep).values_list("tag__key", flat=True)) == {"vip"}
    assert not ContactPoint.objects.filter(contact=keep).exists()
    assert not Consent.objects.filter(contact=keep).exists()
    assert dupe_activities <= set(Activity.objects.filter(contact=dupe).values_list("pk", flat=True))
    assert keep_activities <= set(Activity.objects.filter(contact=keep).values_list("pk", flat=True))
    assert Note.objects.filter(contact=dupe).count() == 1
    with pytest.raises(Conflict):
        merge_undo(actor=admin, merge_id=merge.pk)


def test_merge_rules(admin, pair):
    keep, dupe = pair
    with pytest.raises(ValidationFailed):
        contact_merge(actor=admin, winner_id=keep.pk, loser_id=keep.pk)
    with pytest.raises(NotFound):
        contact_merge(actor=admin, winner_id=keep.pk, loser_id=999999)
    with pytest.raises(Forbidden):
        contact_merge(actor=user("sales", username="s1"), winner_id=keep.pk, loser_id=dupe.pk)
    contact_merge(actor=admin, winner_id=keep.pk, loser_id=dupe.pk)
    with pytest.raises(NotFound):  # already merged
        contact_merge(actor=admin, winner_id=keep.pk, loser_id=dupe.pk)
