"""/api/v1/quality: the data-quality queue."""

from __future__ import annotations

import pytest

from leadbridge.contacts.models import Contact, DataQualityItem
from leadbridge.contacts.services import dq_item_record
from tests.api.conftest import fields
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def item(**kwargs: object) -> DataQualityItem:
    defaults: dict = {
        "source": "import",
        "reason": "invalid",
        "raw": {"name": "Ivan", "email": "ivan@"},
        "errors": [{"field": "email", "message": "Not a valid email address"}],
    }
    return dq_item_record(**(defaults | kwargs))


def test_list_open_items_with_the_raw_input(api_as):
    first, second = item(), item(reason="duplicate", contact_id=ContactFactory().pk)
    DataQualityItem.objects.filter(pk=first.pk).update(status="discarded")
    dq = api_as("data_quality")
    body = dq.get("/quality").json()
    assert [i["id"] for i in body["items"]] == [second.pk]
    assert body["items"][0]["raw"] == {"name": "Ivan", "email": "ivan@"}
    assert body["items"][0]["errors"][0]["field"] == "email"
    assert [i["id"] for i in dq.get("/quality", {"status": "discarded"}).json()["items"]] == [first.pk]
    assert len(dq.get("/quality", {"status": "all"}).json()["items"]) == 2
    bad = dq.get("/quality", {"status": "lost"})
    assert bad.status_code == 422 and "query.status" in fields(bad)


def test_only_data_quality_roles_see_and_resolve(api_as):
    queued = item()
    for role in ("sales", "marketing", "guest"):
        client = api_as(role)
        assert client.get("/quality").status_code == 403
        assert (
            client.post(f"/quality/{queued.pk}/resolve", {"action": "discard", "note": "x"}).status_code
            == 403
        )
    assert api_as("sales_head").get("/quality").status_code == 200


def test_fix_creates_the_corrected_contact(api_as):
    queued = item()
    dq = api_as("data_quality")
    bad = dq.post(
        f"/quality/{queued.pk}/resolve", {"action": "fix", "data": {"name": "Ivan", "email": "ivan@"}}
    )
    assert bad.status_code == 422 and "body.data.email" in fields(bad)
    response = dq.post(
        f"/quality/{queued.pk}/resolve",
        {"action": "fix", "data": {"name": "Ivan", "email": "ivan@example.com"}},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "fixed" and body["resolved_by"] == dq.user.username
    assert Contact.objects.get(pk=body["contact_id"]).email == "ivan@example.com"
    again = dq.post(f"/quality/{queued.pk}/resolve", {"action": "discard", "note": "dup"})
    assert again.status_code == 409


def test_merge_fills_blanks_of_the_suspected_duplicate(api_as):
    existing = ContactFactory(name="Ivan", city="")
    queued = item(reason="duplicate", contact_id=existing.pk, raw={"name": "Ivan", "city": "Kazan"})
    response = api_as("data_quality").post(
        f"/quality/{queued.pk}/resolve", {"action": "merge", "data": {"city": "Kazan"}, "note": "same person"}
    )
    assert response.status_code == 200 and response.json()["status"] == "merged"
    existing.refresh_from_db()
    assert existing.city == "Kazan"


def test_discard_needs_a_note_and_a_known_action(api_as):
    queued = item()
    dq = api_as("data_quality")
    response = dq.post(f"/quality/{queued.pk}/resolve", {"action": "discard"})
    assert response.status_code == 422 and "body.note" in fields(response)
    response = dq.post(f"/quality/{queued.pk}/resolve", {"action": "burn", "note": "x"})
    assert response.status_code == 422 and "body.action" in fields(response)
    assert dq.post("/quality/999999/resolve", {"action": "discard", "note": "x"}).status_code == 404
    response = dq.post(f"/quality/{queued.pk}/resolve", {"action": "discard", "note": "test entry"})
    assert response.status_code == 200 and response.json()["resolution_note"] == "test entry"
