"""/api/v1/merges: merging keeps all history and can be undone."""

from __future__ import annotations

import pytest

from leadbridge.contacts.models import Contact
from leadbridge.contacts.services import contact_create, note_add
from tests.api.conftest import fields
from tests.factories import ContactFactory

pytestmark = pytest.mark.django_db


def test_merge_then_undo(api_as):
    dq = api_as("data_quality")
    winner = contact_create(actor=None, data={"name": "Ivan", "email": "ivan@example.com"})
    loser = contact_create(actor=None, data={"name": "I. Petrov", "phone": "+79161234567", "city": "Kazan"})
    note_add(actor=None, contact_id=loser.pk, body="met at the fair")

    response = dq.post("/merges", {"winner_id": winner.pk, "loser_id": loser.pk})
    assert response.status_code == 201
    merge = response.json()
    assert (
        merge["winner_id"] == winner.pk and merge["undone_at"] is None and merge["actor"] == dq.user.username
    )
    merged = dq.get(f"/contacts/{winner.pk}").json()
    assert merged["phone"] == "+79161234567" and merged["city"] == "Kazan"
    assert dq.get(f"/contacts/{loser.pk}").json()["merged_into"] == winner.pk
    assert [n["body"] for n in dq.get(f"/contacts/{winner.pk}/notes").json()["items"]] == ["met at the fair"]

    undone = dq.post(f"/merges/{merge['id']}/undo")
    assert undone.status_code == 200 and undone.json()["undone_at"]
    assert Contact.objects.get(pk=loser.pk).merged_into_id is None
    assert dq.get(f"/contacts/{winner.pk}").json()["phone"] == ""
    assert [n["body"] for n in dq.get(f"/contacts/{loser.pk}/notes").json()["items"]] == ["met at the fair"]
    assert dq.post(f"/merges/{merge['id']}/undo").status_code == 409


def test_bad_merges(api_as):
    dq = api_as("data_quality")
    contact = ContactFactory()
    response = dq.post("/merges", {"winner_id": contact.pk, "loser_id": contact.pk})
    assert response.status_code == 422 and "body.loser_id" in fields(response)
    assert dq.post("/merges", {"winner_id": contact.pk, "loser_id": 987654}).status_code == 404
    response = dq.post("/merges", {"winner_id": "one", "loser_id": 0})
    assert response.status_code == 422 and set(fields(response)) == {"body.winner_id", "body.loser_id"}
    assert dq.post("/merges/987654/undo").status_code == 404


def test_only_merge_roles(api_as):
    a, b = ContactFactory(), ContactFactory()
    for role in ("sales", "marketing", "guest"):
        assert api_as(role).post("/merges", {"winner_id": a.pk, "loser_id": b.pk}).status_code == 403
    assert Contact.objects.filter(merged_into__isnull=False).count() == 0
