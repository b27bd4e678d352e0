"""Identify after hits, inquiries (kind, class kind, reclassification), touches, merges, the
safe horizon, rule deletion."""

from __future__ import annotations

import datetime as dt

import pytest

from leadbridge.capture.models import Inquiry, Touch, Visitor
from leadbridge.capture.services import inquiry_capture, inquiry_classify, track_hits
from leadbridge.contacts.merge import contact_merge, merge_undo
from leadbridge.contacts.models import Contact
from leadbridge.core import clock
from leadbridge.scoring.engine import RuleBook
from leadbridge.scoring.models import ScoreEntry, ScoringCursor, SourceKind
from leadbridge.scoring.services import rule_delete
from leadbridge.scoring.streams import stream_batch, streams_run
from tests.factories import ContactFactory, user
from tests.scoring.conftest import NOW, hit, rule, run, score

PAGE = {"type": "pageview", "url": "https://shop.example/pricing"}


def _identify(site, uid: str, email: str) -> Contact:
    track_hits(site=site, visitor_uid=uid, hits=[{"type": "identify", "traits": {"email": email}}])
    return Contact.objects.get(email=email)


def test_hits_before_identify_score_when_the_visitor_is_identified(site) -> None:
    rule(source="pageview", points=3)
    track_hits(site=site, visitor_uid="anon-1", hits=[PAGE, PAGE])
    run()
    assert ScoreEntry.objects.count() == 0  # anonymous: nobody to score yet
    contact = _identify(site, "anon-1", "ann@example.com")
    run()
    assert score(contact) == 6
    # Later hits are the main stream's; nothing counts twice.
    track_hits(site=site, visitor_uid="anon-1", hits=[PAGE])
    run()
    run()
    assert score(contact) == 9
    assert ScoreEntry.objects.filter(contact=contact).count() == 3


def test_identify_before_the_worker_reached_the_hits_counts_them_once(site) -> None:
    rule(source="pageview", points=3)
    rule(source="pageview", points=100, frequency="once")
    track_hits(site=site, visitor_uid="anon-2", hits=[PAGE, PAGE])
    contact = _identify(site, "anon-2", "bob@example.com")
    run()  # the events stream scores them (linked by now), the identify re-scan finds them done
    assert score(contact) == 106


def test_identify_rescan_respects_once_and_caps(site, visitor) -> None:
    rule(source="pageview", points=4, cap_points=10, cap_days=7)
    rule(source="pageview", points=50, frequency="once")
    contact = ContactFactory(email="cap@example.com")
    known = visitor(contact)
    hit(known)
    hit(known)
    run()
    assert score(contact) == 58
    track_hits(site=site, visitor_uid="anon-3", hits=[PAGE, PAGE])
    run()
    _identify(site, "anon-3", "cap@example.com")
    run()
    assert score(contact) == 60  # cap 10 reached (8 + 2), the once rule done already


def test_inquiries_by_kind_and_condition(site) -> None:
    rule(source="inquiry", inquiry_kind="form", points=15)
    rule(source="inquiry", condition='message ~ "price"', points=5)
    rule(source="inquiry", inquiry_kind="call", points=30)
    inquiry, _ = inquiry_capture(
        kind="form", site=site, fields={"email": "carl@example.com", "message": "What is the price?"}
    )
    run()
    assert score(inquiry.contact) == 20
    entries = ScoreEntry.objects.filter(contact=inquiry.contact, source_kind=SourceKind.INQUIRY)
    assert {e.source_id for e in entries} == {inquiry.pk}


def test_class_kind_rule_follows_classification_and_reclassification(site) -> None:
    manager = user("admin", username="boss")
    rule(source="inquiry", class_kind="target", points=40)
    inquiry, _ = inquiry_capture(kind="form", site=site, fields={"email": "dan@example.com"})
    contact = inquiry.contact
    run()
    assert score(contact) == 0  # not classified yet
    inquiry_classify(actor=manager, inquiry_id=inquiry.pk, class_key="new_lead")
    run()
    assert score(contact) == 40
    inquiry_classify(actor=manager, inquiry_id=inquiry.pk, class_key="spam", comment="bot")
    run()
    assert score(contact) == 0
    inquiry_classify(actor=manager, inquiry_id=inquiry.pk, class_key="new_lead", comment="no, real")
    run()
    assert score(contact) == 40
    assert sorted(ScoreEntry.objects.filter(contact=contact).values_list("points", flat=True)) == [
        -40,
        40,
        40,
    ]


def test_touches_by_channel(site) -> None:
    rule(source="touch", channel="paid_search", points=8)
    rule(source="touch", condition="medium = cpc and campaign = spring", points=2)
    inquiry, _ = inquiry_capture(
        kind="form",
        site=site,
        fields={"email": "eve@example.com"},
        page_url="https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=spring",
    )
    run()
    touch = Touch.objects.get(contact=inquiry.contact)
    assert touch.channel.key == "paid_search"
    assert score(inquiry.contact) == 10


def test_merge_moves_the_ledger_and_rescore_both(person) -> None:
    winner, v1 = person()
    loser, v2 = person()
    rule(source="pageview", points=20)
    hit(v1)
    hit(v2)
    hit(v2)
    run()
    admin = user("admin", username="merger")
    merge = contact_merge(actor=admin, winner_id=winner.pk, loser_id=loser.pk)
    assert score(winner) == 60
    assert score(loser) == 0
    winner.refresh_from_db()
    assert winner.band == "hot"
    merge_undo(actor=admin, merge_id=merge.pk)
    assert score(winner) == 20
    assert score(loser) == 40


def test_rule_delete_takes_its_points_back(person) -> None:
    contact, v = person()
    keep = rule(source="pageview", points=1)
    gone = rule(source="pageview", points=40)
    hit(v)
    run()
    contact.refresh_from_db()
    assert (contact.score, contact.band) == (41, "warm")
    rule_delete(actor=None, rule_id=gone.pk)
    contact.refresh_from_db()
    assert (contact.score, contact.band) == (1, "cold")
    assert set(ScoreEntry.objects.values_list("rule_id", flat=True)) == {keep.pk}


@pytest.mark.django_db
def test_safe_horizon_waits_for_the_lag_on_postgresql(person, settings) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("SQLite makes ids visible in order: no horizon")
    settings.LEADBRIDGE = {**settings.LEADBRIDGE, "SCORING_SAFE_LAG": 10}
    contact, v = person()
    rule(source="pageview", points=1)
    hit(v)
    book = RuleBook.load()
    stream_batch("events", book)  # samples the newest id, reads nothing yet
    assert score(contact) == 0
    with clock.frozen(NOW + dt.timedelta(seconds=5)):
        stream_batch("events", book)
    assert score(contact) == 0
    with clock.frozen(NOW + dt.timedelta(seconds=11)):
        hit(v)  # a newer hit: it waits for its own lag
        stream_batch("events", book)
    assert score(contact) == 1
    cursor = ScoringCursor.objects.get(stream="events")
    assert cursor.position < cursor.sample_id
    with clock.frozen(NOW + dt.timedelta(seconds=25)):
        streams_run(book=book)
    assert score(contact) == 2


def test_visitor_and_inquiry_rows_untouched(site) -> None:
    # Scoring only reads capture's rows.
    rule(source="pageview", points=1)
    track_hits(site=site, visitor_uid="anon-9", hits=[PAGE])
    before = list(Visitor.objects.values_list("pk", "contact_id", "last_seen"))
    run()
    assert list(Visitor.objects.values_list("pk", "contact_id", "last_seen")) == before
    assert Inquiry.objects.count() == 0
