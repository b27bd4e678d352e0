"""Marketing's feed of inquiries, junk share (feed and campaign page) and the contact card's
"Sources and visits" block, through Django's test client."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from leadbridge.capture.models import Inquiry, Site
from leadbridge.capture.services import (
    identify,
    inquiry_capture,
    inquiry_classify,
    site_cache_forget,
    track_hits,
)
from leadbridge.capture.setup import ensure_defaults as capture_defaults
from leadbridge.core import clock
from leadbridge.marketing import rules
from leadbridge.marketing.models import Campaign
from leadbridge.marketing.setup import ensure_defaults as marketing_defaults
from tests.factories import user

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def defaults(db: None) -> Iterator[None]:
    rules.clear_cache()
    site_cache_forget()
    marketing_defaults()
    capture_defaults()
    yield
    rules.clear_cache()
    site_cache_forget()


def capture(email: str, page_url: str = "https://shop.example/", **kwargs: Any) -> Inquiry:
    inquiry, _ = inquiry_capture(
        kind=kwargs.pop("kind", "form"),
        fields={"name": email.split("@")[0], "email": email},
        page_url=page_url,
        **kwargs,
    )
    return inquiry


def ids_in(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-inquiry-id="(\d+)"', html)]


GOOGLE = "https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=spring"
VK = "https://shop.example/?utm_source=vk&utm_medium=social&utm_campaign=autumn"


@pytest.fixture
def feed_data() -> dict[str, Any]:
    anna = user("sales", username="anna")
    now = clock.now()
    rows = {
        "g1": capture("g1@example.com", GOOGLE, occurred_at=now - dt.timedelta(days=40)),
        "g2": capture("g2@example.com", GOOGLE, occurred_at=now - dt.timedelta(days=2)),
        "g3": capture("g3@example.com", GOOGLE, occurred_at=now - dt.timedelta(days=1)),
        "v1": capture("v1@example.com", VK, kind="call", occurred_at=now - dt.timedelta(hours=5)),
        "d1": capture("d1@example.com", occurred_at=now - dt.timedelta(hours=1)),
    }
    inquiry_classify(actor=anna, inquiry_id=rows["g1"].pk, class_key="spam")
    inquiry_classify(actor=anna, inquiry_id=rows["g2"].pk, class_key="spam")
    inquiry_classify(actor=anna, inquiry_id=rows["g3"].pk, class_key="new_lead")
    inquiry_classify(actor=anna, inquiry_id=rows["v1"].pk, class_key="new_lead")
    return rows


def test_feed_lists_newest_first_and_filters(client: Client, feed_data: dict[str, Any]) -> None:
    r = feed_data
    client.force_login(user("marketing"))
    html = client.get("/inquiries/").content.decode()
    assert ids_in(html) == [r["d1"].pk, r["v1"].pk, r["g3"].pk, r["g2"].pk, r["g1"].pk]
    spring = Campaign.objects.get(utm_campaign="spring")

    def feed(**params: str) -> list[int]:
        return ids_in(client.get("/inquiries/", params).content.decode())

    assert feed(channel="paid_search") == [r["g3"].pk, r["g2"].pk, r["g1"].pk]
    assert feed(channel="social") == [r["v1"].pk]
    assert feed(campaign=str(spring.pk)) == [r["g3"].pk, r["g2"].pk, r["g1"].pk]
    assert feed(**{"class": "spam"}) == [r["g2"].pk, r["g1"].pk]
    assert feed(**{"class": "none"}) == [r["d1"].pk]
    assert feed(kind="call") == [r["v1"].pk]
    start = (clock.today() - dt.timedelta(days=3)).isoformat()
    assert feed(channel="paid_search", **{"from": start}) == [r["g3"].pk, r["g2"].pk]
    assert feed(**{"to": (clock.today() - dt.timedelta(days=30)).isoformat()}) == [r["g1"].pk]


def test_feed_shows_each_rows_facts(client: Client, feed_data: dict[str, Any]) -> None:
    client.force_login(user("director"))
    html = client.get("/inquiries/", {"kind": "call"}).content.decode()
    row = html[html.index(f'data-inquiry-id="{feed_data["v1"].pk}"') :]
    row = row[: row.index("</tr>")]
    for text in ["Call", "v1", 'data-channel="social"', "autumn", "vk / social", "New lead", "anna"]:
        assert text in row, text


def test_junk_share_per_channel_and_campaign_for_the_period(
    client: Client, feed_data: dict[str, Any]
) -> None:
    client.force_login(user("marketing"))
    # Default period: the last 30 days; g1 (40 days ago) is outside.
    html = client.get("/inquiries/").content.decode()
    by_channel = html[html.index('data-testid="junk-by-channel"') :]
    assert re.search(r'data-key="paid_search"><th scope="row">Paid search</th>\s*<td class="num nowrap">1 / 2</td>\s*'
                     r'<td class="num nowrap strong" data-testid="junk-share">50.0 %</td>', by_channel)  # fmt: skip
    assert re.search(r'data-key="social">.*?0 / 1.*?0.0 %', by_channel, re.S)
    by_campaign = html[html.index('data-testid="junk-by-campaign"') :]
    assert re.search(r'data-key="spring">.*?1 / 2.*?50.0 %', by_campaign, re.S)
    # The whole history: 2 of 3 junk.
    html = client.get("/inquiries/", {"from": "2000-01-01"}).content.decode()
    by_channel = html[html.index('data-testid="junk-by-channel"') :]
    assert re.search(r'data-key="paid_search">.*?2 / 3.*?66.7 %', by_channel, re.S)


def test_feed_pages_with_a_cursor_and_polls_the_first_page(client: Client) -> None:
    user("sales", username="anna")
    base = clock.now() - dt.timedelta(days=1)
    made = [capture(f"p{i}@example.com", occurred_at=base + dt.timedelta(minutes=i)) for i in range(7)]
    newest_first = [i.pk for i in reversed(made)]
    client.force_login(user("marketing"))
    html = client.get("/inquiries/", {"limit": "3"}).content.decode()
    assert ids_in(html) == newest_first[:3]
    assert 'hx-trigger="every 15s"' in html  # the first page refreshes itself
    seen = ids_in(html)
    nxt = re.search(r'rel="next" data-testid="next-page" href="([^"]+)"', html)
    while nxt:
        url = "/inquiries/" + nxt.group(1).replace("&amp;", "&")
        part = client.get(url.replace("?", "?part=feed&", 1), headers=HX).content.decode()
        assert "<html" not in part and 'hx-trigger="every 15s"' not in part  # older pages stay still
        assert "junk-by-channel" not in part
        seen += ids_in(part)
        nxt = re.search(r'rel="next" data-testid="next-page" href="([^"]+)"', part)
    assert seen == newest_first
    # A poll returns the feed only; a new inquiry shows up on it.
    fresh = capture("fresh@example.com")
    poll = client.get("/inquiries/", {"limit": "3", "part": "feed"}, headers=HX).content.decode()
    assert ids_in(poll)[0] == fresh.pk and "junk-by-channel" not in poll
    # A filter change (htmx) swaps the feed and the junk share together.
    area = client.get("/inquiries/", {"channel": "direct"}, headers=HX).content.decode()
    assert "<html" not in area and "junk-by-channel" in area and 'id="feed"' in area
    # A broken cursor is a clear 400, not a crash.
    assert client.get("/inquiries/", {"cursor": "!!"}).status_code == 400


def test_feed_query_count_does_not_grow_with_rows(client: Client) -> None:
    user("sales", username="anna")
    for i in range(3):
        capture(f"a{i}@example.com", GOOGLE)
    client.force_login(user("marketing"))
    with CaptureQueriesContext(connection) as few:
        client.get("/inquiries/")
    for i in range(3, 40):
        capture(f"a{i}@example.com", f"https://shop.example/?utm_source=s{i}&utm_campaign=c{i % 9}")
    with CaptureQueriesContext(connection) as many:
        response = client.get("/inquiries/")
    assert len(ids_in(response.content.decode())) == 40
    assert len(many.captured_queries) == len(few.captured_queries) <= 12


def test_feed_access_by_role(client: Client, feed_data: dict[str, Any]) -> None:
    client.force_login(user("guest", username="gus"))
    assert client.get("/inquiries/").status_code == 200
    client.force_login(user("data_quality", username="dq"))
    html = client.get("/inquiries/").content.decode()
    assert 'name="campaign"' not in html  # no campaign access for this role
    client.logout()
    assert client.get("/inquiries/").status_code == 302


# --- campaign page -------------------------------------------------------------------------------


def test_campaign_page_shows_its_junk_share(client: Client, feed_data: dict[str, Any]) -> None:
    spring = Campaign.objects.get(utm_campaign="spring")
    autumn = Campaign.objects.get(utm_campaign="autumn")
    client.force_login(user("marketing"))
    start = (clock.today() - dt.timedelta(days=60)).isoformat()
    html = client.get(f"/marketing/campaigns/{spring.pk}/", {"from": start}).content.decode()
    slot = html[html.index('data-testid="junk-share"') :]
    slot = slot[: slot.index("</section>")]
    assert "66.7 %" in slot and "2 junk of 3 classified inquiries" in slot
    html = client.get(f"/marketing/campaigns/{autumn.pk}/", {"from": start}).content.decode()
    assert "0.0 %" in html[html.index('data-testid="junk-share"') :]
    empty = Campaign.objects.create(name="Nothing yet", utm_campaign="empty")
    html = client.get(f"/marketing/campaigns/{empty.pk}/").content.decode()
    assert "Not measured yet." in html


# --- contact card: sources and visits ------------------------------------------------------------


def test_contact_card_shows_touches_and_visits(client: Client) -> None:
    user("sales", username="anna")
    site = Site.objects.create(name="Shop", origins=["https://shop.example"])
    t0 = clock.now() - dt.timedelta(days=3)
    track_hits(
        site=site,
        visitor_uid="visitor-1234",
        hits=[
            {"type": "pageview", "url": "https://shop.example/landing?utm_source=newsletter&utm_medium=email",
             "title": "Landing", "ts": int(t0.timestamp() * 1000)},
            {"type": "pageview", "url": "https://shop.example/prices", "title": "Prices",
             "ts": int((t0 + dt.timedelta(minutes=2)).timestamp() * 1000)},
        ],
    )  # fmt: skip
    inquiry, _ = inquiry_capture(
        kind="form",
        site=site,
        fields={"name": "Vera", "email": "vera@example.com"},
        page_url="https://shop.example/form?utm_source=google&utm_medium=cpc&utm_campaign=spring&gclid=XyZ",
        visitor_uid="visitor-1234",
    )
    client.force_login(user("admin"))
    html = client.get(f"/contacts/{inquiry.contact_id}/").content.decode()
    block = html[html.index('data-testid="sources"') :]
    block = block[: block.index("</section>")]
    first = block[block.index('data-testid="first-touch"') : block.index('data-testid="lead-touch"')]
    lead = block[block.index('data-testid="lead-touch"') : block.index('data-testid="last-touch"')]
    assert 'data-channel="email"' in first and "newsletter / email" in first
    assert 'data-channel="paid_search"' in lead and "spring" in lead
    touches = block[block.index('data-testid="touches"') :]
    assert touches.count("data-touch-id=") >= 2 and "gclid" in touches
    visits = block[block.index('data-testid="visits"') :]
    assert "https://shop.example/prices" in visits and "/landing?utm_source=newsletter" in visits
    assert visits.index("/prices") < visits.index("/landing")  # newest first


def test_contact_card_sources_cost_a_fixed_number_of_queries(client: Client) -> None:
    user("sales", username="anna")
    site = Site.objects.create(name="Shop", origins=["https://shop.example"])
    inquiry = capture("w@example.com", GOOGLE, site=site, visitor_uid="visitor-5678")
    client.force_login(user("admin"))
    url = f"/contacts/{inquiry.contact_id}/"
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    visitor = inquiry.contact.visitors.get()
    for i in range(30):
        track_hits(
            site=site,
            visitor_uid=visitor.uid,
            hits=[{"type": "pageview", "url": f"https://shop.example/{i}?utm_source=s{i}"}],
        )
    identify(site=site, visitor=visitor, traits={"email": "w@example.com"})
    with CaptureQueriesContext(connection) as many:
        html = client.get(url).content.decode()
    assert html.count("data-touch-id=") == 20 and "Older touches are kept" in html
    assert len(many.captured_queries) <= len(few.captured_queries) + 1  # + the first touch, now off the list
    assert 'data-testid="first-touch"' in html and 'data-channel="paid_search"' in html


def test_contact_without_tracking_says_so(client: Client) -> None:
    from leadbridge.contacts.services import contact_create

    admin = user("admin")
    contact = contact_create(actor=admin, data={"name": "Offline person"})
    client.force_login(admin)
    html = client.get(f"/contacts/{contact.pk}/").content.decode()
    assert "No tracked visits or attributed touches yet." in html


# --- the visit list as its own request ------------------------------------------------------------


def _two_devices_with_history(site: Site) -> tuple[int, list[int]]:
    """A contact with two visitors (phone and laptop); hits of one batch share a time, so page
    boundaries fall inside runs of equal times. Returns the contact id and every event id in
    display order (newest first, id breaking ties)."""
    from leadbridge.capture.models import TrackingEvent, Visitor

    base = clock.now() - dt.timedelta(hours=6)
    for uid, offset in (("phone-uid-1", 0), ("laptop-uid-2", 30)):
        for batch in range(7):
            ts = int((base + dt.timedelta(minutes=offset + batch * 7)).timestamp() * 1000)
            track_hits(
                site=site,
                visitor_uid=uid,
                hits=[{"type": "pageview", "url": f"https://shop.example/{uid}/{batch}/{i}", "ts": ts}
                      for i in range(6)],
            )  # fmt: skip
        identify(site=site, visitor=Visitor.objects.get(uid=uid), traits={"email": "two@example.com"})
    contact_id = Visitor.objects.get(uid="phone-uid-1").contact_id
    assert contact_id == Visitor.objects.get(uid="laptop-uid-2").contact_id
    events = TrackingEvent.objects.filter(visitor__contact_id=contact_id).order_by("-occurred_at", "-id")
    return contact_id, list(events.values_list("id", flat=True))


def test_visit_list_pages_back_through_every_hit_once(client: Client) -> None:
    site = Site.objects.create(name="Shop", origins=["https://shop.example"])
    contact_id, expected = _two_devices_with_history(site)
    assert len(expected) == 2 * 7 * 6
    client.force_login(user("admin"))
    card = client.get(f"/contacts/{contact_id}/").content.decode()
    shown = [int(x) for x in re.findall(r'data-event-id="(\d+)"', card)]
    assert shown == expected[:20]
    seen = list(shown)
    more = re.search(r'data-testid="visits-more"\s+href="([^"]+)"', card)
    pages = 0
    while more:
        response = client.get(more.group(1).replace("&amp;", "&"), headers=HX)
        assert response.status_code == 200
        part = response.content.decode()
        assert "<html" not in part  # the partial only: items and the next link
        seen += [int(x) for x in re.findall(r'data-event-id="(\d+)"', part)]
        more = re.search(r'data-testid="visits-more"\s+href="([^"]+)"', part)
        pages += 1
    assert seen == expected  # newest first, nothing skipped or repeated across equal times
    assert pages == 2  # 84 hits: the card's 20, then pages of 50


def test_visit_list_page_without_javascript_and_its_errors(client: Client) -> None:
    site = Site.objects.create(name="Shop", origins=["https://shop.example"])
    contact_id, expected = _two_devices_with_history(site)
    owner = user("sales", username="owner1")
    other = user("sales", username="other1")
    from leadbridge.contacts.models import Contact

    Contact.objects.filter(pk=contact_id).update(owner=owner)
    client.force_login(owner)
    page = client.get(f"/contacts/{contact_id}/visits/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<html" in html and [int(x) for x in re.findall(r'data-event-id="(\d+)"', html)] == expected[:50]
    assert client.get(f"/contacts/{contact_id}/visits/?cursor=not-a-cursor", headers=HX).status_code == 400
    assert client.get(f"/contacts/{contact_id}/visits/?cursor=WyJ4IiwxXQ", headers=HX).status_code == 400
    client.force_login(other)  # a sales user who does not own the contact sees none of it
    assert client.get(f"/contacts/{contact_id}/visits/", headers=HX).status_code in (403, 404)
    client.logout()
    assert client.get(f"/contacts/{contact_id}/visits/").status_code == 302  # to the login page


def test_visit_list_costs_a_fixed_number_of_queries(client: Client) -> None:
    site = Site.objects.create(name="Shop", origins=["https://shop.example"])
    contact_id, _expected = _two_devices_with_history(site)
    client.force_login(user("admin"))
    url = f"/contacts/{contact_id}/visits/"
    with CaptureQueriesContext(connection) as first:
        client.get(url, headers=HX)
    for i in range(40):
        track_hits(site=site, visitor_uid="phone-uid-1", hits=[{"url": f"https://shop.example/more/{i}"}])
    with CaptureQueriesContext(connection) as later:
        html = client.get(url, headers=HX).content.decode()
    assert html.count("data-event-id=") == 50
    assert len(later.captured_queries) == len(first.captured_queries)
