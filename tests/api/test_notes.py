"""/api/v1/contacts/{id}/notes and /api/v1/notes/product-issues."""

from __future__ import annotations

import pytest

from leadbridge.contacts.models import Note
from leadbridge.core import clock
from tests.api.conftest import fields
from tests.factories import ContactFactory, user

pytestmark = pytest.mark.django_db


def test_add_and_list_notes(api):
    contact = ContactFactory()
    text = "<b>Called</b>; DROP TABLE notes; -- שלום"
    response = api.post(f"/contacts/{contact.pk}/notes", {"body": text})
    assert response.status_code == 201
    note = response.json()
    assert note["body"] == text and note["author"] == api.user.username and note["contact_id"] == contact.pk
    api.post(f"/contacts/{contact.pk}/notes", {"body": "second"})
    listed = api.get(f"/contacts/{contact.pk}/notes").json()
    assert [n["body"] for n in listed["items"]] == ["second", text]
    timeline = api.get(f"/contacts/{contact.pk}/timeline").json()["items"]
    assert timeline[0]["kind"] == "note_added"


def test_bad_notes_name_fields(api):
    contact = ContactFactory()
    for body, field in [
        ({"body": "   "}, "body.body"),
        ({}, "body.body"),
        ({"body": "x" * 20001}, "body.body"),
        ({"body": "x", "is_product_issue": "maybe"}, "body.is_product_issue"),
        ({"body": "x", "product": "p" * 121}, "body.product"),
        ({"body": "x", "urgent": True}, "body.urgent"),
    ]:
        response = api.post(f"/contacts/{contact.pk}/notes", body)
        assert response.status_code == 422 and field in fields(response), body
    assert Note.objects.count() == 0


def test_sales_cannot_note_contacts_they_cannot_see(api_as):
    hidden = ContactFactory(owner=user("sales", username="someone"))
    sales = api_as("sales")
    assert sales.post(f"/contacts/{hidden.pk}/notes", {"body": "x"}).status_code == 404
    assert sales.get(f"/contacts/{hidden.pk}/notes").status_code == 404
    assert api_as("guest").post(f"/contacts/{hidden.pk}/notes", {"body": "x"}).status_code == 403


def test_director_lists_open_product_issues_across_contacts(api, api_as):
    a, b = ContactFactory(name="Anna"), ContactFactory(name="Boris")
    api.post(
        f"/contacts/{a.pk}/notes", {"body": "Out of stock", "is_product_issue": True, "product": "Roses"}
    )
    api.post(f"/contacts/{b.pk}/notes", {"body": "Just a call"})
    api.post(f"/contacts/{b.pk}/notes", {"body": "Wrong colour", "is_product_issue": True})
    Note.objects.filter(body="Wrong colour").update(resolved_at=clock.now())

    director = api_as("director")
    issues = director.get("/notes/product-issues").json()["items"]
    assert [(i["body"], i["product"], i["contact"]["name"]) for i in issues] == [
        ("Out of stock", "Roses", "Anna")
    ]
    everything = director.get("/notes/product-issues", {"include_resolved": "true"}).json()["items"]
    assert [i["body"] for i in everything] == ["Wrong colour", "Out of stock"]
    assert api_as("guest").get("/notes/product-issues").status_code == 200
    assert api_as("sales").get("/notes/product-issues").status_code == 403
