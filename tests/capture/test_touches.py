"""Tracking hits, visit touches, identify, and the contact's first / lead / last touch."""

from __future__ import annotations

import datetime as dt

import pytest

from leadbridge.capture.models import ContactSource, EventKind, Touch, TrackingEvent, Visitor
from leadbridge.capture.selectors import contact_touches, contact_visits
from leadbridge.capture.services import identify, track_hits
from leadbridge.contacts.models import Activity, Contact
from leadbridge.core import clock

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
LANDING = "https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=Spring&gclid=CjwKCAiA_Ab-Cd"


def hits_at(site, uid, *hits, at=T0):
    with clock.frozen(at):
        return track_hits(
            site=site, visitor_uid=uid, hits=list(hits), ip="203.0.113.5", user_agent="Mozilla/5.0"
        )


def test_hits_are_stored_with_their_kinds_and_a_visitor_is_upserted(site):
    stored = hits_at(
        site,
        "vid-aaaaaaaa",
        {"type": "pageview", "url": "https://shop.example/", "title": "Home", "referrer": ""},
        {"type": "event", "name": "cart_add", "props": {"sku": "A-1", "qty": 2}},
        {"type": "bogus"},
        "not a hit",
    )
    assert stored == 2
    hits_at(site, "vid-aaaaaaaa", {"url": "https://shop.example/pricing"}, at=T0 + dt.timedelta(minutes=5))
    visitor = Visitor.objects.get(site=site, uid="vid-aaaaaaaa")
    assert visitor.first_seen == T0 and visitor.last_seen == T0 + dt.timedelta(minutes=5)
    events = list(TrackingEvent.objects.filter(visitor=visitor).order_by("id"))
    assert [e.kind for e in events] == [EventKind.PAGEVIEW, EventKind.EVENT, EventKind.PAGEVIEW]
    assert events[0].title == "Home"
    assert events[1].name == "cart_add" and events[1].props == {"sku": "A-1", "qty": 2}
    # Nothing here brought a source: no touch.
    assert not Touch.objects.exists()


def test_oversized_values_are_cut_and_client_times_clamped(site):
    future = int((T0 + dt.timedelta(days=3)).timestamp() * 1000)
    ancient = int((T0 - dt.timedelta(days=400)).timestamp() * 1000)
    hits_at(
        site,
        "vid-bbbbbbbb",
        {"url": "https://shop.example/" + "x" * 5000, "title": "t" * 1000, "ts": future},
        {"url": "https://shop.example/a", "ts": ancient, "props": {"blob": "y" * 10000}},
        {"url": "https://shop.example/b", "ts": "garbage"},
    )
    first, second, third = TrackingEvent.objects.order_by("id")
    assert len(first.url) == 2000 and len(first.title) == 300
    assert first.occurred_at == T0
    assert second.occurred_at == T0 - dt.timedelta(days=1)
    assert second.props == {"_truncated": True, "size": second.props["size"]}
    assert third.occurred_at == T0


def test_a_landing_hit_records_one_visit_touch_with_utm_and_case_sensitive_click_id(site):
    hits_at(site, "vid-cccccccc", {"url": LANDING, "referrer": "https://www.google.com/"})
    # A reload of the landing page and the next pages are the same visit: no new touch.
    hits_at(
        site,
        "vid-cccccccc",
        {"url": LANDING},
        {"url": "https://shop.example/pricing"},
        at=T0 + dt.timedelta(minutes=2),
    )
    (touch,) = Touch.objects.all()
    assert touch.kind == "visit" and touch.channel.key == "paid_search"
    assert (touch.source, touch.medium, touch.campaign_name) == ("google", "cpc", "Spring")
    assert touch.click_ids == {"gclid": "CjwKCAiA_Ab-Cd"}
    assert touch.landing_page == "https://shop.example/"
    visitor = Visitor.objects.get(uid="vid-cccccccc")
    assert visitor.first_touch_id == touch.pk == visitor.last_touch_id
    # Coming back days later from an email is a new touch.
    hits_at(
        site,
        "vid-cccccccc",
        {"url": "https://shop.example/sale?utm_source=newsletter&utm_medium=email&utm_campaign=march"},
        at=T0 + dt.timedelta(days=3),
    )
    visitor.refresh_from_db()
    assert Touch.objects.count() == 2
    assert visitor.first_touch_id == touch.pk and visitor.last_touch.channel.key == "email"


