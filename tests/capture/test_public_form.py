"""POST /capture/form: JSON and HTML form posts, honeypot, idempotency, CORS, bad input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from leadbridge.capture.http import counters
from leadbridge.capture.models import Inquiry, Site
from leadbridge.capture.services import site_cache_forget
from leadbridge.contacts.models import Contact, DataQualityItem
from tests.capture.public_support import BROWSER_UA, ORIGIN, post_json, public_settings  # noqa: F401

URL = "/capture/form"
LANDING = "https://shop.example/offer?utm_source=google&utm_medium=cpc&utm_campaign=spring&gclid=TeSt123"


def form(site: Site, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "site_key": site.key,
        "page_url": LANDING,
        "referrer": "https://www.google.com/",
        "visitor_id": "v-form-0001",
        "idempotency_key": "idem-1",
        "fields": {
            "name": "Anna Petrova",
            "email": "Anna@Example.com",
            "phone": "+7 999 123-45-67",
            "message": "Call me",
        },
    }
    payload.update(extra)
    return payload


def html_post(client: Client, data: dict[str, Any], *, origin: str | None = ORIGIN, **headers: str) -> Any:
    if origin is not None:
        headers.setdefault("Origin", origin)
    headers.setdefault("User-Agent", BROWSER_UA)
    headers.setdefault("Accept", "text/html,application/xhtml+xml")
    return client.post(URL, data=data, headers=headers)


def test_json_form_creates_an_inquiry_with_its_source(client: Client, site: Site) -> None:
    response = post_json(client, URL, form(site))
    assert response.status_code == 201, response.content
    assert response.json() == {"ok": True, "created": True}
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    inquiry = Inquiry.objects.select_related("contact", "touch__channel", "touch__campaign").get()
    assert inquiry.kind == "form"
    assert inquiry.site_id == site.pk
    assert inquiry.contact.email == "anna@example.com"
    assert inquiry.message == "Call me"
    assert inquiry.touch.channel.key == "paid_search"
    assert inquiry.touch.campaign is not None and inquiry.touch.campaign.utm_campaign == "spring"
    assert inquiry.touch.click_ids == {"gclid": "TeSt123"}


def test_replayed_idempotency_key_is_one_inquiry(client: Client, site: Site) -> None:
    first = post_json(client, URL, form(site))
    again = post_json(client, URL, form(site))
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json() == {"ok": True, "created": False}
    assert Inquiry.objects.count() == 1


def test_idempotency_key_header(client: Client, site: Site) -> None:
    payload = form(site, idempotency_key="")
    post_json(client, URL, payload, **{"Idempotency-Key": "hdr-1"})
    post_json(client, URL, payload, **{"Idempotency-Key": "hdr-1"})
    assert Inquiry.objects.get().idempotency_key == "hdr-1"


def test_html_form_post_shows_a_thank_you_page(client: Client, site: Site) -> None:
    data = {
        "site_key": site.key,
        "name": "Boris",
        "email": "boris@example.com",
        "message": "Price?",
        "budget": "100k",
        "utm_source": "newsletter",
        "utm_medium": "email",
        "utm_campaign": "march",
        "yclid": "YcL-9",
        "csrfmiddlewaretoken": "whatever",
        "lb_hp": "",
    }
    response = html_post(client, data, Referer="https://shop.example/contact")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"Thank you" in response.content
    inquiry = Inquiry.objects.select_related("touch__channel").get()
    assert inquiry.contact.email == "boris@example.com"
    assert inquiry.fields == {"budget": "100k"}
    assert inquiry.touch.landing_page.startswith("https://shop.example/contact")
    assert inquiry.touch.source == "newsletter"
    assert inquiry.touch.channel.key == "email"
    assert inquiry.touch.click_ids == {"yclid": "YcL-9"}


def test_html_post_redirects_only_to_the_sites_own_origin(client: Client, site: Site) -> None:
    data = {"site_key": site.key, "email": "c@example.com", "redirect": "https://shop.example/thanks"}
    response = html_post(client, data)
    assert response.status_code == 303
    assert response["Location"] == "https://shop.example/thanks"
    data = {"site_key": site.key, "email": "d@example.com", "redirect": "https://evil.example/phish"}
    response = html_post(client, data)
    assert response.status_code == 200  # the thank-you page: no open redirect
    assert Inquiry.objects.count() == 2


@pytest.mark.parametrize("where", ["top", "fields"])
def test_honeypot_answers_ok_and_stores_nothing(client: Client, site: Site, where: str) -> None:
    payload = form(site)
    if where == "top":
        payload["lb_hp"] = "http://spam.example"
    else:
        payload["fields"]["lb_hp"] = "I am a robot"
    response = post_json(client, URL, payload)
    assert response.status_code == 201
    assert response.json()["ok"] is True
    assert Inquiry.objects.count() == 0
    assert Contact.objects.count() == 0
    assert counters(site.pk)["honeypot"] == 1


def test_honeypot_in_an_html_post(client: Client, site: Site) -> None:
    response = html_post(client, {"site_key": site.key, "email": "bot@example.com", "lb_hp": "x"})
    assert response.status_code == 200
    assert b"Thank you" in response.content
    assert not Inquiry.objects.exists()


def test_invalid_contact_data_is_422_and_kept(client: Client, site: Site) -> None:
    payload = form(site)
    payload["fields"]["email"] = "not-an-email"
    response = post_json(client, URL, payload)
    assert response.status_code == 422
    body = response.json()
    assert [e["field"] for e in body["errors"]] == ["email"]
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert not Inquiry.objects.exists()
    assert DataQualityItem.objects.filter(reason="invalid").count() == 1


def test_invalid_data_in_an_html_post_lists_the_problems(client: Client, site: Site) -> None:
    response = html_post(
        client, {"site_key": site.key, "email": "broken@@", "name": "X"}, Referer="https://shop.example/c"
    )
    assert response.status_code == 422
    assert response["Content-Type"].startswith("text/html")
    assert b"email" in response.content
    assert b'href="https://shop.example/c"' in response.content


@pytest.mark.parametrize(
    "body",
    [
        '{"site_key": "%s", "fields": {"email": "anna@exa',  # truncated
        '{"site_key": "%s", "fields": {"email": "a@b.c",}}',  # trailing comma
        '{"site_key": "%s" "fields": {}}',
    ],
)
def test_malformed_json_with_a_valid_key_goes_to_the_quality_queue(
    client: Client, site: Site, body: str
) -> None:
    response = post_json(client, URL, body % site.key)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("Malformed JSON at line 1 column")
    item = DataQualityItem.objects.get()
    assert item.reason == "malformed"
    assert item.source == "capture:form"
    assert item.raw["body"] == body % site.key
    assert item.raw["site_key"] == site.key
    assert counters(site.pk)["malformed"] == 0  # counted before the site is known
    assert counters(None)["malformed"] == 1


def test_truncated_json_names_the_truncation(client: Client, site: Site) -> None:
    response = post_json(client, URL, '{"site_key": "' + site.key + '", "fields": {')
    assert "truncated" in response.json()["detail"]


def test_malformed_json_keeps_only_the_start_of_a_big_body(client: Client, site: Site) -> None:
    body = '{"site_key": "' + site.key + '", "fields": {"message": "' + "x" * 40_000
    response = post_json(client, URL, body)
    assert response.status_code == 400
    raw = DataQualityItem.objects.get().raw
    assert raw["truncated"] is True
    assert len(raw["body"]) == 16 * 1024


def test_malformed_json_with_an_unknown_key_is_not_kept(client: Client, site: Site) -> None:
    response = post_json(client, URL, '{"site_key": "NoSuchKey12345678", "fields": {')
    assert response.status_code == 400
    assert not DataQualityItem.objects.exists()


def test_missing_fields_is_400_and_kept(client: Client, site: Site) -> None:
    response = post_json(client, URL, {"site_key": site.key, "page_url": LANDING})
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "fields", "message": "Required: an object"}]
    assert DataQualityItem.objects.get().reason == "malformed"


def test_unknown_and_inactive_site_keys_are_404(client: Client, site: Site) -> None:
    assert post_json(client, URL, form(site, site_key="NoSuchKey12345678")).status_code == 404
    assert post_json(client, URL, form(site, site_key="")).status_code == 400
    Site.objects.filter(pk=site.pk).update(is_active=False)
    site_cache_forget()
    assert post_json(client, URL, form(site)).status_code == 404
    assert not Inquiry.objects.exists()


def test_disallowed_origin_is_403_without_cors_headers(client: Client, site: Site) -> None:
    response = post_json(client, URL, form(site), origin="https://evil.example")
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response
    assert not Inquiry.objects.exists()
    assert counters(site.pk)["origin_denied"] == 1


def test_origin_null_is_refused(client: Client, site: Site) -> None:
    assert post_json(client, URL, form(site), origin="null").status_code == 403


def test_referer_stands_in_for_a_missing_origin(client: Client, site: Site) -> None:
    bad = post_json(client, URL, form(site), origin=None, Referer="https://evil.example/page")
    assert bad.status_code == 403
    good = post_json(client, URL, form(site), origin=None, Referer="https://shop.example/page")
    assert good.status_code == 201


def test_server_to_server_post_without_origin_is_allowed(client: Client, site: Site) -> None:
    assert post_json(client, URL, form(site), origin=None).status_code == 201


def test_allowed_origin_matches_whatever_the_case_and_default_port(client: Client, site: Site) -> None:
    assert post_json(client, URL, form(site), origin="HTTPS://Shop.Example:443").status_code == 201


def test_preflight(client: Client, site: Site) -> None:
    response = client.options(
        URL,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in response["Access-Control-Allow-Methods"]
    assert "Content-Type" in response["Access-Control-Allow-Headers"]
    assert int(response["Access-Control-Max-Age"]) > 0
    checked = client.options(f"{URL}?site_key={site.key}", headers={"Origin": "https://evil.example"})
    assert checked.status_code == 403
    assert "Access-Control-Allow-Origin" not in checked


def test_wrong_content_type_is_415(client: Client, site: Site) -> None:
    response = post_json(client, URL, "<xml/>", content_type="application/xml")
    assert response.status_code == 415
    assert "content type" in response.json()["detail"]


def test_get_is_405(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 405
    assert response["Allow"] == "POST, OPTIONS"


def test_oversized_body_is_413(client: Client, site: Site) -> None:
    payload = form(site)
    payload["fields"]["message"] = "x" * (70 * 1024)
    response = post_json(client, URL, payload)
    assert response.status_code == 413
    assert not Inquiry.objects.exists()


def test_bots_are_answered_but_not_stored(client: Client, site: Site) -> None:
    ua = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    response = post_json(client, URL, form(site), **{"User-Agent": ua})
    assert response.status_code == 201
    assert not Inquiry.objects.exists()
    assert counters(site.pk)["bot"] == 1


def test_headless_chrome_is_a_person(client: Client, site: Site) -> None:
    ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/130.0 Safari/537.36"
    assert post_json(client, URL, form(site), **{"User-Agent": ua}).status_code == 201
    assert Inquiry.objects.count() == 1


def test_huge_utm_values_are_cut_not_refused(client: Client, site: Site) -> None:
    response = post_json(client, URL, form(site, page_url="https://shop.example/?utm_source=" + "g" * 1500))
    assert response.status_code == 201
    assert len(Inquiry.objects.get().touch.source) == 255


@pytest.mark.parametrize(
    "payload",
    [
        [],
        "a string",
        123,
        None,
        {"site_key": 123},
        {"site_key": ["x"]},
        {"site_key": "KEY", "fields": []},
        {"site_key": "KEY", "fields": "name=x"},
        {"site_key": "KEY", "fields": {"email": ["a@b.c", "d@e.f"]}},
        {"site_key": "KEY", "fields": {"email": {"x": 1}}},
        {"site_key": "KEY", "fields": {"name": "x" * 10_000}},
        {"site_key": "KEY", "fields": {"name": "A\x00B", "email": "a\x00@b.c"}},
        {"site_key": "KEY", "fields": {"name": "Ann"}, "page_url": {"x": 1}},
        {"site_key": "KEY", "fields": {"name": "Ann"}, "visitor_id": ["v"]},
        {"site_key": "KEY", "fields": {"name": "Ann"}, "visitor_id": "x" * 500},
        {"site_key": "KEY", "fields": {"name": "Ann"}, "utm": "google"},
        {"site_key": "KEY", "fields": {"name": "Ann"}, "utm": {"source": {"deep": 1}}},
        {"site_key": "KEY", "fields": {"name": "Ann"}, "click_ids": {"gclid": 5}},
        {"site_key": "KEY", "fields": {"name": "Ann"}, "idempotency_key": "k" * 500},
        {"site_key": "KEY", "fields": {"name": "Ann"}, "referrer": "javascript:alert(1)"},
        {"site_key": "KEY", "fields": {"phone": "not a phone"}},
        {"site_key": "KEY", "fields": {"message": "only a message"}},
    ],
)
def test_bad_input_never_500(client: Client, site: Site, payload: Any) -> None:
    body = json.dumps(payload).replace('"KEY"', json.dumps(site.key))
    response = post_json(client, URL, body)
    assert 200 <= response.status_code < 500, response.content
    assert response["Content-Type"] == "application/json"


def test_invalid_utf8_is_400(client: Client, site: Site) -> None:
    response = post_json(
        client, URL, b'{"site_key": "' + site.key.encode() + b'", "fields": {"name": "\xff\xfe"}}'
    )
    assert response.status_code == 400
    assert "UTF-8" in response.json()["detail"]
    assert DataQualityItem.objects.filter(reason="malformed").count() == 1


def test_text_plain_json_is_accepted(client: Client, site: Site) -> None:
    # A page's fetch() with text/plain avoids the preflight; the body is still JSON.
    assert post_json(client, URL, form(site), content_type="text/plain").status_code == 201


@pytest.mark.parametrize(
    ("fields", "status"),
    [
        ('{"name": "Ann", "email": "ann@example.com", "budget": NaN}', 400),
        ('{"name": "Ann", "email": "ann@example.com", "budget": 1e400}', 400),
        ('{"name": "Ann", "email": "ann@example.com", "budget": %s}' % ("9" * 5000), 400),
        ('{"name": "Ann", "email": "ann@example.com", "deep": %s}' % ("[" * 30_000 + "]" * 30_000), 400),
        ('{"name": "A\\u0000nn", "email": "ann@example.com", "x\\u0000": "\\u0000"}', 201),
        ('{"name": "Ann \\ud800", "email": "ann@example.com", "note": "\\udfff"}', 201),
    ],
)
def test_json_values_no_database_takes(client: Client, site: Site, fields: str, status: int) -> None:
    body = '{"site_key": "' + site.key + '", "fields": ' + fields + "}"
    response = post_json(client, URL, body)
    assert response.status_code == status, response.content
    if status == 400:
        assert DataQualityItem.objects.get().reason == "malformed"
    else:
        assert "\x00" not in Inquiry.objects.get().contact.name


def test_nul_bytes_in_a_malformed_body_are_kept_readably(client: Client, site: Site) -> None:
    body = b'{"site_key": "' + site.key.encode() + b'", "fields": {"name": "\x00'
    assert post_json(client, URL, body).status_code == 400
    assert "\x00" not in DataQualityItem.objects.get().raw["body"]


def test_nul_in_an_html_post(client: Client, site: Site) -> None:
    response = html_post(
        client, {"site_key": site.key, "name": "Z\x00oe", "email": "zoe@example.com", "note\x00": "a\x00"}
    )
    assert response.status_code == 200
    assert Inquiry.objects.get().contact.name == "Zoe"


def test_thank_you_page_speaks_the_visitors_language(client: Client, site: Site) -> None:
    response = html_post(
        client, {"site_key": site.key, "email": "ru@example.com"}, **{"Accept-Language": "ru"}
    )
    assert "Спасибо!" in response.content.decode()


def test_an_overlong_idempotency_key_is_refused_not_cut(client: Client, site: Site) -> None:
    response = post_json(client, URL, form(site, idempotency_key="k" * 129))
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["idempotency_key"]


def test_a_form_post_asking_for_json_gets_json(client: Client, site: Site) -> None:
    response = html_post(client, {"site_key": site.key, "email": "fd@example.com"}, Accept="application/json")
    assert response.status_code == 201
    assert response.json() == {"ok": True, "created": True}
    assert response["Access-Control-Allow-Origin"] == ORIGIN
