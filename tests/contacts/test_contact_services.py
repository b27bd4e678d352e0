"""Contact write path: validation, normalisation, duplicates, versions, stages, timeline, audit."""

from __future__ import annotations

import pytest

from leadbridge.contacts.models import Activity, Contact, StageChange
from leadbridge.contacts.services import (
    contact_create,
    contact_stage_change,
    contact_update,
    custom_field_create,
)
from leadbridge.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from leadbridge.core.models import AuditEntry
from tests.factories import ContactFactory, TeamFactory, user

pytestmark = pytest.mark.django_db


def fields_of(exc: ValidationFailed | Conflict) -> dict[str, str]:
    return {e.field: e.message for e in exc.errors}


def test_create_normalises_email_and_phone_and_writes_timeline_and_audit(admin):
    c = contact_create(
        actor=admin,
        data={"name": "Иван Петров", "email": "  Ivan@Example.COM ", "phone": "8 (916) 123-45-67"},
    )
    assert c.email == "ivan@example.com"
    assert c.phone == "+79161234567"
    assert Activity.objects.filter(contact=c, kind="contact_created").count() == 1
    assert StageChange.objects.filter(contact=c, to_stage="lead").count() == 1
    entry = AuditEntry.objects.get(action="contact.create", object_id=str(c.pk))
    assert entry.actor == admin and entry.after["email"] == "ivan@example.com"


def test_invalid_values_name_each_field_and_store_nothing(admin):
    with pytest.raises(ValidationFailed) as info:
        contact_create(
            actor=admin,
            data={
                "name": "x",
                "email": "not-an-email",
                "phone": "12",
                "birthday": "2999-01-01",
                "country": "Russia",
            },
        )
    errors = fields_of(info.value)
    assert set(errors) == {"email", "phone", "birthday", "country"}
    assert Contact.objects.count() == 0


def test_unknown_field_is_an_error_not_silently_dropped(admin):
    with pytest.raises(ValidationFailed) as info:
        contact_create(actor=admin, data={"name": "A", "emial": "a@b.cd"})
    assert "emial" in fields_of(info.value)


def test_empty_contact_is_rejected(admin):
    with pytest.raises(ValidationFailed) as info:
        contact_create(actor=admin, data={"name": "   "})
    assert "name" in fields_of(info.value)


def test_duplicate_email_or_phone_is_a_conflict_naming_the_existing_contact(admin):
    first = contact_create(
        actor=admin, data={"name": "A", "email": "a@example.com", "phone": "+48 601 234 567"}
    )
    with pytest.raises(Conflict) as info:
        contact_create(actor=admin, data={"name": "B", "email": "A@example.com"})
    assert f"#{first.pk}" in info.value.detail
    with pytest.raises(Conflict):
        contact_create(actor=admin, data={"name": "C", "phone": "+48601234567"})
    again = contact_create(actor=admin, data={"name": "B", "email": "a@example.com"}, allow_duplicate=True)
    assert again.pk != first.pk


def test_injection_text_is_stored_verbatim(admin):
    evil = "Robert'); DROP TABLE contacts_contact;-- <script>alert(1)</script> مرحبا"
    c = contact_create(actor=admin, data={"name": evil})
    assert Contact.objects.get(pk=c.pk).name == evil


def test_too_long_value_is_rejected_with_length(admin):
    with pytest.raises(ValidationFailed) as info:
        contact_create(actor=admin, data={"name": "я" * 300})
    assert "255" in fields_of(info.value)["name"]


def test_stale_version_is_a_conflict_and_nothing_changes(admin):
    c = contact_create(actor=admin, data={"name": "Anna"})
    contact_update(actor=admin, contact_id=c.pk, data={"city": "Warszawa"}, expected_version=1)
    with pytest.raises(Conflict):
        contact_update(actor=admin, contact_id=c.pk, data={"city": "Kraków"}, expected_version=1)
    assert Contact.objects.get(pk=c.pk).city == "Warszawa"


def test_update_writes_diff_to_timeline(admin):
    c = contact_create(actor=admin, data={"name": "Anna", "city": "Moscow"})
    contact_update(actor=admin, contact_id=c.pk, data={"city": "Kazan"})
    act = Activity.objects.get(contact=c, kind="contact_updated")
    assert act.payload == {"before": {"city": "Moscow"}, "after": {"city": "Kazan"}}


def test_backward_stage_move_needs_reason_and_is_kept_in_history(admin):
    c = contact_create(actor=admin, data={"name": "Anna", "stage": "sql"})
    with pytest.raises(ValidationFailed) as info:
        contact_stage_change(actor=admin, contact_id=c.pk, to_stage="lead")
    assert "reason" in fields_of(info.value)
    contact_stage_change(actor=admin, contact_id=c.pk, to_stage="lead", reason="budget frozen")
    history = list(
        StageChange.objects.filter(contact=c).order_by("id").values_list("from_stage", "to_stage", "reason")
    )
    assert history[-1] == ("sql", "lead", "budget frozen")


def test_custom_fields_are_validated_on_write(admin):
    custom_field_create(actor=admin, key="partner_name", label="Partner", kind="text")
    custom_field_create(actor=admin, key="budget", label="Budget", kind="number")
    custom_field_create(
        actor=admin, key="flowers", label="Flowers", kind="multi_choice", choices=["rose", "tulip"]
    )
    c = contact_create(
        actor=admin,
        data={
            "name": "Olga",
            "custom": {"partner_name": "Roses Ltd", "budget": "1 500,5", "flowers": "rose;tulip"},
        },
    )
    assert c.custom == {"partner_name": "Roses Ltd", "budget": 1500.5, "flowers": ["rose", "tulip"]}
    with pytest.raises(ValidationFailed) as info:
        contact_create(
            actor=admin,
            data={"name": "Bad", "custom.budget": "lots", "custom.flowers": "cactus", "custom.nope": 1},
        )
    assert set(fields_of(info.value)) == {"custom.budget", "custom.flowers", "custom.nope"}


def test_sales_see_only_own_and_team_contacts(db):
    team = TeamFactory(name="North")
    anna = user("sales", username="anna", team=team)
    boris = user("sales", username="boris", team=team)
    carl = user("sales", username="carl")
    mine = ContactFactory(owner=anna)
    teammates = ContactFactory(owner=boris)
    other = ContactFactory(owner=carl)
    visible = set(Contact.objects.visible_to(anna).values_list("pk", flat=True))
    assert visible == {mine.pk, teammates.pk}
    with pytest.raises(NotFound):
        contact_update(actor=anna, contact_id=other.pk, data={"city": "X"})


def test_guest_cannot_write(db):
    guest = user("guest", username="guest")
    with pytest.raises(Forbidden):
        contact_create(actor=guest, data={"name": "Nope"})
    assert Contact.objects.count() == 0
