"""Data-quality queue resolution, notes with product issues, tags, consents, erasure, companies."""

from __future__ import annotations

import pytest

from leadbridge.contacts.models import Contact, DataQualityItem, Tag
from leadbridge.contacts.selectors import contact_list, product_issues
from leadbridge.contacts.services import (
    company_create,
    company_update,
    contact_create,
    contact_erase,
    contact_tags_change,
    dq_item_record,
    dq_item_resolve,
    note_add,
    note_resolve_issue,
    tag_create,
)
from leadbridge.core.errors import Conflict, FieldError, Forbidden, ValidationFailed
from tests.factories import user

pytestmark = pytest.mark.django_db


def test_fixing_a_queue_item_creates_the_contact_and_closes_it(admin):
    dq = user("data_quality", username="dq")
    item = dq_item_record(
        source="import",
        reason="invalid",
        raw={"name": "Пётр", "phone": "12"},
        errors=[FieldError("phone", "Not a valid phone number")],
    )
    with pytest.raises(ValidationFailed):  # still invalid: the item stays open
        dq_item_resolve(actor=dq, item_id=item.pk, action="fix", data={"name": "Пётр", "phone": "12"})
    item.refresh_from_db()
    assert item.status == "open"
    dq_item_resolve(
        actor=dq, item_id=item.pk, action="fix", data={"name": "Пётр", "phone": "+7 916 000-11-22"}
    )
    item.refresh_from_db()
    assert item.status == "fixed" and item.contact.phone == "+79160001122"
    assert item.resolved_by == dq


def test_discard_needs_a_reason_and_merge_fills_blanks(admin):
    existing = contact_create(actor=admin, data={"name": "Olga", "email": "olga@example.com"})
    item = dq_item_record(
        source="capture",
        reason="duplicate",
        raw={"email": "olga@example.com", "phone": "+79161112233"},
        errors=[],
        contact_id=existing.pk,
    )
    with pytest.raises(ValidationFailed):
        dq_item_resolve(actor=admin, item_id=item.pk, action="discard")
    dq_item_resolve(
        actor=admin,
        item_id=item.pk,
        action="merge",
        data={"phone": "+79161112233", "email": "olga@example.com"},
    )
    existing.refresh_from_db()
    assert existing.phone == "+79161112233"
    assert DataQualityItem.objects.get(pk=item.pk).status == "merged"
    with pytest.raises(Conflict):
        dq_item_resolve(actor=admin, item_id=item.pk, action="discard", note="again")


def test_sales_cannot_resolve_queue_items(admin):
    item = dq_item_record(source="import", reason="invalid", raw={"x": 1}, errors=[])
    with pytest.raises(Forbidden):
        dq_item_resolve(actor=user("sales", username="s"), item_id=item.pk, action="discard", note="spam")


def test_product_issue_notes_are_listed_for_the_director_until_resolved(admin):
    c = contact_create(actor=admin, data={"name": "Shop"})
    note_add(actor=admin, contact_id=c.pk, body="Just a call")
    issue = note_add(
        actor=admin,
        contact_id=c.pk,
        body="Нет на складе, не можем продать",
        is_product_issue=True,
        product="X-200",
    )
    director = user("director", username="boss")
    assert [n.pk for n in product_issues(user=director).items] == [issue.pk]
    note_resolve_issue(actor=director, note_id=issue.pk)
    assert product_issues(user=director).items == []
    with pytest.raises(ValidationFailed):
        note_add(actor=admin, contact_id=c.pk, body="   ")


def test_tags_are_case_insensitive_and_filterable(admin):
    a = contact_create(actor=admin, data={"name": "Brian", "tags": ["summer_house", "Beach"]})
    b = contact_create(actor=admin, data={"name": "Jenny", "tags": "homeowner;beach;forest"})
    contact_create(actor=admin, data={"name": "David", "tags": ["investor", "income"]})
    assert Tag.objects.filter(key="beach").count() == 1
    assert {c.pk for c in contact_list(user=admin, tag="BEACH").items} == {a.pk, b.pk}
    contact_tags_change(actor=admin, contact_id=a.pk, remove=["beach"])
    assert {c.pk for c in contact_list(user=admin, tag="beach").items} == {b.pk}
    with pytest.raises(Conflict):
        tag_create(actor=admin, name="FOREST")


def test_erase_removes_personal_data_but_keeps_the_record(admin):
    c = contact_create(
        actor=admin, data={"name": "Ivan", "email": "ivan@example.com", "phone": "+79161234567"}
    )
    with pytest.raises(ValidationFailed):
        contact_erase(actor=admin, contact_id=c.pk, reason="")
    contact_erase(actor=admin, contact_id=c.pk, reason="GDPR request #12")
    row = Contact.objects.get(pk=c.pk)
    assert row.name == "" and row.email == "" and row.phone == "" and row.erased_at is not None
    assert not Contact.objects.alive().filter(pk=c.pk).exists()


def test_company_validation(admin):
    with pytest.raises(ValidationFailed) as info:
        company_create(actor=admin, data={"name": "", "employees": "-3", "country": "Poland"})
    assert {e.field for e in info.value.errors} == {"name", "employees", "country"}
    co = company_create(actor=admin, data={"name": "ООО Ромашка", "domain": "https://Romashka.ru/"})
    assert co.domain == "romashka.ru"
    company_update(actor=admin, company_id=co.pk, data={"employees": "250"})
    co.refresh_from_db()
    assert co.employees == 250


def test_list_filter_boxes_check_their_values(admin):
    with pytest.raises(ValidationFailed) as info:
        contact_list(user=admin, stage="hott")
    assert info.value.errors[0].field == "stage" and "hott" in info.value.errors[0].message
    mine = contact_create(actor=admin, data={"name": "Mine", "owner": admin.username})
    nobodys = contact_create(actor=admin, data={"name": "Nobody's"})
    assert [c.pk for c in contact_list(user=admin, owner=admin.username.upper()).items] == [mine.pk]
    assert [c.pk for c in contact_list(user=admin, owner="none").items] == [nobodys.pk]
    assert contact_list(user=admin, owner="no-such-user").items == []


def test_special_dates_are_validated_and_on_the_timeline(admin):
    from leadbridge.contacts.models import Activity
    from leadbridge.contacts.services import special_date_add

    c = contact_create(actor=admin, data={"name": "Anna"})
    with pytest.raises(ValidationFailed) as info:
        special_date_add(actor=admin, contact_id=c.pk, label="", date="31.02.2026")
    assert {e.field for e in info.value.errors} == {"label", "date"}
    special_date_add(actor=admin, contact_id=c.pk, label="Годовщина свадьбы", date="14.02.2015")
    assert c.special_dates.get().date.isoformat() == "2015-02-14"
    assert Activity.objects.filter(contact=c, kind="special_date_added").exists()
