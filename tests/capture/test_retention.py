"""Pruning old tracking hits keeps daily totals and never touches attribution data."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from leadbridge.capture.models import EventRollup, Touch, TrackingEvent
from leadbridge.capture.retention import events_prune
from leadbridge.capture.services import track_hits
from leadbridge.cli import main
from leadbridge.core import clock
from leadbridge.core.errors import Forbidden, ValidationFailed

DAY = dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC)


def _visit(site, uid: str, at: dt.datetime, *urls: str) -> None:
    with clock.frozen(at):
        hits = [{"type": "pageview", "url": u, "title": "t"} for u in urls]
        assert track_hits(site=site, visitor_uid=uid, hits=hits) == len(urls)


def _history(site) -> None:
    # Two visitors 100 days ago (one arriving from an ad: a touch), one visitor 5 days ago.
    old = DAY - dt.timedelta(days=100)
    _visit(
        site,
        "v-1",
        old,
        "https://shop.example/?utm_source=google&utm_medium=cpc&gclid=AbC",
        "https://shop.example/pricing#plans",
    )
    _visit(
        site,
        "v-2",
        old + dt.timedelta(hours=1),
        "https://shop.example/pricing?x=1",
        "https://shop.example/pricing",
    )
    _visit(site, "v-1", DAY - dt.timedelta(days=5), "https://shop.example/pricing")


def test_prune_rolls_up_then_deletes_only_old_hits_and_keeps_touches(site) -> None:
    _history(site)
    touches = list(Touch.objects.values_list("pk", "channel__key", "click_ids"))
    assert touches and touches[0][1] == "paid_search"
    with clock.frozen(DAY):
        dry = events_prune(actor=None, older_than_days=30, dry_run=True)
        assert dry["deleted"] == 4 and TrackingEvent.objects.count() == 5
        result = events_prune(actor=None, older_than_days=30, batch=2)
    assert result["deleted"] == 4
    assert TrackingEvent.objects.count() == 1  # the recent hit stays
    assert list(Touch.objects.values_list("pk", "channel__key", "click_ids")) == touches
    rows = {
        (r.day.isoformat(), r.page): (r.hits, r.visitors)
        for r in EventRollup.objects.filter(site=site, kind=1)
    }
    day = (DAY - dt.timedelta(days=100)).date().isoformat()
    assert rows[(day, "https://shop.example/pricing")][0] == 3  # query and fragment dropped
    assert rows[(day, "https://shop.example/")] == (1, 1)
    assert sum(h for h, _v in rows.values()) == 4
    # Running it again finds nothing more and changes no total.
    with clock.frozen(DAY):
        assert events_prune(actor=None, older_than_days=30)["deleted"] == 0
    assert sum(EventRollup.objects.values_list("hits", flat=True)) == 4


def test_prune_without_rollup_and_bad_input(site, django_user_model) -> None:
    _history(site)
    with clock.frozen(DAY):
        with pytest.raises(ValidationFailed) as err:
            events_prune(actor=None, older_than_days=0)
        assert err.value.errors[0].field == "older_than_days"
        guest = django_user_model.objects.create_user(username="g", password="x" * 10, role="guest")
        with pytest.raises(Forbidden):
            events_prune(actor=guest, older_than_days=30)
        assert events_prune(actor=None, older_than_days=30, rollup=False)["deleted"] == 4
    assert not EventRollup.objects.exists()


def test_cli_events_prune(site, capsys) -> None:
    _history(site)
    with clock.frozen(DAY):
        assert main(["events", "prune", "--older-than", "30", "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["deleted"] == 4 and out["rolled_up"] is True
    assert main(["events", "prune", "--older-than", "0"]) == 1
