"""The API as a whole: OpenAPI document, docs page without a CDN, auth on every route, error shape."""

from __future__ import annotations

import re

import pytest

from tests.api.conftest import Api, fields

pytestmark = pytest.mark.django_db

EXPECTED = {
    ("get", "/api/v1/contacts"),
    ("post", "/api/v1/contacts"),
    ("get", "/api/v1/contacts/{contact_id}"),
    ("patch", "/api/v1/contacts/{contact_id}"),
    ("delete", "/api/v1/contacts/{contact_id}"),
    ("get", "/api/v1/contacts/{contact_id}/timeline"),
    ("get", "/api/v1/contacts/{contact_id}/stage-history"),
    ("post", "/api/v1/contacts/{contact_id}/stage"),
    ("post", "/api/v1/contacts/{contact_id}/tags"),
    ("get", "/api/v1/contacts/{contact_id}/notes"),
    ("post", "/api/v1/contacts/{contact_id}/notes"),
    ("get", "/api/v1/notes/product-issues"),
    ("get", "/api/v1/companies"),
    ("post", "/api/v1/companies"),
    ("get", "/api/v1/companies/{company_id}"),
    ("patch", "/api/v1/companies/{company_id}"),
    ("get", "/api/v1/tags"),
    ("post", "/api/v1/tags"),
    ("delete", "/api/v1/tags/{tag_id}"),
    ("get", "/api/v1/custom-fields"),
    ("post", "/api/v1/custom-fields"),
    ("delete", "/api/v1/custom-fields/{field_id}"),
    ("get", "/api/v1/quality"),
    ("post", "/api/v1/quality/{item_id}/resolve"),
    ("post", "/api/v1/merges"),
    ("post", "/api/v1/merges/{merge_id}/undo"),
    # marketing
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
    # capture
    ("get", "/api/v1/inquiries"),
    ("post", "/api/v1/inquiries"),
    ("get", "/api/v1/inquiries/unclassified"),
    ("get", "/api/v1/inquiries/junk-share"),
    ("get", "/api/v1/inquiries/{inquiry_id}"),
    ("post", "/api/v1/inquiries/{inquiry_id}/classify"),
    ("post", "/api/v1/inquiries/{inquiry_id}/review"),
    ("post", "/api/v1/inquiries/{inquiry_id}/resolve"),
    ("post", "/api/v1/inquiries/{inquiry_id}/first-response"),
    ("get", "/api/v1/inquiry-classes"),
    ("post", "/api/v1/inquiry-classes"),
    ("patch", "/api/v1/inquiry-classes/{class_id}"),
    ("get", "/api/v1/sites"),
    ("post", "/api/v1/sites"),
    ("patch", "/api/v1/sites/{site_id}"),
    # segments
    ("get", "/api/v1/segments"),
    ("post", "/api/v1/segments"),
    ("post", "/api/v1/segments/preview"),
    ("get", "/api/v1/segments/{segment_id}"),
    ("patch", "/api/v1/segments/{segment_id}"),
    ("delete", "/api/v1/segments/{segment_id}"),
    ("get", "/api/v1/segments/{segment_id}/count"),
    ("get", "/api/v1/segments/{segment_id}/members"),
    # scoring
    ("get", "/api/v1/contacts/{contact_id}/score"),
    ("get", "/api/v1/scoring/rules"),
    ("post", "/api/v1/scoring/rules"),
    ("get", "/api/v1/scoring/rules/{rule_id}"),
    ("patch", "/api/v1/scoring/rules/{rule_id}"),
    ("delete", "/api/v1/scoring/rules/{rule_id}"),
    ("get", "/api/v1/scoring/settings"),
    ("patch", "/api/v1/scoring/settings"),
}


def operations(doc: dict) -> set[tuple[str, str]]:
    return {(method, path) for path, item in doc["paths"].items() for method in item}


def test_openapi_document_lists_every_route_with_its_error_codes(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.json()
    assert operations(doc) == EXPECTED
    assert doc["components"]["securitySchemes"]["TokenAuth"]["scheme"] == "bearer"
    for path, item in doc["paths"].items():
        for method, op in item.items():
            codes = set(op["responses"])
            assert {"401", "422"} <= codes, (method, path)
            assert not codes & {"500"}, (method, path)
            assert "400" in codes, (method, path)
            if "requestBody" in op or method in {"post", "patch"}:
                assert "413" in codes, (method, path)
            if "{" in path:
                assert "404" in codes, (method, path)
            assert op["responses"]["401"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorOut"
            }


def test_every_route_needs_a_token(client):
    doc = client.get("/api/v1/openapi.json").json()
    anonymous = Api(None)
    for method, path in operations(doc):
        url = re.sub(r"\{[a-z_]+\}", "1", path)
        response = (
            getattr(anonymous, method)(url, {"name": "x"})
            if method in {"post", "patch"}
            else (getattr(anonymous, method)(url))
        )
        assert response.status_code == 401, (method, path)
        assert fields(response) == {}


def test_docs_page_uses_bundled_assets_not_a_cdn(client):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and all(a.startswith("/static/") for a in assets), assets
    assert "cdn" not in html.lower()
    for asset in assets:
        assert client.get(asset).status_code == 200, asset


def test_unknown_paths_and_methods_answer_json(api):
    response = api.get("/contact")
    assert response.status_code == 404 and fields(response) == {}
    response = api.client.put("/api/v1/contacts", "{}", content_type="application/json")
    assert response.status_code == 405
    assert fields(response) == {} and "GET" in response["Allow"]


def test_body_over_one_megabyte_is_413_json_before_parsing(api):
    response = api.post("/tags", "x" * (1024 * 1024 + 10))
    assert response.status_code == 413
    assert set(fields(response)) == {"body"}
