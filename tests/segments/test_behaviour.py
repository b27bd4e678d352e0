"""Behaviour terms (visited, visits, event) over tracking events, checked against a Python
evaluation of the same hits; time windows go through the event id range.

Every test runs three times: on the event table alone (nothing rolled up), with every hit in
the per-contact daily roll-up (capture/contact_days.py; only the windows' partial days read the
event table), and with half of them rolled up (the rest read as the roll-up's tail)."""

from __future__ import annotations

import datetime as dt
import fnmatch
import random
from collections import defaultdict
from typing import Any
from urllib.parse import urlsplit

import pytest

from leadbridge.capture import contact_days
from leadbridge.capture.models import ContactDay, EventKind, Site, TrackingEvent, Visitor
from leadbridge.contacts.models import Contact
from leadbridge.segments import behaviour
from leadbridge.segments.compiler import compile_text, count, member_ids

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
URLS = [
    "https://shop.example/pricing",
    "https://shop.example/pricing?utm_source=x",
    "https://shop.example/pricing/plans",
    "https://shop.example/Pricing#top",
    "https://shop.example/blog/pricing",
    "https://shop.example/",
    "https://shop.example/cart/",
    "https://shop.example/cart/?ref=pricing",
    "https://shop.example/каталог/розы/",
    "http://other.example/pricing",
]


def path_of(url: str) -> str:
    return urlsplit(url).path or "/"


def page_matches(pattern: str, url: str) -> bool:
    """What visited(pattern) means, written plainly (fnmatch: * is any run of characters)."""
    target = path_of(url) if pattern.startswith("/") else url
    return fnmatch.fnmatchcase(target.lower(), pattern.lower().replace("[", "[[]"))


@pytest.fixture(params=["raw", "rolled", "half"])
def hits(request: pytest.FixtureRequest, db: None) -> dict[str, Any]:
    data = _hits()
    if request.param == "rolled":
        assert contact_days.advance()["caught_up"]
        assert ContactDay.objects.exists()
    elif request.param == "half":
        # One batch of half the ids, then the budget (0 s) stops it.
        span = len(data["events"]) // 2
        assert not contact_days.advance(batch=span, budget=0)["caught_up"]
        assert 0 < contact_days.position() < data["events"][-1].pk
    return data


def _hits() -> dict[str, Any]:
    """~40 contacts, some with visitors, 2,000 hits over 60 days stored in time order."""
    rng = random.Random(3)
    site = Site.objects.create(name="Shop")
    contacts = [Contact.objects.create(name=f"C{i}") for i in range(40)]
    visitors = []
    for i in range(60):
        owner = contacts[i % 30] if i % 4 else None  # a quarter of the visitors stay anonymous
        visitors.append(Visitor.objects.create(site=site, uid=f"v{i}", contact=owner))
    rows = []
    moments = sorted(NOW - dt.timedelta(seconds=rng.randint(0, 60 * 86400)) for _ in range(2000))
    for moment in moments:
        visitor = rng.choice(visitors)
        kind = rng.choice([EventKind.PAGEVIEW, EventKind.PAGEVIEW, EventKind.PIXEL, EventKind.EVENT])
        name, props = "", None
        if kind == EventKind.EVENT:
            name = rng.choice(["cart_add", "signup"])
            props = {
                "qty": rng.randint(1, 3),
                "sku": rng.choice(["a", "b"]),
                "gift": rng.choice([True, False]),
            }
        # Stored up to a day late, like capture's clamped client times; ids still grow with storing.
        occurred = moment - dt.timedelta(hours=rng.choice([0, 0, 0, 5, 23]))
        rows.append(
            TrackingEvent(
                visitor=visitor, kind=kind, occurred_at=occurred, url=rng.choice(URLS), name=name, props=props
            )
        )
    TrackingEvent.objects.bulk_create(rows, batch_size=500)
    # A merged contact keeps its visitors' hits: it must never match.
    Contact.objects.filter(pk=contacts[1].pk).update(merged_into=contacts[2])
    return {
        "contacts": contacts,
        "events": list(TrackingEvent.objects.select_related("visitor").order_by("id")),
    }


def expected(data: dict[str, Any], test: Any, since: dt.datetime | None = None) -> dict[int, int]:
    """contact id -> number of hits passing `test` (alive contacts, linked visitors only)."""
    dead = set(Contact.objects.exclude(merged_into=None).values_list("pk", flat=True))
    found: dict[int, int] = defaultdict(int)
    for event in data["events"]:
        contact_id = event.visitor.contact_id
        if contact_id is None or contact_id in dead or (since is not None and event.occurred_at < since):
            continue
        if test(event):
            found[contact_id] += 1
    return found


def ids(text: str) -> set[int]:
    compiled = compile_text(text, now=NOW)
    found = set(member_ids(compiled, limit=100_000))
    assert count(compiled) == len(found)
    return found