def test_referrals_count_but_navigation_inside_the_site_does_not(site):
    hits_at(
        site, "vid-dddddddd", {"url": "https://shop.example/", "referrer": "https://blog.partner.test/post"}
    )
    hits_at(site, "vid-dddddddd", {"url": "https://shop.example/b", "referrer": "https://shop.example/"})
    (touch,) = Touch.objects.all()
    assert touch.channel.key == "referral"


def test_identify_links_earlier_page_views_to_the_contact(site):
    hits_at(
        site, "vid-eeeeeeee", {"url": LANDING}, {"url": "https://shop.example/pricing", "title": "Pricing"}
    )
    hits_at(
        site,
        "vid-eeeeeeee",
        {"type": "identify", "traits": {"email": "Olga@Example.com", "name": "Olga"}},
        at=T0 + dt.timedelta(minutes=10),
    )
    contact = Contact.objects.get(email="olga@example.com")
    visits = contact_visits(contact=contact)
    assert [v.url for v in visits][-2:] == ["https://shop.example/pricing", LANDING]
    assert visits[0].kind == EventKind.IDENTIFY
    assert Activity.objects.filter(contact=contact, kind="visitor_identified").count() == 1
    (touch,) = contact_touches(contact=contact)
    assert touch.kind == "visit" and touch.contact_id == contact.pk
    source = ContactSource.objects.get(contact=contact)
    assert source.first_touch_id == touch.pk == source.last_touch_id and source.lead_touch_id is None
    # Identifying the same visitor again changes nothing and writes no second activity.
    visitor = Visitor.objects.get(uid="vid-eeeeeeee")
    assert identify(site=site, visitor=visitor, traits={"email": "olga@example.com"}) == contact
    assert Activity.objects.filter(contact=contact, kind="visitor_identified").count() == 1


def test_identify_with_a_bad_email_keeps_the_traits_in_the_quality_queue(site):
    from leadbridge.contacts.models import DataQualityItem

    hits_at(
        site,
        "vid-ffffffff",
        {"type": "identify", "traits": {"email": "not-an-email", "phone": "+7 912 345-67-89"}},
    )
    contact = Contact.objects.get(phone="+79123456789")
    assert Visitor.objects.get(uid="vid-ffffffff").contact == contact
    item = DataQualityItem.objects.get(source="capture:identify")
    assert item.raw["email"] == "not-an-email" and item.errors[0]["field"] == "email"


def test_first_lead_and_last_touch(site, capture):
    hits_at(site, "vid-gggggggg", {"url": LANDING})
    with clock.frozen(T0 + dt.timedelta(days=1)):
        first_inquiry = capture(email="ivan@example.com", name="Ivan", visitor_uid="vid-gggggggg")
    with clock.frozen(T0 + dt.timedelta(days=5)):
        second = capture(
            kind="call",
            page_url="",
            fields={"phone": "+7 912 000-11-22", "email": "ivan@example.com"},
            utm={"source": "yandex", "medium": "cpc", "campaign": "summer"},
        )
    contact = first_inquiry.contact
    assert second.contact_id == contact.pk
    source = ContactSource.objects.get(contact=contact)
    touches = list(contact_touches(contact=contact))
    assert [t.kind for t in touches] == ["call", "form", "visit"]
    assert source.first_touch.kind == "visit"
    assert source.lead_touch_id == first_inquiry.touch_id
    assert source.last_touch_id == second.touch_id
    # The form sent pages after landing inherits the landing's source, and creates its campaign.
    assert first_inquiry.touch.channel.key == "paid_search"
    assert first_inquiry.touch.campaign.name == "Spring"
    assert first_inquiry.touch.click_ids == {"gclid": "CjwKCAiA_Ab-Cd"}
    # ...and the earlier visit touch now points to that campaign too.
    assert source.first_touch.campaign_id == first_inquiry.touch.campaign_id
    assert not first_inquiry.is_repeat and second.is_repeat


@pytest.mark.parametrize("uid", ["", " ", "x" * 65, "bad\x00id", None])
def test_a_bad_visitor_id_is_a_field_error(site, uid):
    from leadbridge.core.errors import ValidationFailed

    with pytest.raises(ValidationFailed) as exc:
        track_hits(site=site, visitor_uid=uid, hits=[{"url": "https://shop.example/"}])
    assert exc.value.errors[0].field == "visitor_id"
