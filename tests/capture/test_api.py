"""/api/v1/inquiries, /inquiry-classes and /sites through the real API with tokens."""

from __future__ import annotations

import pytest

from leadbridge.capture.models import Inquiry
from leadbridge.contacts.models import DataQualityItem
from tests.api.conftest import fields
from tests.factories import TeamFactory

SPRING = "https://shop.example/offer?utm_source=google&utm_medium=cpc&utm_campaign=spring&gclid=Cj0-AbC"

LIST_KEYS = {
    "id",
    "kind",
    "occurred_at",
    "contact",
    "channel",
    "campaign",
    "source",
    "medium",
    "landing_page",
    "click_ids",
    "class",
    "manager",
}


def test_list_items_carry_the_contract_keys(api, capture):
    sales = api.user  # admin lists everything
    inquiry = capture(page_url=SPRING, name="Anna", email="anna@example.com")
    capture(kind="call", page_url="", fields={"phone": "+79120000000"})
    response = api.get("/inquiries")
    assert response.status_code == 200, response.content
    body = response.json()
    assert set(body) == {"items", "next"} and body["next"] is None
    call, form = body["items"]
    assert set(form) >= LIST_KEYS
    assert form["id"] == inquiry.pk and form["kind"] == "form" and call["kind"] == "call"
    assert form["contact"] == {"id": inquiry.contact_id, "name": "Anna"}
    assert form["channel"] == "paid_search"
    assert form["campaign"]["name"] == "spring"
    assert (form["source"], form["medium"]) == ("google", "cpc")
    assert form["landing_page"] == "https://shop.example/offer"
    assert form["click_ids"] == {"gclid": "Cj0-AbC"}
    assert form["class"] is None and form["manager"] is None
    assert call["channel"] == "direct" and call["campaign"] is None
    assert sales is not None


def test_list_filters_and_pages(api, capture):
    ids = [capture(page_url=SPRING, email=f"f{i}@example.com").pk for i in range(3)]
    capture(email="other@example.com")
    page = api.get("/inquiries", {"campaign": "spring", "limit": 2}).json()
    assert [i["id"] for i in page["items"]] == ids[::-1][:2]
    rest = api.get("/inquiries", {"campaign": "spring", "limit": 2, "cursor": page["next"]}).json()
    assert [i["id"] for i in rest["items"]] == [ids[0]] and rest["next"] is None
    assert len(api.get("/inquiries", {"channel": "paid_search"}).json()["items"]) == 3
    assert len(api.get("/inquiries", {"class": "none"}).json()["items"]) == 4
    assert api.get("/inquiries", {"kind": "fax"}).status_code == 422
    response = api.get("/inquiries", {"cursor": "garbage"})
    assert response.status_code == 422 and "query.cursor" in fields(response)


def test_create_replay_and_field_errors(api_as, site):
    client = api_as("marketing")
    body = {
        "kind": "form",
        "site_key": site.key,
        "fields": {"name": "Vera", "email": "vera@example.com", "message": "Hello"},
        "page_url": SPRING,
        "idempotency_key": "abc-1",
    }
    created = client.post("/inquiries", body)
    assert created.status_code == 201, created.content
    detail = created.json()
    assert detail["message"] == "Hello" and detail["channel"] == "paid_search" and detail["history"] == []
    replay = client.post("/inquiries", body)
    assert replay.status_code == 200 and replay.json()["id"] == detail["id"]
    assert Inquiry.objects.count() == 1

    bad = client.post(
        "/inquiries", {**body, "idempotency_key": "abc-2", "fields": {"email": "nope@", "name": "V"}}
    )
    assert bad.status_code == 422
    assert set(fields(bad)) == {"body.fields.email"}
    assert DataQualityItem.objects.filter(source="capture:form").count() == 1
    unknown_site = client.post("/inquiries", {**body, "site_key": "x" * 22})
    assert unknown_site.status_code == 404
    assert api_as("guest").post("/inquiries", body).status_code == 403