PAGES = (EventKind.PAGEVIEW, EventKind.PIXEL)


@pytest.mark.parametrize(
    "pattern",
    ["/pricing", "/pricing*", "/PRICING", "/*pricing*", "/", "/каталог/*", "*other.example*", "/nothing"],
)
@pytest.mark.parametrize("days", [None, 7, 30])
def test_visited(hits, pattern, days):
    since = NOW - dt.timedelta(days=days) if days else None
    want = expected(hits, lambda e: e.kind in PAGES and page_matches(pattern, e.url), since)
    window = f" within {days}d" if days else ""
    assert ids(f'visited("{pattern}"){window}') == set(want), pattern


@pytest.mark.parametrize(("op", "n"), [(">=", 5), (">", 20), ("<", 3), ("=", 0), ("!=", 1), ("<=", 10)])
def test_visits(hits, op, n):
    since = NOW - dt.timedelta(days=14)
    counts = expected(hits, lambda e: e.kind in PAGES, since)
    alive = set(Contact.objects.alive().values_list("pk", flat=True))
    check = {">=": n.__le__, ">": n.__lt__, "<": n.__gt__, "=": n.__eq__, "!=": n.__ne__, "<=": n.__ge__}[op]
    assert ids(f"visits {op} {n} within 14d") == {c for c in alive if check(counts.get(c, 0))}


def test_events_with_properties(hits):
    since = NOW - dt.timedelta(days=20)

    def event(name: str, test: Any = lambda p: True) -> set[int]:
        return set(
            expected(hits, lambda e: e.kind == EventKind.EVENT and e.name == name and test(e.props), since)
        )

    assert ids('event("cart_add") within 20d') == event("cart_add")
    assert ids('event("cart_add", qty >= 2) within 20d') == event("cart_add", lambda p: p["qty"] >= 2)
    assert ids('event("cart_add", sku = b, qty != 1) within 20d') == event(
        "cart_add", lambda p: p["sku"] == "b" and p["qty"] != 1
    )
    assert ids('event("cart_add", gift = true) within 20d') == event("cart_add", lambda p: p["gift"] is True)
    assert ids('event("nothing") within 20d') == set()
    alive = set(Contact.objects.alive().values_list("pk", flat=True))
    assert ids('not event("signup") within 20d') == alive - event("signup")


def test_windows_before_after_between(hits):
    cut = NOW - dt.timedelta(days=10)
    before = expected(hits, lambda e: e.kind in PAGES and e.occurred_at < cut)
    after = expected(hits, lambda e: e.kind in PAGES and e.occurred_at > cut)
    assert ids(f'visited("*") before {cut:%Y-%m-%dT%H:%MZ}') == set(before)
    assert ids(f'visited("*") after {cut:%Y-%m-%dT%H:%MZ}') == set(after)
    day = (NOW - dt.timedelta(days=5)).date()
    on_day = expected(hits, lambda e: e.kind in PAGES and e.occurred_at.date() == day)
    assert ids(f'visited("*") between {day} and {day}') == set(on_day)


def test_id_bounds_are_safe_and_tight(hits):
    events = hits["events"]
    for days in (1, 5, 30, 59):
        cutoff = NOW - dt.timedelta(days=days)
        first = behaviour.first_id_from(cutoff)
        assert first is not None
        # Safe: no hit at or after the cut-off lies below the bound.
        assert all(e.pk >= first for e in events if e.occurred_at >= cutoff)
        # Tight: the bound skips (nearly) every hit that occurred days before the cut-off.
        early = [e for e in events if e.occurred_at < cutoff - dt.timedelta(days=3)]
        assert sum(1 for e in early if e.pk < first) >= 0.9 * len(early)
        last = behaviour.last_id_before(cutoff)
        assert last is None or all(e.pk < last for e in events if e.occurred_at < cutoff)
    assert behaviour.first_id_from(NOW - dt.timedelta(days=365)) is None


def test_behaviour_and_contact_conditions_combine(hits):
    Contact.objects.filter(pk__in=[c.pk for c in hits["contacts"][:10]]).update(stage="mql")
    visited = ids('visited("/pricing*") within 30d')
    mql = set(Contact.objects.alive().filter(stage="mql").values_list("pk", flat=True))
    assert ids('visited("/pricing*") within 30d and stage >= mql') == visited & mql
    assert ids('visited("/pricing*") within 30d or stage = mql') == visited | mql
    assert ids('stage = mql and not visited("/pricing*") within 30d') == mql - visited


def test_email_terms_are_not_available_yet(db):
    from leadbridge.segments.fields import CompileError

    with pytest.raises(CompileError, match="not available"):
        compile_text("tag:a or clicked_email within 7d")
