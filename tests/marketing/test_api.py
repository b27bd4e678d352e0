"""/api/v1/channels, /channel-rules, /campaigns, /spend through the test client with real tokens."""

from __future__ import annotations

import pytest

from leadbridge.marketing.models import Campaign, Spend
from leadbridge.marketing.services import resolve_channel
from tests.api.conftest import Api, fields

pytestmark = pytest.mark.django_db


@pytest.fixture
def marketer(defaults, api_as) -> Api:  # type: ignore[no-untyped-def]
    return api_as("marketing")


def test_channels(marketer, api_as) -> None:  # type: ignore[no-untyped-def]
    r = marketer.get("/channels", {"limit": 5})
    assert r.status_code == 200
    body = r.json()
    assert [c["key"] for c in body["items"]] == [
        "paid_search",
        "organic_search",
        "paid_social",
        "social",
        "email",
    ]
    rest = marketer.get("/channels", {"cursor": body["next"]}).json()
    assert len(rest["items"]) == 6 and rest["next"] is None

    r = marketer.post("/channels", {"key": "tv", "name": "Television"})
    assert r.status_code == 201, r.json()
    tv = r.json()
    assert marketer.post("/channels", {"key": "tv", "name": "x"}).status_code == 409
    r = marketer.patch(f"/channels/{tv['id']}", {"name": "TV", "is_active": False})
    assert (r.status_code, r.json()["name"], r.json()["is_active"]) == (200, "TV", False)
    assert fields(marketer.post("/channels", {"key": "Bad Key", "name": "x"})) == {
        "body.key": "Use lower-case letters, digits and _ only"
    }
    assert marketer.get("/channels/999999").status_code == 404
    assert marketer.delete(f"/channels/{tv['id']}").status_code == 204

    sales = api_as("sales")
    assert sales.get("/channels").status_code == 200
    assert sales.post("/channels", {"key": "tv2", "name": "x"}).status_code == 403
    assert api_as("data_quality").get("/channels").status_code == 403


def test_channel_rules(marketer, api_as) -> None:  # type: ignore[no-untyped-def]
    listed = marketer.get("/channel-rules", {"limit": 200}).json()
    assert listed["next"] is None
    assert listed["items"][0]["channel"] == "paid_social"
    positions = [r["position"] for r in listed["items"]]
    assert positions == sorted(positions)

    r = marketer.post(
        "/channel-rules",
        {"channel": "referral", "field": "utm_source", "op": "in", "value": "partner42, partner43"},
    )
    assert r.status_code == 201, r.json()
    rule = r.json()
    assert rule["position"] > positions[-1]
    assert resolve_channel(utm={"source": "Partner43"}, referrer="", click_ids={}).key == "referral"

    r = marketer.patch(f"/channel-rules/{rule['id']}", {"channel": "offline"})
    assert r.json()["channel"] == "offline"
    assert resolve_channel(utm={"source": "partner43"}, referrer="", click_ids={}).key == "offline"

    r = marketer.post(f"/channel-rules/{rule['id']}/move", {"direction": "up"})
    assert r.status_code == 200 and r.json()["position"] < rule["position"]
    assert fields(marketer.post(f"/channel-rules/{rule['id']}/move", {"direction": "left"})) == {
        "body.direction": "Input should be 'up' or 'down'"
    }
    assert fields(
        marketer.post(
            "/channel-rules", {"channel": "social", "field": "utm_source", "op": "regex", "value": "(("}
        )
    )["body.value"].startswith("Invalid regular expression")
    assert set(fields(marketer.post("/channel-rules", {"field": "nope"}))) == {"body.field"}

    assert api_as("sales").delete(f"/channel-rules/{rule['id']}").status_code == 403
    assert marketer.delete(f"/channel-rules/{rule['id']}").status_code == 204
    assert marketer.get(f"/channel-rules/{rule['id']}").status_code == 404
    assert resolve_channel(utm={"source": "partner43"}, referrer="", click_ids={}).key == "unknown"


