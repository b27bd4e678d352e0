"""Fit rules: contact filters (segments.compiler) that give points while a contact matches."""

from __future__ import annotations

from leadbridge.contacts.services import contact_update
from leadbridge.scoring.models import ScoreEntry, ScoringCursor, SourceKind
from leadbridge.scoring.services import fit_refresh, rule_update, scoring_tick
from tests.factories import ContactFactory, TagFactory
from tests.scoring.conftest import band_changes, rule, score


def test_fit_points_follow_the_contact(db) -> None:
    ceo = ContactFactory(job_title="CEO", city="Paris")
    clerk = ContactFactory(job_title="Clerk", city="Paris")
    other = ContactFactory(job_title="CEO", city="Lyon")
    rule(kind="fit", name="Decision makers in Paris", condition="job_title = CEO and city = Paris", points=40)
    assert fit_refresh()["changes"] == 1
    assert (score(ceo), score(clerk), score(other)) == (40, 0, 0)
    assert fit_refresh()["changes"] == 0  # nothing changed: nothing written
    contact_update(actor=None, contact_id=clerk.pk, data={"job_title": "CEO"})
    contact_update(actor=None, contact_id=ceo.pk, data={"city": "Berlin"})
    fit_refresh()
    assert (score(ceo), score(clerk)) == (0, 40)
    assert sorted(ScoreEntry.objects.filter(contact=ceo).values_list("points", flat=True)) == [-40, 40]
    assert all(e.source_kind == SourceKind.FIT for e in ScoreEntry.objects.all())


def test_changed_points_and_deactivation(db) -> None:
    contact = ContactFactory(job_title="CEO")
    tagged = ContactFactory(job_title="Clerk")
    tagged.tag_links.create(tag=TagFactory(name="vip", key="vip"))
    fit = rule(kind="fit", condition="job_title = CEO", points=20)
    vip = rule(kind="fit", condition="tag:vip", points=-5)
    fit_refresh()
    assert (score(contact), score(tagged)) == (20, -5)
    rule_update(actor=None, rule_id=fit.pk, data={"points": 35})
    fit_refresh()
    assert score(contact) == 35
    rule_update(actor=None, rule_id=vip.pk, data={"is_active": False})
    fit_refresh()
    assert score(tagged) == 0


def test_fit_crossing_writes_the_activity_and_the_tick_runs_fit_after_a_change(db) -> None:
    contact = ContactFactory(job_title="CEO")
    rule(kind="fit", condition="job_title = CEO", points=65)
    assert ScoringCursor.objects.filter(stream="fit", run_at__isnull=False).count() == 0
    summary = scoring_tick()
    assert summary["fit"] == {"changes": 1}
    contact.refresh_from_db()
    assert (contact.score, contact.band) == (65, "hot")
    assert band_changes(contact) == [{"from": "cold", "to": "hot", "score": 65}]
    assert "fit" not in scoring_tick()  # not due again for SCORING_FIT_SECONDS
