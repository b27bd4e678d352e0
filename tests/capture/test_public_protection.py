"""Rate limits, client addresses, bot detection and origins of the public capture endpoints."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from leadbridge.capture.http import counters, is_bot, normalize_origin, origin_allowed
from leadbridge.capture.models import Inquiry, Site, TrackingEvent
from leadbridge.capture.services import site_create
from tests.capture.public_support import post_json, public_settings  # noqa: F401

VID = "visitor-protect-01"


def limits(settings: Any, **values: str) -> None:
    settings.LEADBRIDGE = {**settings.LEADBRIDGE, **values}


def hits(site: Site, n: int = 1) -> dict[str, Any]:
    return {
        "site_key": site.key,
        "visitor_id": VID,
        "hits": [{"type": "pageview", "url": f"https://shop.example/{i}"} for i in range(n)],
    }


def test_per_ip_limit_answers_429_json(client: Client, site: Site, settings: Any) -> None:
    limits(settings, CAPTURE_RATE_IP="3/m")
    codes = [post_json(client, "/t/events", hits(site)).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    response = post_json(client, "/t/events", hits(site))
    assert response["Content-Type"] == "application/json"
    assert "Too many requests from this address" in response.json()["detail"]
    assert TrackingEvent.objects.count() == 3
    assert counters(None)["rate_limited"] == 3
    # Another address has its own budget.
    other = post_json(client, "/t/events", hits(site), REMOTE_ADDR="203.0.113.9")
    assert other.status_code == 200


def test_the_ip_limit_covers_every_endpoint(client: Client, site: Site, settings: Any) -> None:
    limits(settings, CAPTURE_RATE_IP="2/m")
    post_json(client, "/t/events", hits(site))
    post_json(client, "/t/events", hits(site))
    form = {"site_key": site.key, "fields": {"email": "a@example.com"}}
    assert post_json(client, "/capture/form", form).status_code == 429
    webhook = {"kind": "call", "phone": "+79990001122", "site_key": site.key}
    assert post_json(client, "/capture/inquiry/generic", webhook, origin=None).status_code == 429
    assert not Inquiry.objects.exists()


def test_per_site_limit(client: Client, site: Site, settings: Any) -> None:
    limits(settings, CAPTURE_RATE_SITE="2/m")
    other_site = site_create(actor=None, name="Blog", origins=["https://blog.example"])
    codes = [
        post_json(client, "/t/events", hits(site), REMOTE_ADDR=f"198.51.100.{i}").status_code
        for i in range(4)
    ]
    assert codes == [200, 200, 429, 429]
    assert "this site key" in post_json(client, "/t/events", hits(site)).json()["detail"]
    assert counters(site.pk)["rate_limited"] == 3
    # Another site's budget is its own.
    other = post_json(client, "/t/events", hits(other_site), origin="https://blog.example")
    assert other.status_code == 200


def test_pixel_stays_a_gif_over_the_limit(client: Client, site: Site, settings: Any) -> None:
    limits(settings, CAPTURE_RATE_IP="1/m")
    first = client.get("/t/p.gif", {"k": site.key})
    second = client.get("/t/p.gif", {"k": site.key})
    assert (first.status_code, second.status_code) == (200, 200)
    assert second.content.startswith(b"GIF89a")
    assert second["X-LeadBridge-Result"] == "rate_limited"
    assert TrackingEvent.objects.count() == 1


def test_blank_rate_turns_the_limit_off(client: Client, site: Site, settings: Any) -> None:
    limits(settings, CAPTURE_RATE_IP="", CAPTURE_RATE_SITE="")
    assert all(post_json(client, "/t/events", hits(site)).status_code == 200 for _ in range(5))


def test_client_address_from_a_proxy_header(client: Client, site: Site, settings: Any) -> None:
    limits(settings, CAPTURE_RATE_IP="1/m", CAPTURE_IP_HEADER="X-Forwarded-For")
    one = {"X-Forwarded-For": "spoofed, 192.0.2.1"}
    two = {"X-Forwarded-For": "spoofed, 192.0.2.2"}
    assert post_json(client, "/t/events", hits(site), **one).status_code == 200
    assert post_json(client, "/t/events", hits(site), **two).status_code == 200
    assert post_json(client, "/t/events", hits(site), **one).status_code == 429


@pytest.mark.parametrize(
    "ua",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
        "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
        "Mozilla/5.0 (compatible; YandexMetrika/2.0)",
        "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
        "TelegramBot (like TwitterBot)",
        "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
        "Mozilla/5.0 (compatible; SemrushBot/7~bl)",
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2)",
        "Mozilla/5.0 (Linux; Android 11) Chrome-Lighthouse",
        "UptimeRobot/2.0",
        "Baiduspider+(+http://www.baidu.com/search/spider.htm)",
    ],
)
def test_known_crawlers_are_bots(ua: str) -> None:
    assert is_bot(ua)


@pytest.mark.parametrize(
    "ua",
    [
        "",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/130.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 13) AppleWebKit/537.36 (KHTML, like Gecko) YaBrowser/24.1 Mobile Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0",
    ],
)
def test_browsers_are_not_bots(ua: str) -> None:
    assert not is_bot(ua)


def test_the_bot_pattern_is_a_setting(settings: Any) -> None:
    limits(settings, CAPTURE_BOT_UA=r"MyMonitor|HeadlessChrome")
    assert is_bot("MyMonitor/1.0")
    assert is_bot("Mozilla/5.0 HeadlessChrome/130.0")
    assert not is_bot("Googlebot/2.1")  # the setting replaces the built-in list


@pytest.mark.parametrize(
    ("raw", "origin"),
    [
        ("https://Shop.Example", "https://shop.example"),
        ("https://shop.example:443/path?q=1", "https://shop.example"),
        ("http://shop.example:80", "http://shop.example"),
        ("http://localhost:8000", "http://localhost:8000"),
        ("http://[::1]:8000", "http://[::1]:8000"),
        ("null", ""),
        ("file:///etc/passwd", ""),
        ("https://shop.example:99999", ""),
        ("javascript:alert(1)", ""),
    ],
)
def test_origin_normalisation(raw: str, origin: str) -> None:
    assert normalize_origin(raw) == origin


def test_origin_rules() -> None:
    assert origin_allowed(["https://shop.example"], None)  # a server: no browser origin
    assert origin_allowed(["https://shop.example"], "https://shop.example")
    assert not origin_allowed(["https://shop.example"], "https://shop.example:8443")
    assert not origin_allowed(["https://shop.example"], "")
    assert not origin_allowed([], "https://shop.example")
    assert origin_allowed(["*"], "https://anything.example")