def test_campaigns(marketer, api_as) -> None:  # type: ignore[no-untyped-def]
    r = marketer.post(
        "/campaigns",
        {
            "name": "Spring sale",
            "type": "expert",
            "channel": "paid_search",
            "utm_campaign": "Spring",
            "starts_on": "2026-03-01",
            "ends_on": "2026-03-31",
            "budget": "1500.5",
            "sales_script": "Offer the spring discount.",
        },
    )
    assert r.status_code == 201, r.json()
    spring = r.json()
    assert {k: spring[k] for k in ("channel", "utm_campaign", "budget", "currency", "type")} == {
        "channel": "paid_search",
        "utm_campaign": "spring",
        "budget": "1500.50",
        "currency": "RUB",
        "type": "expert",
    }
    assert marketer.post("/campaigns", {"name": "Dup", "utm_campaign": "SPRING"}).status_code == 409
    assert fields(
        marketer.post("/campaigns", {"name": "X", "ends_on": "2026-01-01", "starts_on": "2026-02-01"})
    ) == {"body.ends_on": "Ends before it starts"}
    assert fields(marketer.post("/campaigns", {"name": "X", "kind": 1})) == {"body.kind": "Unknown field"}
    marketer.post("/campaigns", {"name": "Autumn", "channel": "email"})

    r = marketer.patch(f"/campaigns/{spring['id']}", {"channel": None, "budget": None, "sales_script": "New"})
    assert (r.json()["channel"], r.json()["budget"], r.json()["sales_script"]) == (None, None, "New")

    sales = api_as("sales")
    listed = sales.get("/campaigns").json()
    assert [c["name"] for c in listed["items"]] == ["Autumn", "Spring sale"]
    assert sales.get(f"/campaigns/{spring['id']}").json()["sales_script"] == "New"
    assert [c["name"] for c in sales.get("/campaigns", {"q": "spr"}).json()["items"]] == ["Spring sale"]
    assert [c["name"] for c in sales.get("/campaigns", {"channel": "email"}).json()["items"]] == ["Autumn"]
    page = sales.get("/campaigns", {"limit": 1}).json()
    assert len(page["items"]) == 1 and page["next"]
    assert sales.get("/campaigns", {"cursor": page["next"]}).json()["items"][0]["name"] == "Spring sale"
    assert sales.post("/campaigns", {"name": "Mine"}).status_code == 403
    assert sales.patch(f"/campaigns/{spring['id']}", {"name": "Mine"}).status_code == 403
    assert api_as("guest").get("/campaigns").status_code == 200
    assert marketer.get("/campaigns/999999").status_code == 404


