"""/api/v1/scoring/rules CRUD, /scoring/settings, /contacts/{id}/score."""

from __future__ import annotations

from django.test import Client

from leadbridge.scoring.models import ScoringRule
from tests.factories import ContactFactory, TeamFactory
from tests.scoring.conftest import hit, run


def test_rules_crud(api_as) -> None:
    client = api_as("marketing")
    created = client.post(
        "/scoring/rules",
        {
            "name": "Pricing page",
            "kind": "behaviour",
            "source": "pageview",
            "condition": "path ~ '/pricing'",
            "points": 5,
            "cap_points": 25,
            "cap_days": 7,
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["condition"] == 'path ~ "/pricing"'
    assert (body["frequency"], body["cap_points"], body["is_active"]) == ("repeatable", 25, True)
    rule_id = body["id"]
    listed = client.get("/scoring/rules").json()
    assert [r["id"] for r in listed["items"]] == [rule_id] and listed["next"] is None
    patched = client.patch(f"/scoring/rules/{rule_id}", {"points": -2, "cap_points": None, "cap_days": None})
    assert patched.status_code == 200, patched.content
    assert (patched.json()["points"], patched.json()["cap_points"]) == (-2, None)
    assert client.get(f"/scoring/rules/{rule_id}").json()["points"] == -2
    assert client.delete(f"/scoring/rules/{rule_id}").status_code == 204
    assert client.get(f"/scoring/rules/{rule_id}").status_code == 404


def test_rule_errors_name_the_field_and_position(api_as) -> None:
    client = api_as("admin")
    bad = client.post(
        "/scoring/rules",
        {"name": "x", "kind": "behaviour", "source": "pageview", "condition": "url ~ /x", "points": 1},
    )
    assert bad.status_code == 422
    (error,) = bad.json()["errors"]
    assert error["field"] == "body.condition"
    assert error["position"] == 6
    assert (
        client.post("/scoring/rules", {"name": "x", "kind": "behaviour", "points": 1, "oops": 1}).status_code
        == 422
    )
    missing = client.post("/scoring/rules", {"name": "x", "kind": "fit", "points": 3})
    assert missing.status_code == 422
    assert missing.json()["errors"][0]["field"] == "body.condition"


def test_who_may_change_rules_and_settings(api_as) -> None:
    sales = api_as("sales")
    assert sales.get("/scoring/rules").status_code == 200
    denied = sales.post(
        "/scoring/rules", {"name": "x", "kind": "behaviour", "source": "pageview", "points": 1}
    )
    assert denied.status_code == 403
    assert sales.patch("/scoring/settings", {"hot_threshold": 90}).status_code == 403
    assert ScoringRule.objects.count() == 0


def test_settings(api_as) -> None:
    client = api_as("director")
    assert client.get("/scoring/settings").json()["hot_threshold"] == 60
    changed = client.patch(
        "/scoring/settings", {"warm_threshold": 20, "hot_threshold": 50, "decay_mode": "percent"}
    )
    assert changed.status_code == 200, changed.content
    assert (changed.json()["warm_threshold"], changed.json()["decay_mode"]) == (20, "percent")
    bad = client.patch("/scoring/settings", {"hot_threshold": 10})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "body.hot_threshold"


def test_contact_score_explains_and_respects_visibility(api_as, person) -> None:
    admin = api_as("admin")
    contact, v = person()
    rule_id = admin.post(
        "/scoring/rules", {"name": "Views", "kind": "behaviour", "source": "pageview", "points": 20}
    ).json()["id"]
    admin.post(
        "/scoring/rules",
        {"name": "Signup", "kind": "behaviour", "source": "event", "event_name": "signup", "points": 15},
    )
    hit(v)
    hit(v)
    hit(v, "event", name="signup")
    run()
    response = admin.get(f"/contacts/{contact.pk}/score")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["score"], body["band"], body["warm_threshold"]) == (55, "warm", 30)
    views = next(line for line in body["behaviour"] if line["rule"]["id"] == rule_id)
    assert (views["points"], views["entries"]) == (40, 2)
    assert [e["points"] for e in body["recent"]] == [15, 20, 20]
    assert body["recent"][0]["source_kind"] == "event"
    assert body["decay"] is None and body["fit"] == []
    # A sales manager sees only their own (and their team's) contacts.
    team = TeamFactory()
    sales = api_as("sales", team=team)
    assert sales.get(f"/contacts/{contact.pk}/score").status_code == 404
    own = ContactFactory(owner=sales.user)
    assert sales.get(f"/contacts/{own.pk}/score").json()["score"] == 0


SCORING_ROUTES = {
    ("get", "/api/v1/scoring/rules"),
    ("post", "/api/v1/scoring/rules"),
    ("get", "/api/v1/scoring/rules/{rule_id}"),
    ("patch", "/api/v1/scoring/rules/{rule_id}"),
    ("delete", "/api/v1/scoring/rules/{rule_id}"),
    ("get", "/api/v1/scoring/settings"),
    ("patch", "/api/v1/scoring/settings"),
    ("get", "/api/v1/contacts/{contact_id}/score"),
}


def test_openapi_lists_the_scoring_routes_with_their_error_codes(api) -> None:
    doc = api.client.get("/api/v1/openapi.json").json()
    found = {
        (m, p) for p, item in doc["paths"].items() for m in item if "scoring" in p or p.endswith("/score")
    }
    assert found == SCORING_ROUTES
    for method, path in found:
        codes = set(doc["paths"][path][method]["responses"])
        assert {"400", "401", "422"} <= codes and "500" not in codes, (method, path)
        if method in {"post", "patch"}:
            assert "413" in codes, (method, path)
        if "{" in path:
            assert "404" in codes, (method, path)
        url = path.replace("{rule_id}", "1").replace("{contact_id}", "1")
        assert Client().generic(method.upper(), url).status_code == 401, (method, path)
