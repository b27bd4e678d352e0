"""Junk control: junk share by dimension, and one alert per crossing of the threshold."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from leadbridge.accounts.models import Notification
from leadbridge.capture.models import JunkAlert
from leadbridge.capture.selectors import junk_share
from leadbridge.capture.services import inquiry_classify, junk_check
from leadbridge.capture.tasks import run_junk_check
from leadbridge.core import clock
from tests.factories import user

PROMO = "https://shop.example/land?utm_source=vk&utm_medium=cpc&utm_campaign=promo"
OTHER = "https://shop.example/land?utm_source=google&utm_medium=cpc&utm_campaign=brand"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def head():
    return user("sales_head", username="head")


@pytest.fixture
def marketers():
    return [
        user("marketing", username="mara", email="mara@example.test"),
        user("marketing", username="mike", email="mike@example.test"),
        user("marketing", username="quiet", email=""),
    ]


def classified(capture, head, page_url, classes, start=0):
    inquiries = []
    for i, key in enumerate(classes, start=start):
        with clock.frozen(T0 + dt.timedelta(minutes=i)):
            inquiry = capture(page_url=page_url, email=f"p{page_url[-5:]}{i}@example.com")
        inquiry_classify(actor=head, inquiry_id=inquiry.pk, class_key=key)
        inquiries.append(inquiry)
    return inquiries


def test_a_campaign_over_the_threshold_alerts_marketing_once(
    capture, head, marketers, mailoutbox, django_capture_on_commit_callbacks
):
    classified(capture, head, PROMO, ["spam", "non_target"] + ["new_lead"] * 8)
    classified(capture, head, OTHER, ["spam"] + ["new_lead"] * 19, start=100)
    now = T0 + dt.timedelta(hours=5)
    with django_capture_on_commit_callbacks(execute=True):
        (alert,) = junk_check(now=now)
    assert alert.campaign.utm_campaign == "promo"
    assert (alert.inquiries, alert.junk, alert.share, alert.threshold) == (
        10,
        2,
        Decimal("0.2000"),
        Decimal("0.1500"),
    )
    notes = Notification.objects.filter(kind="junk_alert")
    assert {n.user.username for n in notes} == {"mara", "mike", "quiet"}
    assert "promo" in notes[0].title and "20.0%" in notes[0].title
    assert "2 of the last 10" in notes[0].body
    assert sorted(m.to[0] for m in mailoutbox) == ["mara@example.test", "mike@example.test"]
    assert "promo" in mailoutbox[0].subject

    # The next check (the worker runs one after every classification) stays quiet.
    with django_capture_on_commit_callbacks(execute=True):
        assert junk_check(now=now + dt.timedelta(minutes=1)) == []
        run_junk_check.call(campaign_ids=[alert.campaign_id])
    assert JunkAlert.objects.count() == 1 and len(mailoutbox) == 2


def test_a_new_alert_only_after_the_share_fell_below_and_crossed_again(capture, head, marketers):
    classified(capture, head, PROMO, ["spam", "spam"] + ["new_lead"] * 8)
    assert len(junk_check(now=T0 + dt.timedelta(hours=1))) == 1
    # Ten more good ones: 2 of 20 = 10 %, below the threshold.
    classified(capture, head, PROMO, ["new_lead"] * 10, start=20)
    assert junk_check(now=T0 + dt.timedelta(hours=2)) == []
    assert JunkAlert.objects.get().cleared_at == T0 + dt.timedelta(hours=2)
    # Junk again: 6 of 24 = 25 %.
    classified(capture, head, PROMO, ["spam"] * 4, start=40)
    (second,) = junk_check(now=T0 + dt.timedelta(hours=3))
    assert (second.junk, second.inquiries) == (6, 24)
    assert JunkAlert.objects.count() == 2


def test_too_few_classified_inquiries_do_not_alert(capture, head, marketers, settings):
    classified(capture, head, PROMO, ["spam"] * 5)
    assert junk_check(now=T0 + dt.timedelta(hours=1)) == []
    settings.LEADBRIDGE = {**settings.LEADBRIDGE, "JUNK_MIN_INQUIRIES": 5, "JUNK_THRESHOLD": "0.5"}
    assert len(junk_check(now=T0 + dt.timedelta(hours=1))) == 1


def test_junk_share_by_channel_campaign_source_and_landing_page(capture, head):
    classified(capture, head, PROMO, ["spam", "new_lead", "new_lead", "new_lead"])
    classified(capture, head, OTHER, ["new_lead", "wrong_number"], start=10)
    with clock.frozen(T0):
        capture(page_url=OTHER, email="unclassified@example.com")
    by_campaign = junk_share(user=head, by="campaign")
    assert by_campaign == [
        {"key": "promo", "classified": 4, "junk": 1, "share": 0.25},
        {"key": "brand", "classified": 2, "junk": 1, "share": 0.5},
    ]
    assert junk_share(user=head, by="source") == [
        {"key": "vk", "classified": 4, "junk": 1, "share": 0.25},
        {"key": "google", "classified": 2, "junk": 1, "share": 0.5},
    ]
    by_channel = {r["key"]: r for r in junk_share(user=head, by="channel")}
    assert by_channel["paid_social"]["classified"] == 4 and by_channel["paid_search"]["junk"] == 1
    (landing,) = junk_share(user=head, by="landing_page")
    assert landing == {"key": "https://shop.example/land", "classified": 6, "junk": 2, "share": 0.3333}
    assert junk_share(user=head, by="channel", date_from=dt.date(2026, 3, 3)) == []
