"""/api/v1/custom-fields, and custom values checked on contact writes."""

from __future__ import annotations

import pytest

from leadbridge.contacts.models import CustomField
from tests.api.conftest import fields

pytestmark = pytest.mark.django_db


def test_admin_defines_a_field_and_contacts_use_it(api):
    response = api.post(
        "/custom-fields",
        {"key": "flower", "label": "Любимый цветок", "kind": "choice", "choices": ["rose", "tulip", "rose"]},
    )
    assert response.status_code == 201
    field = response.json()
    assert (
        field["choices"] == ["rose", "tulip"] and field["entity"] == "contact" and field["required"] is False
    )
    ok = api.post("/contacts", {"name": "A", "custom": {"flower": "tulip"}})
    assert ok.status_code == 201 and ok.json()["custom"] == {"flower": "tulip"}
    bad = api.post("/contacts", {"name": "B", "custom": {"flower": "cactus"}})
    assert bad.status_code == 422 and "cactus" in fields(bad)["body.custom.flower"]


def test_required_field_is_enforced_on_create(api):
    api.post("/custom-fields", {"key": "partner_name", "kind": "text", "required": True})
    response = api.post("/contacts", {"name": "A"})
    assert response.status_code == 422 and "body.custom.partner_name" in fields(response)


def test_list_by_entity_and_delete(api):
    contact_field = api.post("/custom-fields", {"key": "size", "kind": "number"}).json()
    api.post("/custom-fields", {"key": "sector", "kind": "text", "entity": "company"})
    assert [f["key"] for f in api.get("/custom-fields").json()["items"]] == ["size"]
    assert [f["key"] for f in api.get("/custom-fields", {"entity": "company"}).json()["items"]] == ["sector"]
    bad = api.get("/custom-fields", {"entity": "deal"})
    assert bad.status_code == 422 and "query.entity" in fields(bad)
    assert api.delete(f"/custom-fields/{contact_field['id']}").status_code == 204
    assert api.delete(f"/custom-fields/{contact_field['id']}").status_code == 404
    assert not CustomField.objects.filter(key="size").exists()


def test_bad_definitions_name_fields(api):
    cases = [
        ({"key": "Bad Key", "kind": "text"}, "body.key"),
        ({"key": "ok", "kind": "colour"}, "body.kind"),
        ({"key": "ok", "kind": "choice"}, "body.choices"),
        ({"key": "ok", "kind": "text", "entity": "deal"}, "body.entity"),
        ({"key": "ok", "kind": "text", "required": "perhaps"}, "body.required"),
        ({"kind": "text"}, "body.key"),
    ]
    for body, field in cases:
        response = api.post("/custom-fields", body)
        assert response.status_code == 422 and field in fields(response), (body, response.json())
    assert CustomField.objects.count() == 0


def test_duplicate_key_is_409(api):
    assert api.post("/custom-fields", {"key": "size", "kind": "number"}).status_code == 201
    response = api.post("/custom-fields", {"key": "size", "kind": "text"})
    assert response.status_code == 409 and "body.key" in fields(response)


def test_only_admins_manage_fields(api_as):
    for role in ("director", "marketing", "guest"):
        client = api_as(role)
        assert client.post("/custom-fields", {"key": "x", "kind": "text"}).status_code == 403
        assert client.get("/custom-fields").status_code == 200
