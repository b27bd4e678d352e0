"""Merging, un-merging and erasing contacts carries capture data along (touches, inquiries,
visitors, the derived first/lead/last touch) and erases what capture holds about a person."""

from __future__ import annotations

import datetime as dt

from leadbridge.capture.models import ContactSource, Inquiry, Touch, TrackingEvent, Visitor
from leadbridge.capture.selectors import contact_visits
from leadbridge.capture.services import track_hits
from leadbridge.contacts.merge import contact_merge, merge_undo
from leadbridge.contacts.services import contact_erase
from leadbridge.core import clock
from tests.factories import user

T0 = dt.datetime(2026, 5, 1, 9, 0, tzinfo=dt.UTC)


def test_merge_moves_capture_rows_and_rebuilds_sources_and_undo_restores(capture) -> None:
    with clock.frozen(T0):
        early = capture(
            email="anna@example.com", page_url="https://shop.example/?utm_source=google&utm_medium=cpc"
        )
    with clock.frozen(T0 + dt.timedelta(days=3)):
        late = capture(
            email="anna.work@example.com", page_url="https://shop.example/?utm_source=vk&utm_medium=cpc"
        )
    winner, loser = late.contact, early.contact  # the newer record is kept
    admin = user("admin")
    merge = contact_merge(actor=admin, winner_id=winner.pk, loser_id=loser.pk)
    assert set(Inquiry.objects.filter(contact=winner).values_list("pk", flat=True)) == {early.pk, late.pk}
    source = ContactSource.objects.get(contact=winner)
    assert source.first_touch_id == early.touch_id  # the loser's earlier ad visit is now the first touch
    assert source.lead_touch_id == early.touch_id
    assert source.last_touch_id == late.touch_id
    assert not ContactSource.objects.filter(contact=loser).exists()

    merge_undo(actor=admin, merge_id=merge.pk)
    assert list(Inquiry.objects.filter(contact=loser).values_list("pk", flat=True)) == [early.pk]
    assert ContactSource.objects.get(contact=winner).first_touch_id == late.touch_id
    assert ContactSource.objects.get(contact=loser).first_touch_id == early.touch_id


def test_erase_removes_what_capture_holds_about_the_person(capture, site) -> None:
    with clock.frozen(T0):
        track_hits(
            site=site,
            visitor_uid="vid-1",
            hits=[{"type": "pageview", "url": "https://shop.example/order?email=anna@example.com"}],
        )
        inquiry = capture(
            email="anna@example.com",
            message="Мой адрес: ул. Ленина, 1",
            visitor_uid="vid-1",
            page_url="https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=spring",
        )
    contact = inquiry.contact
    assert len(contact_visits(contact=contact)) == 1
    contact_erase(actor=user("admin"), contact_id=contact.pk, reason="Request by email")
    inquiry.refresh_from_db()
    assert (inquiry.message, inquiry.fields, inquiry.dialog) == ("", {}, [])
    assert inquiry.touch.channel.key == "paid_search"  # still counted by channel and campaign
    assert not TrackingEvent.objects.exists()
    assert not Visitor.objects.filter(contact=contact).exists()
    assert Touch.objects.filter(contact=contact).exclude(landing_page="").count() == 0
