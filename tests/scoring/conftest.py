"""Scoring tests: rules created through the services, hits written like capture writes them, the
worker's streams run in the test's transaction (no horizon lag: one connection sees all)."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from leadbridge.capture.models import EventKind, Site, TrackingEvent, Visitor
from leadbridge.capture.services import site_cache_forget, site_create
from leadbridge.capture.setup import ensure_defaults as capture_defaults
from leadbridge.contacts.models import Activity, Contact
from leadbridge.core import clock
from leadbridge.marketing import rules as channel_rules
from leadbridge.marketing.setup import ensure_defaults as marketing_defaults
from leadbridge.scoring.models import ScoreEntry, ScoringRule
from leadbridge.scoring.services import rule_create
from leadbridge.scoring.streams import streams_run
from tests.api.conftest import api, api_as  # noqa: F401 - the API tests' token clients
from tests.factories import ContactFactory

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
KINDS = {"pageview": EventKind.PAGEVIEW, "event": EventKind.EVENT, "pixel": EventKind.PIXEL}


@pytest.fixture(autouse=True)
def defaults(db: None, settings: Any) -> Iterator[None]:
    settings.LEADBRIDGE = {**settings.LEADBRIDGE, "SCORING_SAFE_LAG": 0}
    channel_rules.clear_cache()
    site_cache_forget()
    marketing_defaults()
    capture_defaults()
    with clock.frozen(NOW):
        yield
    channel_rules.clear_cache()
    site_cache_forget()


@pytest.fixture
def site() -> Site:
    return site_create(actor=None, name="Shop", origins=["https://shop.example"])


_uids = itertools.count(1)


@pytest.fixture
def visitor(site: Site) -> Callable[..., Visitor]:
    def make(contact: Contact | None = None) -> Visitor:
        return Visitor.objects.create(site=site, uid=f"v{next(_uids)}", contact=contact)

    return make


@pytest.fixture
def person(visitor: Callable[..., Visitor]) -> Callable[..., tuple[Contact, Visitor]]:
    """A contact with one linked visitor."""

    def make(**fields: Any) -> tuple[Contact, Visitor]:
        contact = ContactFactory(**fields)
        return contact, visitor(contact)

    return make


def hit(
    v: Visitor,
    kind: str = "pageview",
    *,
    url: str = "https://shop.example/",
    name: str = "",
    title: str = "",
    referrer: str = "",
    props: dict[str, Any] | None = None,
    at: dt.datetime | None = None,
) -> TrackingEvent:
    return TrackingEvent.objects.create(
        visitor_id=v.pk,
        kind=KINDS[kind],
        occurred_at=at or clock.now(),
        url=url,
        name=name,
        title=title,
        referrer=referrer,
        props=props,
    )


def rule(**data: Any) -> ScoringRule:
    data.setdefault("name", f"rule {data.get('source', data.get('kind'))}")
    data.setdefault("kind", "behaviour")
    return rule_create(actor=None, data=data)


def run() -> dict[str, Any]:
    return streams_run()


def score(contact: Contact) -> int:
    contact.refresh_from_db()
    ledger = sum(ScoreEntry.objects.filter(contact=contact).values_list("points", flat=True))
    assert ledger == contact.score, "the score is the sum of the ledger"
    return contact.score


def band_changes(contact: Contact) -> list[dict[str, Any]]:
    rows = Activity.objects.filter(contact=contact, kind="score_band_changed").order_by("id")
    return [json.loads(json.dumps(a.payload)) for a in rows]
