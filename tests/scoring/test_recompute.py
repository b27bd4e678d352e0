"""`leadbridge scoring recompute`: the rebuilt ledger gives what the worker gave, twice the same;
after a rule change it applies the rule to the past."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

from leadbridge.capture.services import inquiry_capture, inquiry_classify, track_hits
from leadbridge.cli import main
from leadbridge.contacts.models import Contact
from leadbridge.core import clock
from leadbridge.scoring.models import ScoreEntry
from leadbridge.scoring.services import rule_update, scores_recompute
from tests.factories import user
from tests.scoring.conftest import NOW, band_changes, hit, rule, run, score

DAY = dt.timedelta(days=1)


def _ledger() -> Counter[tuple[int, int | None, int, int | None]]:
    """Net points per (contact, rule, source kind, source id)."""
    totals: Counter[tuple[int, int | None, int, int | None]] = Counter()
    for c, r, k, s, p in ScoreEntry.objects.values_list(
        "contact_id", "rule_id", "source_kind", "source_id", "points"
    ):
        totals[(c, r, k, s)] += p
    return +totals  # drop zeros


def _scores() -> dict[int, tuple[int, str]]:
    return {c.pk: (c.score, c.band) for c in Contact.objects.all()}


def _history(site, person) -> None:
    manager = user("admin", username="classifier")
    rule(source="pageview", points=2, cap_points=6, cap_days=7)
    rule(source="pageview", condition='path ~ "/pricing"', points=10, frequency="once")
    rule(source="pageview", condition='path ~ "/careers"', points=-5)
    rule(source="event", event_name="download", condition="props.type = whitepaper", points=15)
    rule(source="inquiry", inquiry_kind="form", points=20)
    rule(source="inquiry", class_kind="target", points=30)
    rule(source="touch", channel="paid_search", points=3)
    people = [person() for _ in range(3)]
    for day in range(0, 20, 3):
        with clock.frozen(NOW + day * DAY):
            for i, (_contact, v) in enumerate(people):
                hit(v)
                hit(v, url="https://shop.example/pricing" if i != 1 else "https://shop.example/careers")
                if day % 2 == 0:
                    hit(v, "event", name="download", props={"type": "whitepaper" if i else "video"})
            run()
    # An anonymous visitor that identifies later, an inquiry from paid search, a reclassification.
    track_hits(site=site, visitor_uid="late", hits=[{"url": "https://shop.example/pricing"}] * 2)
    run()
    track_hits(
        site=site, visitor_uid="late", hits=[{"type": "identify", "traits": {"email": "late@example.com"}}]
    )
    inquiry, _ = inquiry_capture(
        kind="form",
        site=site,
        fields={"email": "late@example.com"},
        page_url="https://shop.example/?utm_source=google&utm_medium=cpc",
    )
    run()
    inquiry_classify(actor=manager, inquiry_id=inquiry.pk, class_key="new_lead")
    run()
    inquiry_classify(actor=manager, inquiry_id=inquiry.pk, class_key="spam", comment="bot")
    run()
    inquiry_classify(actor=manager, inquiry_id=inquiry.pk, class_key="upsell", comment="existing")
    run()


def test_recompute_equals_incremental_and_is_idempotent(site, person) -> None:
    _history(site, person)
    incremental, scores = _ledger(), _scores()
    assert len(incremental) > 20
    assert any(v[0] > 0 for v in scores.values())
    activities = {c: band_changes(Contact(pk=c)) for c in scores}
    summary = scores_recompute()
    assert summary["contacts"] == len(scores)
    assert _ledger() == incremental
    assert _scores() == scores
    assert {c: band_changes(Contact(pk=c)) for c in scores} == activities  # no band changed: no activity
    rows = sorted(
        ScoreEntry.objects.values_list("contact_id", "rule_id", "source_kind", "source_id", "points")
    )
    scores_recompute()
    assert (
        sorted(ScoreEntry.objects.values_list("contact_id", "rule_id", "source_kind", "source_id", "points"))
        == rows
    )


def test_recompute_applies_changed_rules_to_the_past(person) -> None:
    contact, v = person()
    r = rule(source="pageview", points=1)
    for _ in range(5):
        hit(v)
    run()
    assert score(contact) == 5
    rule_update(actor=None, rule_id=r.pk, data={"points": 20})
    assert score(contact) == 5  # earned under the old rule
    new = rule(source="pageview", condition='url ~ "shop"', points=1, frequency="once")
    assert main(["scoring", "recompute", "--batch", "1", "--quiet"]) == 0
    assert score(contact) == 101
    assert ScoreEntry.objects.filter(contact=contact, rule=new).count() == 1
    contact.refresh_from_db()
    assert contact.band == "hot"
    assert band_changes(contact) == [{"from": "cold", "to": "hot", "score": 101}]


def test_recompute_cli_json_and_progress(person, capsys) -> None:
    contact, v = person()
    rule(source="pageview", points=3)
    hit(v)
    run()
    assert main(["scoring", "recompute", "--format", "json"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["contacts"] == 1 and summary["entries"] == 1
    assert "recomputed contacts up to" in err
    assert score(contact) == 3


def test_scoring_run_cli(person, capsys) -> None:
    contact, v = person()
    rule(source="pageview", points=3)
    hit(v)
    assert main(["scoring", "run", "--all", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["events"]["entries"] == 1
    assert score(contact) == 3
