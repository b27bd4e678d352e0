"""Decay: points fade after inactivity, set-based, again every period, never below zero."""

from __future__ import annotations

import datetime as dt

from leadbridge.core import clock
from leadbridge.scoring.models import ScoreEntry, SourceKind
from leadbridge.scoring.services import decay_apply, scores_recompute, settings_update
from tests.scoring.conftest import NOW, band_changes, hit, rule, run, score

DAY = dt.timedelta(days=1)


def _decay(**data: object) -> None:
    settings_update(actor=None, data={"decay_mode": "percent", "decay_amount": 50, "decay_days": 10, **data})


def test_percent_decay_after_inactivity_and_again_each_period(person) -> None:
    _decay()
    active, v1 = person()
    idle, v2 = person()
    rule(source="pageview", points=40)
    hit(v1)
    hit(v2)
    run()
    with clock.frozen(NOW + 9 * DAY):
        hit(v1)
        run()
        assert decay_apply() == {"contacts": 0, "points": 0}
    with clock.frozen(NOW + 11 * DAY):
        assert decay_apply() == {"contacts": 1, "points": 20}
        assert decay_apply() == {"contacts": 0, "points": 0}  # the decay restarts the period
    assert score(idle) == 20
    assert score(active) == 80
    with clock.frozen(NOW + 22 * DAY):
        decay_apply()
    assert score(idle) == 10
    assert score(active) == 40  # its last hit was on day 9
    decay = ScoreEntry.objects.get(contact=idle, source_kind=SourceKind.DECAY, points=-20)
    assert decay.rule_id is None and decay.occurred_at == NOW + 11 * DAY


def test_points_decay_stops_at_zero_and_fit_points_stay(person) -> None:
    _decay(decay_mode="points", decay_amount=15)
    contact, v = person(job_title="Director")
    rule(source="pageview", points=10)
    rule(kind="fit", condition='job_title = "Director"', points=50)
    hit(v)
    run()
    from leadbridge.scoring.services import fit_refresh

    fit_refresh()
    assert score(contact) == 60
    with clock.frozen(NOW + 11 * DAY):
        decay_apply()
    assert score(contact) == 50  # 10 behaviour points lost at most, the 50 fit points kept
    with clock.frozen(NOW + 40 * DAY):
        assert decay_apply()["contacts"] == 0


def test_decay_crossing_a_band_writes_the_activity(person) -> None:
    _decay()
    contact, v = person()
    rule(source="pageview", points=70)
    hit(v)
    run()
    with clock.frozen(NOW + 10 * DAY + dt.timedelta(seconds=1)):
        decay_apply()
    contact.refresh_from_db()
    assert (contact.score, contact.band) == (35, "warm")
    assert band_changes(contact)[-1] == {"from": "hot", "to": "warm", "score": 35}


def test_recompute_replays_decay_like_the_worker(person) -> None:
    _decay()
    contact, v = person()
    rule(source="pageview", points=40)
    hit(v)
    run()
    for day in (10, 20):
        with clock.frozen(NOW + day * DAY):
            decay_apply()
    assert score(contact) == 10
    with clock.frozen(NOW + 25 * DAY):
        scores_recompute()
    assert score(contact) == 10
    decays = sorted(
        ScoreEntry.objects.filter(contact=contact, source_kind=SourceKind.DECAY).values_list(
            "occurred_at", "points"
        )
    )
    assert decays == [(NOW + 10 * DAY, -20), (NOW + 20 * DAY, -10)]


def test_no_decay_when_off(person) -> None:
    contact, v = person()
    rule(source="pageview", points=40)
    hit(v)
    run()
    with clock.frozen(NOW + 400 * DAY):
        assert decay_apply() == {"contacts": 0, "points": 0}
    assert score(contact) == 40
