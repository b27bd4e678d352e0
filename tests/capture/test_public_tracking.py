"""POST /t/events, GET /t/p.gif and GET /t/lb.js."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from leadbridge.capture.http import counters
from leadbridge.capture.models import EventKind, Site, TrackingEvent, Visitor
from leadbridge.contacts.models import Contact, DataQualityItem
from tests.capture.public_support import BROWSER_UA, ORIGIN, post_json, public_settings  # noqa: F401

EVENTS = "/t/events"
PIXEL = "/t/p.gif"
VID = "0123456789abcdef0123456789abcdef"


def batch(site: Site, hits: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "site_key": site.key,
        "visitor_id": VID,
        "hits": hits
        if hits is not None
        else [
            {
                "type": "pageview",
                "url": "https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=spring&gclid=TeSt123",
                "title": "Home",
                "referrer": "https://www.google.com/",
                "ts": 1,
            },
            {"type": "pageview", "url": "https://shop.example/pricing", "title": "Pricing"},
            {"type": "event", "name": "cart_add", "props": {"sku": "A-1", "price": 990}},
        ],
    }
    payload.update(extra)
    return payload


# --- events ----------------------------------------------------------------------------------------


def test_events_are_stored(client: Client, site: Site) -> None:
    response = post_json(client, EVENTS, batch(site))
    assert response.status_code == 200, response.content
    assert response.json() == {"ok": True, "stored": 3, "rejected": 0}
    assert response["Access-Control-Allow-Origin"] == ORIGIN
    visitor = Visitor.objects.get(site=site, uid=VID)
    events = list(TrackingEvent.objects.filter(visitor=visitor).order_by("id"))
    assert [e.kind for e in events] == [EventKind.PAGEVIEW, EventKind.PAGEVIEW, EventKind.EVENT]
    assert events[1].title == "Pricing"
    assert events[2].name == "cart_add"
    assert events[2].props == {"sku": "A-1", "price": 990}
    assert visitor.first_touch is not None
    assert visitor.first_touch.click_ids == {"gclid": "TeSt123"}


def test_send_beacon_text_plain_body(client: Client, site: Site) -> None:
    response = post_json(client, EVENTS, batch(site), content_type="text/plain;charset=UTF-8")
    assert response.status_code == 200
    assert TrackingEvent.objects.count() == 3


def test_identify_hit_links_earlier_page_views_to_the_contact(client: Client, site: Site) -> None:
    post_json(client, EVENTS, batch(site))
    identify = [{"type": "identify", "traits": {"email": "Vera@Example.com", "name": "Vera"}}]
    assert post_json(client, EVENTS, batch(site, identify)).json()["stored"] == 1
    contact = Contact.objects.get(email="vera@example.com")
    assert Visitor.objects.get(uid=VID).contact_id == contact.pk


def test_things_that_are_not_hits_are_skipped(client: Client, site: Site) -> None:
    hits = [
        {"type": "pageview", "url": "https://shop.example/"},
        "a string",
        None,
        {"type": "mystery"},
        {"type": "event"},  # an event without a name
        {"type": "identify", "traits": "x"},
        {"type": "pageview", "url": {"nested": True}, "title": ["x"], "ts": "yesterday", "props": "x" * 10},
    ]
    response = post_json(client, EVENTS, batch(site, hits))
    assert response.status_code == 200
    assert response.json() == {"ok": True, "stored": 2, "rejected": 5}


def test_an_empty_batch_is_fine(client: Client, site: Site) -> None:
    assert post_json(client, EVENTS, batch(site, [])).json() == {"ok": True, "stored": 0, "rejected": 0}


def test_more_than_100_hits_is_413(client: Client, site: Site) -> None:
    hits = [{"type": "event", "name": f"e{i}"} for i in range(101)]
    response = post_json(client, EVENTS, batch(site, hits))
    assert response.status_code == 413
    assert "at most 100" in response.json()["detail"]
    assert not TrackingEvent.objects.exists()


def test_body_over_64_kb_is_413(client: Client, site: Site) -> None:
    hits = [{"type": "pageview", "url": "https://shop.example/" + "x" * 1900} for _ in range(40)]
    response = post_json(client, EVENTS, batch(site, hits))
    assert response.status_code == 413


def test_malformed_json_with_a_valid_key_is_kept(client: Client, site: Site) -> None:
    body = json.dumps(batch(site))[:-30]
    response = post_json(client, EVENTS, body, content_type="text/plain")
    assert response.status_code == 400
    assert "Malformed JSON" in response.json()["detail"]
    item = DataQualityItem.objects.get()
    assert (item.reason, item.source, item.raw["body"]) == ("malformed", "capture:events", body)


@pytest.mark.parametrize(
    "payload", [[1, 2], "hits", {"site_key": "KEY", "visitor_id": VID, "hits": {"a": 1}}]
)
def test_wrong_shapes_are_400(client: Client, site: Site, payload: Any) -> None:
    body = json.dumps(payload).replace('"KEY"', json.dumps(site.key))
    assert post_json(client, EVENTS, body).status_code == 400


@pytest.mark.parametrize("vid", [None, "", "short", "x" * 65, "has space 123", "ü" * 10, 12345678, ["a"]])
def test_bad_visitor_id_is_400(client: Client, site: Site, vid: Any) -> None:
    response = post_json(client, EVENTS, batch(site, visitor_id=vid))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "visitor_id"


def test_unknown_key_404_and_foreign_origin_403(client: Client, site: Site) -> None:
    assert post_json(client, EVENTS, batch(site, site_key="NoSuchKey12345678")).status_code == 404
    response = post_json(client, EVENTS, batch(site), origin="https://evil.example")
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response
    assert not TrackingEvent.objects.exists()


def test_wrong_content_type_is_415(client: Client, site: Site) -> None:
    response = post_json(client, EVENTS, "site_key=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415


def test_preflight(client: Client) -> None:
    response = client.options(EVENTS, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"})
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == ORIGIN


def test_bot_hits_are_accepted_not_stored_and_counted(client: Client, site: Site) -> None:
    ua = "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)"
    response = post_json(client, EVENTS, batch(site), **{"User-Agent": ua})
    assert response.status_code == 202
    assert response.json() == {"ok": True, "stored": 0, "ignored": "bot"}
    assert not TrackingEvent.objects.exists()
    assert counters(site.pk)["bot"] == 1


def test_headless_chrome_hits_are_stored(client: Client, site: Site) -> None:
    ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/130.0.0.0 Safari/537.36"
    assert post_json(client, EVENTS, batch(site), **{"User-Agent": ua}).json()["stored"] == 3


def test_huge_values_are_cut(client: Client, site: Site) -> None:
    hits = [
        {"type": "pageview", "url": "https://shop.example/?utm_campaign=" + "c" * 3000, "title": "t" * 1000}
    ]
    response = post_json(client, EVENTS, batch(site, hits))
    assert response.status_code == 200
    event = TrackingEvent.objects.get()
    assert (len(event.url), len(event.title)) == (2000, 300)


# --- pixel ----------------------------------------------------------------------------------------


def assert_gif(response: Any, result: str) -> None:
    assert response.status_code == 200
    assert response["Content-Type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")
    assert len(response.content) < 100
    assert "no-store" in response["Cache-Control"]
    assert not response.cookies
    assert response["X-LeadBridge-Result"] == result


def test_pixel_records_a_hit(client: Client, site: Site) -> None:
    url = "https://shop.example/nojs?utm_source=vk&utm_medium=cpc"
    response = client.get(PIXEL, {"k": site.key, "v": VID, "u": url, "r": "https://vk.com/", "t": "No JS"})
    assert_gif(response, "stored")
    event = TrackingEvent.objects.get()
    assert (event.kind, event.url, event.title) == (EventKind.PIXEL, url, "No JS")
    assert Visitor.objects.get().uid == VID


def test_pixel_event_and_pseudonymous_visitor(client: Client, site: Site) -> None:
    for _ in range(2):
        response = client.get(
            PIXEL,
            {"k": site.key, "e": "email_open", "u": "newsletter-03"},
            headers={"User-Agent": BROWSER_UA},
        )
        assert_gif(response, "stored")
    events = TrackingEvent.objects.all()
    assert [(e.kind, e.name) for e in events] == [(EventKind.EVENT, "email_open")] * 2
    # Same address, browser and day: one visitor.
    assert Visitor.objects.count() == 1
    assert Visitor.objects.get().uid.startswith("px-")


@pytest.mark.parametrize(
    "params",
    [{}, {"k": "NoSuchKey12345678"}, {"k": "x"}, {"k": "a'; DROP TABLE x;--"}, {"k": "é" * 20}],
)
def test_pixel_is_a_gif_even_for_an_unknown_key(client: Client, params: dict[str, str]) -> None:
    assert_gif(client.get(PIXEL, params), "unknown_key")
    assert counters(None)["unknown_key"] == 1


def test_pixel_for_bots(client: Client, site: Site) -> None:
    response = client.get(PIXEL, {"k": site.key}, headers={"User-Agent": "facebookexternalhit/1.1"})
    assert_gif(response, "bot")
    assert not TrackingEvent.objects.exists()


def test_pixel_with_odd_values(client: Client, site: Site) -> None:
    params = {
        "k": site.key,
        "v": "\x00" * 10,
        "u": "x" * 5000,
        "r": "\ud800".encode("utf-8", "surrogatepass"),
        "e": "e" * 500,
    }
    assert_gif(client.get(PIXEL, params), "stored")
    event = TrackingEvent.objects.get()
    assert len(event.url) == 2000
    assert len(event.name) == 100


def test_pixel_answers_a_gif_when_storing_fails(
    client: Client, site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Not our database mocked: a stand-in for any failure (say, the database is down).
    from leadbridge.capture import services

    def broken(**kwargs: Any) -> int:
        raise RuntimeError("database unavailable")

    monkeypatch.setattr(services, "track_hits", broken)
    assert_gif(client.get(PIXEL, {"k": site.key}), "error")
    assert counters(site.pk)["pixel_error"] == 1


# --- the tracker ----------------------------------------------------------------------------------


def test_tracker_is_served_with_cache_headers(client: Client) -> None:
    response = client.get("/t/lb.js")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert "max-age=3600" in response["Cache-Control"]
    assert "public" in response["Cache-Control"]
    body = response.content.decode()
    for needle in ("_lb_vid", "sendBeacon", "utm_", "gclid", "identify", "/t/events", "pagehide"):
        assert needle in body
    assert len(response.content) < 16 * 1024
    again = client.get("/t/lb.js", headers={"If-None-Match": response["ETag"]})
    assert again.status_code == 304
    assert again["ETag"] == response["ETag"]


def test_tracker_is_also_a_static_file(client: Client) -> None:
    from django.contrib.staticfiles import finders

    assert finders.find("capture/lb.js")


def test_hits_with_values_no_database_takes(client: Client, site: Site) -> None:
    body = (
        (
            '{"site_key": "KEY", "visitor_id": "VID", "hits": [{"type": "event", "name": "n\\u0000", '
            '"url": "https://shop.example/\\ud800", "props": {"k\\u0000": "v\\u0000", "big": 12345678901234567890123}}]}'
        )
        .replace("KEY", site.key)
        .replace("VID", VID)
    )
    response = post_json(client, EVENTS, body)
    assert response.status_code == 200, response.content
    event = TrackingEvent.objects.get()
    assert event.name == "n"
    assert event.props["k"] == "v"
