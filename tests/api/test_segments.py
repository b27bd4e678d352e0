"""/api/v1/segments and the contacts list's `q=` / `segment=` through the API."""

from __future__ import annotations

from typing import Any

import pytest

from leadbridge.contacts.services import contact_create
from tests.api.conftest import Api, fields
from tests.factories import TeamFactory, user

pytestmark = pytest.mark.django_db


@pytest.fixture
def realtor(api: Api) -> dict[str, int]:
    admin = api.user
    ids = {}
    for name, tags in (
        ("Brian", ["summer_house", "beach"]),
        ("Jenny", ["homeowner", "beach", "forest"]),
        ("David", ["investor", "income"]),
    ):
        ids[name] = contact_create(actor=admin, data={"name": name, "tags": tags}).pk
    return ids


def names(response: Any) -> list[str]:
    assert response.status_code == 200, response.json()
    return [c["name"] for c in response.json()["items"]]


def test_contacts_q_uses_the_segment_language(api, realtor):
    assert names(api.get("/contacts", {"q": "tag:beach"})) == ["Jenny", "Brian"]
    assert names(api.get("/contacts", {"q": "tag:forest and tag:income"})) == []
    assert names(api.get("/contacts", {"q": "tag:forest or tag:income"})) == ["David", "Jenny"]
    assert names(api.get("/contacts", {"q": "tag:investor"})) == ["David"]
    assert names(
        api.get("/contacts", {"q": "tag:beach and (tag:forest or tag:income) and not tag:investor"})
    ) == ["Jenny"]
    assert names(api.get("/contacts", {"q": "jenny"})) == ["Jenny"]
    assert names(api.get("/contacts", {"q": "tag:beach", "tag": "forest"})) == ["Jenny"]


def test_contacts_q_errors_are_400_with_the_position(api, realtor):
    response = api.get("/contacts", {"q": "tag:beach and emial = x"})
    assert response.status_code == 400
    error = response.json()["errors"][0]
    assert error == {
        "field": "query.q",
        "message": "Position 14: unknown field 'emial' — did you mean 'email'?",
        "position": 14,
    }
    response = api.get("/contacts", {"q": "tag:a and (tag:b"})
    assert response.status_code == 400
    assert response.json()["errors"][0]["position"] == 16
    assert response.json()["errors"][0]["field"] == "query.q"


def test_numbers_beyond_64_bits_compare_instead_of_failing(api, realtor):
    # SQLite cannot bind such an integer; the comparison still has an answer.
    huge = "9" * 30
    everyone = ["David", "Jenny", "Brian"]
    assert names(api.get("/contacts", {"q": f"score < {huge}"})) == everyone
    assert names(api.get("/contacts", {"q": f"score > -{huge}"})) == everyone
    assert names(api.get("/contacts", {"q": f"score >= {huge}"})) == []
    assert names(api.get("/contacts", {"q": f"inquiries < {huge}"})) == everyone
    assert names(api.get("/contacts", {"q": f"inquiries >= {huge}"})) == []


def test_contacts_segment_by_name_or_id(api, realtor):
    created = api.post("/segments", {"name": "Beach", "filter": "tag:beach"}).json()
    assert names(api.get("/contacts", {"segment": "beach"})) == ["Jenny", "Brian"]
    assert names(api.get("/contacts", {"segment": str(created["id"]), "q": "tag:forest"})) == ["Jenny"]
    missing = api.get("/contacts", {"segment": "nosuch"})
    assert missing.status_code == 422 and "query.segment" in fields(missing)


def test_segment_crud(api, realtor):
    response = api.post("/segments", {"name": "Beach", "filter": "TAG:beach and not tag:investor"})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["filter"] == "tag:beach and not tag:investor"
    assert body["tree"]["op"] == "and" and body["owner"] == api.user.username and body["uses"] == []
    sid = body["id"]
    assert api.get(f"/segments/{sid}").json()["name"] == "Beach"
    assert api.get(f"/segments/{sid}/count").json() == {"count": 2}
    members = api.get(f"/segments/{sid}/members", {"limit": 1}).json()
    assert [c["name"] for c in members["items"]] == ["Jenny"] and members["next"]
    rest = api.get(f"/segments/{sid}/members", {"cursor": members["next"]}).json()
    assert [c["name"] for c in rest["items"]] == ["Brian"] and rest["next"] is None
    patched = api.patch(f"/segments/{sid}", {"tree": {"op": "tag", "name": "forest"}})
    assert patched.status_code == 200 and patched.json()["filter"] == "tag:forest"
    assert api.get(f"/segments/{sid}/count").json() == {"count": 1}
    listed = api.get("/segments").json()
    assert [s["id"] for s in listed["items"]] == [sid]
    assert api.delete(f"/segments/{sid}").status_code == 204
    assert api.get(f"/segments/{sid}").status_code == 404


