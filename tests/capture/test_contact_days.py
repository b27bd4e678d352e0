"""The per-contact daily roll-up of tracking hits (capture/contact_days.py): what it counts, how
it follows identify, merges and erasure, the worker and CLI that keep it, and the safe horizon.
Behaviour filters give the same answers with and without it (tests/segments/test_behaviour.py)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from leadbridge.capture import contact_days
from leadbridge.capture.models import CaptureCursor, ContactDay, EventKind, Site
from leadbridge.capture.services import track_hits
from leadbridge.cli import main
from leadbridge.contacts.merge import contact_merge, merge_undo
from leadbridge.contacts.models import Contact
from leadbridge.contacts.services import contact_erase
from leadbridge.core import clock
from leadbridge.segments.compiler import compile_text, member_ids
from tests.factories import user

DAY1 = dt.datetime(2026, 5, 4, 22, 30, tzinfo=dt.UTC)
DAY2 = DAY1 + dt.timedelta(hours=3)  # 01:30 the next UTC day
PAGE, EVENT = int(EventKind.PAGEVIEW), int(EventKind.EVENT)


def rows(contact: Contact | None = None) -> set[tuple[Any, ...]]:
    found = ContactDay.objects.all() if contact is None else ContactDay.objects.filter(contact=contact)
    return {(r.contact_id, r.day.isoformat(), r.kind, r.key, r.hits) for r in found}


def hits(site: Site, uid: str, at: dt.datetime, *items: dict[str, Any]) -> None:
    with clock.frozen(at):
        assert track_hits(site=site, visitor_uid=uid, hits=list(items)) == len(items)


def page(path: str) -> dict[str, Any]:
    return {"type": "pageview", "url": f"https://shop.example{path}"}


def identify(email: str) -> dict[str, Any]:
    return {"type": "identify", "traits": {"email": email}}


def members(text: str, at: dt.datetime) -> set[int]:
    return set(member_ids(compile_text(text, now=at), limit=1000))


def test_counts_linked_hits_per_day_path_and_event(site) -> None:
    hits(site, "known", DAY1 - dt.timedelta(minutes=5), identify("anna@example.com"))
    anna = Contact.objects.get(email="anna@example.com")
    hits(
        site,
        "known",
        DAY1,
        page("/Pricing?utm_source=x#plans"),
        page("/Каталог/Розы"),
        {"type": "event", "name": "Cart_Add", "props": {"sku": "a"}},
    )
    hits(site, "known", DAY2, page("/pricing"), page("/pricing/"))
    hits(site, "anonymous", DAY2, page("/pricing"), page("/pricing"))
    summary = contact_days.advance()
    assert summary["caught_up"] and summary["batches"] == 1
    d1, d2 = DAY1.date().isoformat(), DAY2.date().isoformat()
    # Paths lower-cased without query string or fragment, UTC days, event names as sent; the
    # identify hit and the anonymous visitor count nowhere.
    assert rows() == {
        (anna.pk, d1, PAGE, "/pricing", 1),
        (anna.pk, d1, PAGE, "/каталог/розы", 1),
        (anna.pk, d1, EVENT, "Cart_Add", 1),
        (anna.pk, d2, PAGE, "/pricing", 1),
        (anna.pk, d2, PAGE, "/pricing/", 1),
    }
    # New hits add to the day's rows; what was rolled up is not read again.
    hits(site, "known", DAY2 + dt.timedelta(hours=1), page("/PRICING"))
    assert contact_days.advance()["ids"] == 1
    assert (anna.pk, d2, PAGE, "/pricing", 2) in rows()
    assert contact_days.advance() == {"ids": 0, "rows": 0, "batches": 0, "caught_up": True}


def test_gaps_in_the_ids_cost_no_batches(site) -> None:
    from leadbridge.capture.models import TrackingEvent

    hits(site, "v1", DAY1, identify("gap@example.com"), page("/a"))
    contact = Contact.objects.get(email="gap@example.com")
    visitor_id = TrackingEvent.objects.values_list("visitor_id", flat=True).first()
    top = TrackingEvent.objects.order_by("-id").values_list("id", flat=True).first()
    # A hit far above the others (pruned ranges, a sequence that jumped): two batches of 10 ids
    # reach it, not a million empty ones.
    TrackingEvent.objects.create(
        id=top + 1_000_000,
        visitor_id=visitor_id,
        kind=EventKind.PAGEVIEW,
        occurred_at=DAY2,
        url="https://shop.example/b",
    )
    summary = contact_days.advance(batch=10)
    assert summary["caught_up"] and summary["batches"] == 2
    assert {r[3] for r in rows(contact)} == {"/a", "/b"}


def test_a_visitor_identified_later_brings_its_history(site) -> None:
    hits(site, "v1", DAY1, page("/pricing"), page("/pricing"), page("/blog"))
    contact_days.advance()  # the cursor passes the anonymous hits: nothing rolled up
    assert rows() == set()
    hits(site, "v1", DAY2, identify("boris@example.com"))
    boris = Contact.objects.get(email="boris@example.com")
    # At once, in the identify transaction, not at the worker's next run.
    assert rows(boris) == {
        (boris.pk, DAY1.date().isoformat(), PAGE, "/pricing", 2),
        (boris.pk, DAY1.date().isoformat(), PAGE, "/blog", 1),
    }
    assert members('visits >= 3 within 7d and visited("/pricing")', DAY2) == {boris.pk}
    contact_days.advance()  # nothing is counted twice
    assert (boris.pk, DAY1.date().isoformat(), PAGE, "/pricing", 2) in rows(boris)


def test_merge_moves_the_rows_and_undo_moves_them_back(site) -> None:
    hits(site, "va", DAY1, identify("a@example.com"), page("/pricing"), page("/pricing"))
    hits(site, "vb", DAY1, identify("b@example.com"), page("/pricing"), page("/cart"))
    a = Contact.objects.get(email="a@example.com")
    b = Contact.objects.get(email="b@example.com")
    contact_days.advance()
    before_a, before_b = rows(a), rows(b)
    day = DAY1.date().isoformat()
    merge = contact_merge(actor=user("admin"), winner_id=a.pk, loser_id=b.pk)
    assert rows(a) == {(a.pk, day, PAGE, "/pricing", 3), (a.pk, day, PAGE, "/cart", 1)}
    assert rows(b) == set()
    assert members("visits >= 4 within 7d", DAY2) == {a.pk}
    merge_undo(actor=user("admin"), merge_id=merge.pk)
    assert (rows(a), rows(b)) == (before_a, before_b)


def test_erasing_a_contact_deletes_its_rows(site) -> None:
    hits(site, "v1", DAY1, identify("c@example.com"), page("/pricing"))
    contact = Contact.objects.get(email="c@example.com")
    contact_days.advance()
    assert rows(contact)
    contact_erase(actor=user("admin"), contact_id=contact.pk, reason="GDPR request")
    assert rows(contact) == set()
    assert members('visited("/pricing")', DAY2) == set()


def test_pruned_hits_stay_in_the_roll_up(site) -> None:
    from leadbridge.capture.retention import events_prune

    hits(site, "v1", DAY1, identify("d@example.com"), page("/pricing"))
    contact = Contact.objects.get(email="d@example.com")
    contact_days.advance()
    later = DAY1 + dt.timedelta(days=200)
    with clock.frozen(later):
        assert events_prune(actor=None, older_than_days=90)["deleted"] == 2
    assert members('visited("/pricing")', later) == {contact.pk}


def test_the_worker_keeps_it_and_the_cli_runs_it(site, monkeypatch, capsys) -> None:
    monkeypatch.setattr("django_tasks_db.management.commands.db_worker.close_old_connections", lambda: None)
    hits(site, "v1", DAY1, identify("e@example.com"), page("/pricing"))
    assert main(["worker", "--once"]) == 0  # the worker starts the capture tick chain
    contact = Contact.objects.get(email="e@example.com")
    assert rows(contact)
    done = DBTaskResult.objects.filter(task_path="leadbridge.capture.tasks.run_capture_tick")
    assert done.filter(status="SUCCESSFUL").count() == 1
    (successor,) = done.filter(status="READY")
    assert successor.run_after > timezone.now()  # the next run waits for the interval
    hits(site, "v1", DAY2, page("/cart"))
    assert main(["events", "rollup", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["ids"] == 1
    assert (contact.pk, DAY2.date().isoformat(), PAGE, "/cart", 1) in rows(contact)


def test_the_horizon_waits_for_late_commits_on_postgresql(site, settings) -> None:
    settings.LEADBRIDGE = {**settings.LEADBRIDGE, "CAPTURE_SAFE_LAG": 10}
    hits(site, "v1", DAY1, identify("f@example.com"), page("/pricing"))
    contact = Contact.objects.get(email="f@example.com")
    with clock.frozen(DAY1 + dt.timedelta(minutes=1)):
        contact_days.advance()
    if connection.vendor != "postgresql":
        assert rows(contact)  # one writer at a time: ids become visible in order
        return
    # The first look only samples the highest id: ids below it may still be committing.
    assert rows(contact) == set() and CaptureCursor.objects.get(name="contact_days").sample_id > 0
    with clock.frozen(DAY1 + dt.timedelta(minutes=1, seconds=5)):
        contact_days.advance()
    assert rows(contact) == set()
    with clock.frozen(DAY1 + dt.timedelta(minutes=1, seconds=11)):
        contact_days.advance()
    assert rows(contact) == {(contact.pk, DAY1.date().isoformat(), PAGE, "/pricing", 1)}