def test_spend(marketer, api_as) -> None:  # type: ignore[no-untyped-def]
    campaign = marketer.post(
        "/campaigns", {"name": "Spring", "utm_campaign": "spring", "channel": "paid_search"}
    ).json()
    body = {"date": "2026-03-01", "campaign": "spring", "amount": "100.00"}
    r = marketer.post("/spend", body)
    assert r.status_code == 201, r.json()
    first = r.json()
    assert (first["channel"], first["campaign"], first["amount"], first["source"]) == (
        "paid_search",
        {"id": campaign["id"], "name": "Spring"},
        "100.00",
        "api",
    )
    again = marketer.post("/spend", body)
    assert (again.status_code, again.json()["id"]) == (200, first["id"])
    changed = marketer.post("/spend", {**body, "amount": 120})
    assert (changed.status_code, changed.json()["amount"]) == (200, "120.00")
    assert Spend.objects.count() == 1
    marketer.post("/spend", {"date": "2026-03-05", "channel": "email", "amount": 5.5, "currency": "eur"})
    marketer.post("/spend", {"date": "2026-04-05", "channel": "email", "amount": 1})

    assert set(fields(marketer.post("/spend", {"date": "x", "channel": "nope", "amount": "-1"}))) == {
        "body.date",
        "body.channel",
        "body.amount",
    }
    assert fields(marketer.post("/spend", {"channel": "email"})) == {
        "body.date": "This field is required",
        "body.amount": "This field is required",
    }

    march = marketer.get("/spend", {"from": "2026-03-01", "to": "2026-03-31"}).json()
    assert [(s["date"], s["channel"], s["amount"], s["currency"]) for s in march["items"]] == [
        ("2026-03-05", "email", "5.50", "EUR"),
        ("2026-03-01", "paid_search", "120.00", "RUB"),
    ]
    assert [s["date"] for s in marketer.get("/spend", {"channel": "email"}).json()["items"]] == [
        "2026-04-05",
        "2026-03-05",
    ]
    assert [s["date"] for s in marketer.get("/spend", {"campaign": campaign["id"]}).json()["items"]] == [
        "2026-03-01"
    ]
    assert fields(marketer.get("/spend", {"from": "2026-04-01", "to": "2026-03-01"})) == {
        "query.to": "The period ends before it starts"
    }
    assert "query.from" in fields(marketer.get("/spend", {"from": "yesterday"}))

    totals = marketer.get("/spend/totals", {"by": "channel", "from": "2026-03-01", "to": "2026-03-31"}).json()
    assert totals == {
        "by": "channel",
        "from": "2026-03-01",
        "to": "2026-03-31",
        "rows": [
            {"key": "paid_search", "name": "Paid search", "currency": "RUB", "amount": "120.00"},
            {"key": "email", "name": "Email", "currency": "EUR", "amount": "5.50"},
        ],
    }
    by_day = marketer.get("/spend/totals", {"by": "day", "channel": "email"}).json()["rows"]
    assert [r["key"] for r in by_day] == ["2026-03-05", "2026-04-05"]

    sales = api_as("sales")
    assert sales.get("/spend").status_code == 403
    assert sales.post("/spend", body).status_code == 403
    assert api_as("sales_head").get("/spend").status_code == 200
    assert Campaign.objects.count() == 1


MARKETING_OPERATIONS = {
    ("get", "/api/v1/channels"),
    ("post", "/api/v1/channels"),
    ("get", "/api/v1/channels/{channel_id}"),
    ("patch", "/api/v1/channels/{channel_id}"),
    ("delete", "/api/v1/channels/{channel_id}"),
    ("get", "/api/v1/channel-rules"),
    ("post", "/api/v1/channel-rules"),
    ("get", "/api/v1/channel-rules/{rule_id}"),
    ("patch", "/api/v1/channel-rules/{rule_id}"),
    ("delete", "/api/v1/channel-rules/{rule_id}"),
    ("post", "/api/v1/channel-rules/{rule_id}/move"),
    ("get", "/api/v1/campaigns"),
    ("post", "/api/v1/campaigns"),
    ("get", "/api/v1/campaigns/{campaign_id}"),
    ("patch", "/api/v1/campaigns/{campaign_id}"),
    ("get", "/api/v1/spend"),
    ("post", "/api/v1/spend"),
    ("get", "/api/v1/spend/totals"),
}


def test_openapi_declares_the_marketing_routes_and_their_errors(client) -> None:  # type: ignore[no-untyped-def]
    doc = client.get("/api/v1/openapi.json").json()
    ours = {
        (method, path)
        for path, item in doc["paths"].items()
        for method in item
        if path.startswith(("/api/v1/channel", "/api/v1/campaigns", "/api/v1/spend"))
    }
    assert ours == MARKETING_OPERATIONS
    anonymous = Api(None)
    for method, path in ours:
        op = doc["paths"][path][method]
        codes = set(op["responses"])
        assert {"400", "401", "403", "422"} <= codes and "500" not in codes, (method, path)
        if method in {"post", "patch"}:
            assert "413" in codes, (method, path)
        if "{" in path:
            assert "404" in codes, (method, path)
        url = path.replace("{channel_id}", "1").replace("{rule_id}", "1").replace("{campaign_id}", "1")
        response = getattr(anonymous, method)(url)
        assert response.status_code == 401, (method, path)