def test_segment_errors(api, realtor):
    bad = api.post("/segments", {"name": "X", "filter": 'score > "abc"'})
    assert bad.status_code == 400
    assert bad.json()["errors"][0] == {
        "field": "body.filter",
        "message": "Position 8: score takes a number",
        "position": 8,
    }
    tree = api.post("/segments", {"name": "X", "tree": {"op": "tag"}})
    assert tree.status_code == 422 and "body.tree" in fields(tree)
    api.post("/segments", {"name": "VIP", "filter": "score > 50"})
    taken = api.post("/segments", {"name": "vip", "filter": "score > 1"})
    assert taken.status_code == 409 and "body.name" in fields(taken)
    user_of = api.post("/segments", {"name": "VIP beach", "filter": 'in segment("VIP") and tag:beach'}).json()
    assert user_of["uses"] == ["VIP"]
    vip_id = api.get("/contacts", {"segment": "vip"})  # usable by name
    assert vip_id.status_code == 200
    vip = next(s for s in api.get("/segments").json()["items"] if s["name"] == "VIP")
    refused = api.delete(f"/segments/{vip['id']}")
    assert refused.status_code == 409 and "VIP beach" in refused.json()["detail"]
    cycle = api.patch(f"/segments/{vip['id']}", {"filter": 'in segment("vip beach")'})
    assert cycle.status_code == 400 and "vip → vip beach → vip" in fields(cycle)["body.filter"]
    unknown = api.post("/segments", {"name": "Y", "filter": "tag:a", "colour": "red"})
    assert unknown.status_code == 422 and "body.colour" in fields(unknown)


def test_preview(api, realtor):
    response = api.post("/segments/preview", {"filter": "tag:beach  and  not tag:forest"})
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["count"] == 1 and [c["name"] for c in body["items"]] == ["Brian"]
    assert body["filter"] == "tag:beach and not tag:forest"
    assert body["tree"] == {
        "op": "and",
        "children": [{"op": "tag", "name": "beach"}, {"op": "not", "child": {"op": "tag", "name": "forest"}}],
    }
    from_tree = api.post("/segments/preview", {"tree": body["tree"]}).json()
    assert from_tree["count"] == 1 and from_tree["filter"] == body["filter"]
    bad = api.post("/segments/preview", {"filter": "tag:a tag:b"})
    assert bad.status_code == 400 and bad.json()["errors"][0]["position"] == 6
    empty = api.post("/segments/preview", {})
    assert empty.status_code == 422 and "body.filter" in fields(empty)


def test_preview_of_a_segment_being_edited(api, realtor):
    beach = api.post("/segments", {"name": "Beach", "filter": "tag:beach"}).json()["id"]
    api.post("/segments", {"name": "Beach forest", "filter": 'in segment("beach") and tag:forest'})
    new = 'tag:beach or in segment("beach forest")'
    # As a new filter it is fine; as Beach's new filter it would make a cycle: said before saving.
    assert api.post("/segments/preview", {"filter": new}).status_code == 200
    cycle = api.post("/segments/preview", {"filter": new, "segment_id": beach})
    assert cycle.status_code == 400, cycle.json()
    error = cycle.json()["errors"][0]
    assert error["field"] == "body.filter" and "beach → beach forest → beach" in error["message"]
    assert error["position"] == new.index("in segment")
    fine = api.post("/segments/preview", {"filter": "tag:beach and not tag:forest", "segment_id": beach})
    assert fine.status_code == 200 and fine.json()["count"] == 1
    missing = api.post("/segments/preview", {"filter": "tag:beach", "segment_id": 999_999})
    assert missing.status_code == 404


def test_roles(api, api_as, realtor):
    sales = api_as("sales")
    refused = sales.post("/segments", {"name": "Mine", "filter": "tag:beach"})
    assert refused.status_code == 403
    sid = api.post("/segments", {"name": "Beach", "filter": "tag:beach"}).json()["id"]
    assert sales.get(f"/segments/{sid}").status_code == 200
    assert sales.get(f"/segments/{sid}/count").json() == {"count": 0}  # owns none of them
    assert sales.patch(f"/segments/{sid}", {"description": "x"}).status_code == 403
    assert sales.delete(f"/segments/{sid}").status_code == 403
    assert api_as("marketing").patch(f"/segments/{sid}", {"description": "x"}).status_code == 200


def test_sales_see_only_their_contacts_through_segments(api, api_as):
    team = TeamFactory(name="North")
    anna = api_as("sales", username="anna", team=team)
    user("sales", username="mate", team=team)
    admin = api.user
    contact_create(actor=admin, data={"name": "Mine", "owner": "anna", "tags": ["hot"]})
    contact_create(actor=admin, data={"name": "Mate's", "owner": "mate", "tags": ["hot"]})
    contact_create(actor=admin, data={"name": "Other", "tags": ["hot"]})
    sid = api.post("/segments", {"name": "Hot", "filter": "tag:hot"}).json()["id"]
    assert anna.get(f"/segments/{sid}/count").json() == {"count": 2}
    assert names(anna.get(f"/segments/{sid}/members")) == ["Mate's", "Mine"]
    assert names(anna.get("/contacts", {"q": "tag:hot"})) == ["Mate's", "Mine"]
    assert names(anna.get("/contacts", {"q": "owner = me"})) == ["Mine"]
    preview = anna.post("/segments/preview", {"filter": "tag:hot"}).json()
    assert preview["count"] == 2


def test_openapi_documents_the_segments_and_the_error_position(api):
    doc = api.get("/openapi.json").json()
    assert "/api/v1/segments" in doc["paths"] and "/api/v1/segments/preview" in doc["paths"]
    assert "position" in doc["components"]["schemas"]["FieldErrorOut"]["properties"]
