"""Behaviour rules on tracking hits: once, repeatable, caps, negative points, conditions, bands."""

from __future__ import annotations

import datetime as dt

from leadbridge.capture.models import TrackingEvent
from leadbridge.core import clock
from leadbridge.scoring.models import ScoreEntry, ScoringCursor, SourceKind
from leadbridge.scoring.services import settings_update
from tests.scoring.conftest import NOW, band_changes, hit, rule, run, score


def test_repeatable_rule_scores_every_hit_of_linked_visitors_only(person, visitor) -> None:
    contact, v = person()
    anonymous = visitor()
    rule(source="pageview", points=2)
    for _ in range(3):
        hit(v)
    hit(anonymous)
    result = run()
    assert score(contact) == 6
    last = TrackingEvent.objects.order_by("-pk").values_list("pk", flat=True).first()
    assert result["events"].ids == last  # from 0: PostgreSQL's sequences are not reset between tests
    assert result["events"].entries == 3
    entries = ScoreEntry.objects.filter(contact=contact)
    assert {e.source_kind for e in entries} == {SourceKind.EVENT}
    assert ScoringCursor.objects.get(stream="events").position == max(e.source_id for e in entries) + 1


def test_once_rule_scores_one_time_across_batches(person) -> None:
    contact, v = person()
    rule(source="event", event_name="signup", points=25, frequency="once")
    hit(v, "event", name="signup")
    hit(v, "event", name="signup")
    run()
    hit(v, "event", name="signup")
    run()
    assert score(contact) == 25
    assert ScoreEntry.objects.filter(contact=contact).count() == 1


def test_event_name_and_kind_must_match(person) -> None:
    contact, v = person()
    rule(source="event", event_name="signup", points=10)
    hit(v, "event", name="download")
    hit(v, "pageview", name="signup")
    hit(v, "pixel")
    run()
    assert score(contact) == 0


def test_cap_per_period_cuts_the_last_award_and_resets_after_the_period(person) -> None:
    contact, v = person()
    rule(source="pageview", points=4, cap_points=10, cap_days=7)
    for _ in range(5):
        hit(v)
    run()
    assert score(contact) == 10  # 4 + 4 + 2 (cut to fit), then nothing
    assert sorted(ScoreEntry.objects.filter(contact=contact).values_list("points", flat=True)) == [2, 4, 4]
    # Still within 7 days of those hits: nothing more.
    with clock.frozen(NOW + dt.timedelta(days=6)):
        hit(v)
        run()
    assert score(contact) == 10
    # Eight days on, the first ones left the window.
    with clock.frozen(NOW + dt.timedelta(days=8)):
        hit(v)
        hit(v)
        hit(v)
        run()
    assert score(contact) == 20


def test_negative_points_and_their_cap(person) -> None:
    contact, v = person()
    rule(source="pageview", points=5)
    rule(source="pageview", condition='path ~ "/careers"', points=-3, cap_points=5, cap_days=30)
    hit(v, url="https://shop.example/careers")
    hit(v, url="https://shop.example/careers/dev")
    hit(v, url="https://shop.example/careers/qa")
    run()
    # 3 x 5 for the page views, -3 -2 (cap 5 reached) for the careers pages.
    assert score(contact) == 15 - 5


def test_conditions_on_url_title_referrer_and_props(person) -> None:
    contact, v = person()
    rule(source="pageview", condition='url ~ "/pricing" and not referrer exists', points=10)
    rule(source="event", condition="name = download and props.type = whitepaper", points=7)
    rule(source="event", condition="props.amount >= 100", points=20)
    rule(source="pageview", condition='title ~ "цены"', points=1)
    hit(v, url="https://shop.example/pricing?x=1")  # 10
    hit(v, url="https://shop.example/PRICING", referrer="https://google.com/")  # referrer: no
    hit(v, "event", name="download", props={"type": "whitepaper"})  # 7
    hit(v, "event", name="download", props={"type": "video"})
    hit(v, "event", name="purchase", props={"amount": "120.50"})  # 20: a string number compares as number
    hit(v, "event", name="purchase", props={"amount": 99})
    hit(v, "pageview", url="https://shop.example/ru", title="Наши Цены")  # 1
    run()
    assert score(contact) == 38


def test_band_crossings_write_exactly_one_activity_each(person) -> None:
    contact, v = person()
    settings_update(actor=None, data={"warm_threshold": 10, "hot_threshold": 20})
    rule(source="pageview", points=4)
    hit(v)
    hit(v)
    run()
    contact.refresh_from_db()
    assert (contact.score, contact.band) == (8, "cold")
    assert band_changes(contact) == []
    for _ in range(4):
        hit(v)
    run()  # 24 in one batch: cold -> hot is one crossing
    contact.refresh_from_db()
    assert (contact.score, contact.band) == (24, "hot")
    assert band_changes(contact) == [{"from": "cold", "to": "hot", "score": 24}]
    rule(source="pageview", condition='path ~ "/unsubscribe"', points=-10)
    hit(v, url="https://shop.example/unsubscribe")
    run()
    contact.refresh_from_db()
    assert (contact.score, contact.band) == (18, "warm")
    assert band_changes(contact)[-1] == {"from": "hot", "to": "warm", "score": 18}
    assert len(band_changes(contact)) == 2


def test_rules_apply_from_when_they_are_saved(person) -> None:
    contact, v = person()
    hit(v)
    run()  # no rule listens: the cursor moves on
    rule(source="pageview", points=1)
    hit(v)
    run()
    assert score(contact) == 1


def test_inactive_rules_score_nothing(person) -> None:
    contact, v = person()
    rule(source="pageview", points=1, is_active=False)
    hit(v)
    run()
    assert score(contact) == 0


def test_batches_span_at_most_the_configured_ids(person, settings) -> None:
    settings.LEADBRIDGE = {**settings.LEADBRIDGE, "SCORING_BATCH": 2}
    contact, v = person()
    rule(source="pageview", points=1)
    for _ in range(5):
        hit(v)
    result = run()
    assert result["events"].batches >= 3
    assert score(contact) == 5


def test_new_thresholds_reband_everyone_on_the_next_tick(person) -> None:
    from leadbridge.scoring.services import scoring_tick

    contact, v = person()
    rule(source="pageview", points=40)
    hit(v)
    run()
    contact.refresh_from_db()
    assert contact.band == "warm"
    settings_update(actor=None, data={"warm_threshold": 50, "hot_threshold": 80})
    scoring_tick()
    contact.refresh_from_db()
    assert (contact.score, contact.band) == (40, "cold")
    assert band_changes(contact)[-1] == {"from": "warm", "to": "cold", "score": 40}
    scoring_tick()
    assert len(band_changes(contact)) == 2  # once


def test_editing_a_contact_never_writes_an_old_score_back(person) -> None:
    from leadbridge.contacts.models import Contact
    from leadbridge.contacts.services import contact_update

    contact, v = person()
    stale = Contact.objects.get(pk=contact.pk)  # loaded before the worker scores
    rule(source="pageview", points=70)
    hit(v)
    run()
    stale.job_title = "CTO"
    stale.save()
    contact_update(actor=None, contact_id=contact.pk, data={"city": "Paris"})
    contact.refresh_from_db()
    assert (contact.score, contact.band, contact.job_title, contact.city) == (70, "hot", "CTO", "Paris")