def test_classify_review_resolve_over_the_api(api_as, capture):
    team = TeamFactory(name="North")
    sales = api_as("sales", team=team)
    outsider = api_as("sales", team=TeamFactory(name="South"))
    marketing = api_as("marketing")
    head = api_as("sales_head")
    inquiry = capture(email="z@example.com")  # round-robin: the first sales user
    assert inquiry.manager == sales.user

    assert outsider.post(f"/inquiries/{inquiry.pk}/classify", {"class": "spam"}).status_code == 404
    response = sales.post(f"/inquiries/{inquiry.pk}/classify", {"class": "bogus"})
    assert response.status_code == 422 and set(fields(response)) == {"body.class"}
    response = sales.post(f"/inquiries/{inquiry.pk}/classify", {"class": "spam", "comment": "bot"})
    assert response.status_code == 200 and response.json()["class"] == "spam"

    response = marketing.post(f"/inquiries/{inquiry.pk}/review", {"action": "dispute"})
    assert response.status_code == 422 and set(fields(response)) == {"body.comment"}
    assert sales.post(f"/inquiries/{inquiry.pk}/review", {"action": "confirm"}).status_code == 403
    response = marketing.post(
        f"/inquiries/{inquiry.pk}/review", {"action": "dispute", "comment": "real client"}
    )
    assert response.status_code == 200 and response.json()["review_status"] == "disputed"
    assert sales.post(f"/inquiries/{inquiry.pk}/classify", {"class": "new_lead"}).status_code == 409

    response = head.post(f"/inquiries/{inquiry.pk}/resolve", {"class": "new_lead", "comment": "agreed"})
    assert response.status_code == 200
    detail = head.get(f"/inquiries/{inquiry.pk}").json()
    assert detail["class"] == "new_lead" and detail["review_status"] == "resolved"
    assert [(h["action"], h["from_class"], h["to_class"]) for h in detail["history"]] == [
        ("classified", None, "spam"),
        ("disputed", "spam", "spam"),
        ("resolved", "spam", "new_lead"),
    ]
    assert head.post(f"/inquiries/{inquiry.pk}/resolve", {"class": "spam"}).status_code == 409

    queue = sales.get("/inquiries/unclassified").json()
    assert queue["items"] == []
    other = capture(email="y@example.com")
    (item,) = head.get("/inquiries/unclassified").json()["items"]
    assert item["id"] == other.pk and item["age_seconds"] >= 0

    share = head.get("/inquiries/junk-share", {"by": "channel"}).json()
    assert share == {"by": "channel", "rows": [{"key": "direct", "classified": 1, "junk": 0, "share": 0.0}]}
    assert head.get("/inquiries/junk-share", {"by": "colour"}).status_code == 422


def test_first_response_over_the_api(api_as, capture):
    sales = api_as("sales")
    inquiry = capture(email="w@example.com")
    response = sales.post(f"/inquiries/{inquiry.pk}/first-response", {})
    assert response.status_code == 200 and response.json()["first_response_at"]


def test_inquiry_classes(api_as):
    guest = api_as("guest")
    listed = guest.get("/inquiry-classes").json()
    keys = [c["key"] for c in listed["items"]]
    assert keys[:3] == ["new_lead", "upsell", "service"] and "spam" in keys
    assert {c["kind"] for c in listed["items"]} == {"target", "upsell", "service", "junk"}
    body = {"key": "new_lead_tours", "name": "New lead: tours", "kind": "target", "product": "Tours"}
    assert guest.post("/inquiry-classes", body).status_code == 403
    head = api_as("sales_head")
    created = head.post("/inquiry-classes", body)
    assert created.status_code == 201 and created.json()["product"] == "Tours"
    assert head.post("/inquiry-classes", body).status_code == 409
    assert head.post("/inquiry-classes", {**body, "key": "Bad Key"}).status_code == 422
    patched = head.patch(f"/inquiry-classes/{created.json()['id']}", {"is_active": False})
    assert patched.status_code == 200 and patched.json()["is_active"] is False
    assert "new_lead_tours" not in [
        c["key"] for c in head.get("/inquiry-classes", {"active": "true"}).json()["items"]
    ]


def test_sites(api_as):
    marketing = api_as("marketing")
    created = marketing.post(
        "/sites", {"name": "Blog", "origins": ["https://Blog.Example/", "http://localhost:8080"]}
    )
    assert created.status_code == 201, created.content
    site = created.json()
    assert (
        site["origins"] == ["https://blog.example", "http://localhost:8080"] and len(site["site_key"]) >= 20
    )
    bad = marketing.post("/sites", {"name": "X", "origins": ["ftp://x", "https://ok.example/path"]})
    assert bad.status_code == 422 and set(fields(bad)) == {"body.origins[0]", "body.origins[1]"}
    assert [s["id"] for s in marketing.get("/sites").json()["items"]] == [site["id"]]
    rotated = marketing.patch(f"/sites/{site['id']}", {"rotate_key": True}).json()
    assert rotated["site_key"] != site["site_key"]
    assert api_as("sales").get("/sites").status_code == 403


@pytest.mark.parametrize("role", ["sales", "guest"])
def test_sales_and_guests_see_only_what_they_may(api_as, capture, role):
    client = api_as(role)
    capture(email="v@example.com")
    items = client.get("/inquiries").json()["items"]
    # Guests see all; a sales user sees the inquiry only because round-robin gave it to them.
    assert len(items) == 1
