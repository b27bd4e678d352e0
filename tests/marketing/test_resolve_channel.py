"""resolve_channel with the default rules: one table row per case people actually meet."""

from __future__ import annotations

import pytest

from leadbridge.marketing.models import Channel
from leadbridge.marketing.services import resolve_channel
from leadbridge.marketing.setup import DEFAULT_RULES, ensure_defaults

LANDING = "https://shop.example.ru/offer"

CASES = [
    # (id, utm, referrer, click_ids, expected channel)
    (
        "google-cpc-gclid",
        {"source": "google", "medium": "cpc"},
        "https://www.google.com/",
        {"gclid": "EAIaIQobChMI"},
        "paid_search",
    ),
    ("gclid-only", {}, "https://www.google.com/", {"gclid": "Cj0KCQ"}, "paid_search"),
    ("google-organic", {}, "https://www.google.com/", {}, "organic_search"),
    ("google-country-tld", {}, "https://www.google.co.uk/search?q=x", {}, "organic_search"),
    ("yandex-yclid", {}, "https://yandex.ru/", {"yclid": "7312345678901234567"}, "paid_search"),
    ("yandex-organic", {}, "https://yandex.ru/search/?text=beach", {}, "organic_search"),
    ("bing-msclkid", {}, "https://www.bing.com/", {"msclkid": "a1B2c3"}, "paid_search"),
    ("bing-organic", {}, "https://www.bing.com/search?q=a", {}, "organic_search"),
    ("vk-cpc", {"source": "vk", "medium": "cpc"}, "", {}, "paid_social"),
    (
        "facebook-cpc-fbclid",
        {"source": "facebook", "medium": "cpc"},
        "https://l.facebook.com/",
        {"fbclid": "IwAR"},
        "paid_social",
    ),
    ("facebook-referrer", {}, "https://m.facebook.com/", {}, "social"),
    ("fbclid-only", {}, "https://l.facebook.com/l.php", {"fbclid": "IwAR0x"}, "social"),
    ("instagram-referrer", {}, "https://l.instagram.com/", {}, "social"),
    ("vk-referrer", {}, "https://vk.com/wall-1_2", {}, "social"),
    ("telegram-referrer", {}, "https://t.me/somechannel/15", {}, "social"),
    ("mail-ru-webmail", {}, "https://e.mail.ru/inbox/", {}, "email"),
    ("gmail", {}, "https://mail.google.com/mail/u/0/", {}, "email"),
    ("yandex-mail", {}, "https://mail.yandex.ru/", {}, "email"),
    ("outlook", {}, "https://outlook.live.com/mail/0/", {}, "email"),
    ("utm-email", {"source": "newsletter", "medium": "email"}, "", {}, "email"),
    ("utm-email-upper", {"source": "Newsletter", "medium": "EMAIL"}, "", {}, "email"),
    ("utm-display", {"source": "yandex", "medium": "cpm"}, "", {}, "display"),
    ("utm-social-medium", {"source": "vk", "medium": "smm"}, "", {}, "social"),
    ("utm-vk-source-only", {"source": "vk"}, "", {}, "social"),
    ("utm-offline", {"source": "flyer", "medium": "print"}, "", {}, "offline"),
    ("utm-organic", {"source": "google", "medium": "organic"}, "", {}, "organic_search"),
    ("whatsapp", {}, "https://wa.me/79991234567", {}, "messenger"),
    ("other-site", {}, "https://blog.partner-site.org/review", {}, "referral"),
    ("own-site-referrer", {}, "https://shop.example.ru/catalog", {}, "direct"),
    ("nothing", {}, "", {}, "direct"),
    ("unknown-utm", {"source": "partner42"}, "", {}, "unknown"),
    ("utm-prefixed-keys", {"utm_source": "google", "utm_medium": "cpc"}, "", {}, "paid_search"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("utm", "referrer", "click_ids", "expected"),
    [pytest.param(u, r, c, e, id=i) for i, u, r, c, e in CASES],
)
def test_default_rules(defaults, utm, referrer, click_ids, expected) -> None:  # type: ignore[no-untyped-def]
    channel = resolve_channel(utm=utm, referrer=referrer, click_ids=click_ids, landing_page=LANDING)
    assert channel.key == expected


@pytest.mark.django_db
def test_returns_saved_channels(defaults) -> None:  # type: ignore[no-untyped-def]
    channel = resolve_channel(utm={"source": "google", "medium": "cpc"}, referrer="", click_ids={})
    assert Channel.objects.get(pk=channel.pk).key == "paid_search"


@pytest.mark.django_db
def test_no_query_while_cached(defaults, django_assert_num_queries) -> None:  # type: ignore[no-untyped-def]
    resolve_channel(utm={}, referrer="https://www.google.com/", click_ids={})
    with django_assert_num_queries(0):
        for _ in range(100):
            resolve_channel(utm={"source": "vk", "medium": "cpc"}, referrer="", click_ids={"gclid": "x"})


@pytest.mark.django_db
def test_hostile_values_do_not_break_resolution(defaults) -> None:  # type: ignore[no-untyped-def]
    huge = "x" * 1_000_000
    assert resolve_channel(utm={"source": huge, "medium": huge}, referrer=huge, click_ids={huge: huge}).key
    assert resolve_channel(utm={}, referrer="http://[::1", click_ids={}).key == "direct"
    assert resolve_channel(utm={}, referrer="not a url at all", click_ids={}).key in {"referral", "unknown"}
    assert resolve_channel(utm={}, referrer="", click_ids={"gclid": ""}).key == "direct"


@pytest.mark.django_db
def test_bare_database_still_answers() -> None:
    # No ensure_defaults: the two fallback channels are created on demand.
    assert resolve_channel(utm={}, referrer="", click_ids={}).key == "direct"
    assert resolve_channel(utm={"source": "x"}, referrer="", click_ids={}).key == "unknown"


@pytest.mark.django_db
def test_ensure_defaults_is_idempotent() -> None:
    first = ensure_defaults()
    assert first["rules"] == len(DEFAULT_RULES)
    assert len(first["channels"]) == 11
    assert ensure_defaults() == {"channels": [], "rules": 0}
