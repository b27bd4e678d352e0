"""/api/v1/tags."""

from __future__ import annotations

import pytest

from leadbridge.contacts.models import ContactTag, Tag
from tests.api.conftest import fields
from tests.factories import ContactFactory, TagFactory

pytestmark = pytest.mark.django_db


def test_create_list_and_delete(api):
    response = api.post("/tags", {"name": "  Beach ", "color": "#3b82f6"})
    assert response.status_code == 201
    tag = response.json()
    assert tag["name"] == "Beach" and tag["color"] == "#3b82f6" and tag["created_at"]
    TagFactory(name="forest")
    listed = api.get("/tags").json()
    assert [t["name"] for t in listed["items"]] == ["Beach", "forest"] and listed["next"] is None
    contact = ContactFactory()
    ContactTag.objects.create(contact=contact, tag_id=tag["id"])
    assert api.delete(f"/tags/{tag['id']}").status_code == 204
    assert not ContactTag.objects.filter(contact=contact).exists()
    assert api.delete(f"/tags/{tag['id']}").status_code == 404


def test_names_are_unique_regardless_of_case(api):
    assert api.post("/tags", {"name": "VIP"}).status_code == 201
    response = api.post("/tags", {"name": "vip"})
    assert response.status_code == 409 and "body.name" in fields(response)
    assert Tag.objects.count() == 1


def test_bad_names(api):
    for body, field in [
        ({"name": ""}, "body.name"),
        ({"name": "x" * 101}, "body.name"),
        ({}, "body.name"),
        ({"name": 3}, "body.name"),
        ({"name": "a", "colour": "red"}, "body.colour"),
    ]:
        response = api.post("/tags", body)
        assert response.status_code == 422 and field in fields(response), body


def test_only_tag_managers_write(api_as):
    tag = TagFactory()
    for role in ("guest", "sales"):
        client = api_as(role)
        assert client.get("/tags").status_code == 200
        assert client.post("/tags", {"name": "new"}).status_code == 403
        assert client.delete(f"/tags/{tag.pk}").status_code == 403
    assert api_as("marketing").post("/tags", {"name": "new"}).status_code == 201


def test_list_pages_through_all_tags(api):
    ids = [TagFactory(name=f"tag{i:03d}").pk for i in range(25)]
    seen: list[int] = []
    cursor = None
    while True:
        body = api.get("/tags", {"limit": 10} | ({"cursor": cursor} if cursor else {})).json()
        seen += [t["id"] for t in body["items"]]
        cursor = body["next"]
        if not cursor:
            break
    assert seen == ids
