"""Capture requests racing each other for the same new person: one contact, no 500.

Each case runs ITERATIONS times with a fresh email/phone: two threads (two database
connections, like two gunicorn workers) meet at a barrier and then call the services at the
same moment. On PostgreSQL (READ COMMITTED) this is a real race; on SQLite the IMMEDIATE write
transactions serialise it, and the same assertions hold.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.db import OperationalError, connection, transaction
from django.db.transaction import TransactionManagementError

from leadbridge.capture.models import ContactSource, EventKind, Inquiry, Touch, TrackingEvent, Visitor
from leadbridge.capture.services import inquiry_capture, track_hits
from leadbridge.contacts.models import Contact
from leadbridge.contacts.services import contact_create, identity_lock
from leadbridge.core.errors import Conflict

pytestmark = pytest.mark.django_db(transaction=True)

ITERATIONS = 20
LANDING = "https://shop.example/?utm_source=google&utm_medium=cpc&utm_campaign=Spring"


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at once, one thread and one connection each; their results or exceptions."""
    start = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int, call: Callable[[], Any]) -> None:
        try:
            connection.ensure_connection()  # connect before the barrier: the calls start together
            start.wait(timeout=10)
            results[i] = call()
        except BaseException as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a racing call hung (deadlock?)"
    return results


def ms(at: dt.datetime) -> int:
    return int(at.timestamp() * 1000)


def browse(site: Any, uid: str, *, minutes_ago: int = 10) -> Touch:
    """A visitor who landed from an ad and looked at two pages; the visit touch."""
    now = dt.datetime.now(dt.UTC)
    track_hits(
        site=site,
        visitor_uid=uid,
        hits=[
            {"type": "pageview", "url": LANDING, "ts": ms(now - dt.timedelta(minutes=minutes_ago))},
            {
                "type": "pageview",
                "url": "https://shop.example/pricing",
                "ts": ms(now - dt.timedelta(minutes=5)),
            },
        ],
    )
    return Touch.objects.get(visitor__site=site, visitor__uid=uid, kind="visit")


def identify_beacon(site: Any, uid: str, **traits: str) -> Callable[[], Any]:
    """The tracker's `lb('identify', {...})` (sent on form submit too)."""
    return lambda: track_hits(
        site=site, visitor_uid=uid, hits=[{"type": "identify", "traits": {**traits, "via": "form"}}]
    )


def form_post(site: Any, *, uid: str = "", key: str = "", **fields: str) -> Callable[[], Any]:
    return lambda: inquiry_capture(
        kind="form",
        site=site,
        fields=fields,
        page_url="https://shop.example/contact",
        visitor_uid=uid,
        idempotency_key=key or uuid.uuid4().hex,
    )


def call_webhook(**fields: str) -> Callable[[], Any]:
    return lambda: inquiry_capture(
        kind="call", fields=fields, provider="generic", external_id=f"call-{uuid.uuid4().hex[:12]}"
    )


def failures_of(results: list[Any]) -> list[str]:
    return [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]


def check_one_contact(
    *, email: str = "", phone: str = "", visitor_uid: str = "", visit: Touch | None = None, inquiries: int
) -> list[str]:
    """What is wrong after a race (empty when all is well)."""
    found = Contact.objects.filter(email=email) if email else Contact.objects.filter(phone=phone)
    contacts = list(found.values_list("pk", flat=True))
    if len(contacts) != 1:
        return [f"{len(contacts)} contacts for {email or phone}"]
    (pk,) = contacts
    problems = []
    linked = set(Inquiry.objects.filter(contact__in=found).values_list("contact_id", flat=True))
    count = Inquiry.objects.filter(contact__in=found).count()
    if count != inquiries or linked != {pk}:
        problems.append(f"{count} inquiries on contacts {linked}, expected {inquiries} on {pk}")
    if visitor_uid:
        visitor = Visitor.objects.get(uid=visitor_uid)
        if visitor.contact_id != pk:
            problems.append(f"visitor on contact {visitor.contact_id}, not {pk}")
        views = TrackingEvent.objects.filter(visitor=visitor, kind=EventKind.PAGEVIEW).count()
        if views != 2:
            problems.append(f"{views} page views on the visitor")
    if visit is not None:
        visit.refresh_from_db()
        if visit.contact_id != pk:
            problems.append(f"the earlier visit touch is on contact {visit.contact_id}, not {pk}")
        source = ContactSource.objects.filter(contact_id=pk).first()
        if source is None or source.first_touch_id != visit.pk:
            problems.append(f"first touch {source and source.first_touch_id}, not the visit {visit.pk}")
    return problems


def run_iterations(make: Callable[[int], tuple[list[Callable[[], Any]], Callable[[list[Any]], list[str]]]]):
    bad: list[str] = []
    for i in range(ITERATIONS):
        calls, check = make(i)
        results = race(*calls)
        problems = failures_of(results) or check(results)
        if problems:
            bad.append(f"#{i}: {'; '.join(problems)}")
    assert not bad, f"{len(bad)} of {ITERATIONS} races went wrong:\n" + "\n".join(bad)


def fresh(i: int) -> tuple[str, str, str]:
    """A brand-new email, phone and visitor id."""
    tag = uuid.uuid4().hex[:8]
    return f"new-{tag}@example.com", f"+7912{int(tag, 16) % 10_000_000:07d}", f"vid-{tag}"


# --- the same new person from two requests ---------------------------------------------------


def test_identify_beacon_and_a_form_post_without_the_visitor_id_make_one_contact(site):
    """The tracker's identify and a plain HTML form (no hidden visitor id) for a new email."""

    def make(i: int) -> Any:
        email, _phone, uid = fresh(i)
        visit = browse(site, uid)
        calls = [
            identify_beacon(site, uid, email=email, name="Anna"),
            form_post(site, email=email, name="Anna"),
        ]
        return calls, lambda _r: check_one_contact(email=email, visitor_uid=uid, visit=visit, inquiries=1)

    run_iterations(make)


def test_identify_beacon_and_the_form_from_the_same_browser_make_one_contact(site):
    """Both carry the visitor id: the visitor upsert must not fail either."""

    def make(i: int) -> Any:
        email, _phone, uid = fresh(i)
        visit = browse(site, uid)
        calls = [identify_beacon(site, uid, email=email), form_post(site, uid=uid, email=email, name="Anna")]
        return calls, lambda _r: check_one_contact(email=email, visitor_uid=uid, visit=visit, inquiries=1)

    run_iterations(make)


def test_a_double_submitted_form_with_two_idempotency_keys_makes_one_contact(site):
    def make(i: int) -> Any:
        email, phone, _uid = fresh(i)
        calls = [form_post(site, email=email, phone=phone) for _ in range(2)]
        return calls, lambda _r: check_one_contact(email=email, inquiries=2)

    run_iterations(make)


def test_a_call_webhook_and_a_form_for_the_same_phone_make_one_contact(site):
    """The call brings only the phone; the form the phone, an email and the visitor."""

    def make(i: int) -> Any:
        email, phone, uid = fresh(i)
        visit = browse(site, uid)
        calls = [call_webhook(phone=phone), form_post(site, uid=uid, email=email, phone=phone, name="Ivan")]
        return calls, lambda _r: check_one_contact(phone=phone, visitor_uid=uid, visit=visit, inquiries=2)

    run_iterations(make)


def test_an_api_create_racing_a_form_either_finds_or_refuses_the_duplicate(site, admin):
    """contact_create (API, UI, data-quality queue) checks for duplicates under the same lock."""

    def make(i: int) -> Any:
        email, _phone, _uid = fresh(i)

        def api_create() -> Any:
            try:
                return contact_create(actor=admin, data={"name": "Anna", "email": email}, source="api")
            except Conflict as exc:
                return f"conflict: {exc}"

        return [api_create, form_post(site, email=email)], lambda _r: check_one_contact(
            email=email, inquiries=1
        )

    run_iterations(make)


def test_two_api_creates_of_the_same_email_one_wins_one_conflicts(admin):
    def make(i: int) -> Any:
        email, _phone, _uid = fresh(i)

        def api_create() -> Any:
            try:
                return contact_create(actor=admin, data={"name": "Anna", "email": email}, source="api")
            except Conflict:
                return "conflict"

        def check(results: list[Any]) -> list[str]:
            outcomes = sorted("conflict" if r == "conflict" else "created" for r in results)
            return [] if outcomes == ["conflict", "created"] else [f"outcomes {outcomes}"]

        return [api_create, api_create], check

    run_iterations(make)


# --- the losers of row races do not fail -----------------------------------------------------


def test_two_first_touches_for_one_contact_at_once_give_one_source_with_the_right_ends(site, admin):
    """Two browsers of a known contact (no touch yet) arrive from ads at the same moment: both
    create the contact's source row; the loser must update it, not fail, and the first and last
    touch must be the earliest and the latest of the two."""

    def make(i: int) -> Any:
        email, _phone, uid = fresh(i)
        contact = contact_create(actor=admin, data={"name": "Known", "email": email})
        for n in (1, 2):
            track_hits(
                site=site, visitor_uid=f"{uid}-{n}", hits=[{"type": "identify", "traits": {"email": email}}]
            )
        assert not ContactSource.objects.filter(contact=contact).exists()
        now = dt.datetime.now(dt.UTC)
        early, late = ms(now - dt.timedelta(minutes=3)), ms(now - dt.timedelta(minutes=1))
        calls = [
            lambda: track_hits(site=site, visitor_uid=f"{uid}-1", hits=[{"url": LANDING, "ts": early}]),
            lambda: track_hits(site=site, visitor_uid=f"{uid}-2", hits=[{"url": LANDING, "ts": late}]),
        ]

        def check(_r: list[Any]) -> list[str]:
            touches = list(Touch.objects.filter(contact=contact).order_by("occurred_at"))
            source = ContactSource.objects.filter(contact=contact).first()
            if len(touches) != 2 or source is None:
                return [f"{len(touches)} touches, source {source}"]
            ends = (source.first_touch_id, source.last_touch_id)
            want = (touches[0].pk, touches[1].pk)
            return [] if ends == want else [f"first/last touch {ends}, expected {want}"]

        return calls, check

    run_iterations(make)


def test_two_first_hits_of_a_new_browser_make_one_visitor_and_one_visit(site):
    """The tracker's first page view and a pixel from the same new browser at once."""

    def make(i: int) -> Any:
        _email, _phone, uid = fresh(i)
        hit = {"url": LANDING, "ts": ms(dt.datetime.now(dt.UTC)) - 1000}
        calls = [lambda: track_hits(site=site, visitor_uid=uid, hits=[dict(hit)]) for _ in range(2)]

        def check(_r: list[Any]) -> list[str]:
            visitors = list(Visitor.objects.filter(site=site, uid=uid))
            touches = Touch.objects.filter(visitor__in=visitors).count()
            return (
                []
                if len(visitors) == 1 and touches == 1
                else [f"{len(visitors)} visitors, {touches} touches"]
            )

        return calls, check

    run_iterations(make)


def test_a_known_visitors_ad_visit_with_identify_racing_a_call_for_the_same_person_does_not_deadlock(
    site, admin
):
    """The batch locks the contact's source row (the ad visit) and then identifies; the call
    takes the identity and then that same row. Identities first on both sides, or one fails."""

    def make(i: int) -> Any:
        email, _phone, uid = fresh(i)
        contact = contact_create(actor=admin, data={"name": "Known", "email": email})
        browse(site, uid)
        track_hits(site=site, visitor_uid=uid, hits=[{"type": "identify", "traits": {"email": email}}])
        assert ContactSource.objects.filter(contact=contact).exists()
        batch = [
            {"url": f"https://shop.example/?utm_source=newsletter&utm_campaign=May{i}"},
            {"type": "identify", "traits": {"email": email}},
        ]
        calls = [lambda: track_hits(site=site, visitor_uid=uid, hits=batch), call_webhook(email=email)]
        return calls, lambda _r: check_one_contact(email=email, inquiries=1)

    run_iterations(make)


def test_identity_lock_is_held_by_its_transaction_until_commit():
    with pytest.raises(TransactionManagementError):
        identity_lock(emails=["a@example.com"])  # outside a transaction it would hold nothing
    if connection.vendor != "postgresql":
        with transaction.atomic():
            identity_lock(emails=["a@example.com"])  # SQLite: the IMMEDIATE transaction is the lock
        return
    held, done = threading.Event(), threading.Event()

    def holder() -> None:
        try:
            with transaction.atomic():
                identity_lock(emails=["Anna@Example.com"], phones=["+79120000001"])
                held.set()
                done.wait(timeout=10)
        finally:
            connection.close()

    thread = threading.Thread(target=holder)
    thread.start()
    try:
        assert held.wait(timeout=10)

        def blocked(**keys: list[str]) -> bool:
            try:
                with transaction.atomic():
                    with connection.cursor() as cursor:
                        cursor.execute("SET LOCAL lock_timeout = '200ms'")
                    identity_lock(**keys)
            except OperationalError:
                return True
            return False

        assert blocked(emails=["anna@example.com"])  # the same email, any case
        assert blocked(phones=["+79120000001"], emails=["other@example.com"])
        assert not blocked(emails=["other@example.com"], phones=["+79120000002"])
    finally:
        done.set()
        thread.join(timeout=10)
    assert not blocked(emails=["anna@example.com"])  # released at the holder's commit


def test_identify_racing_the_roll_up_counts_every_hit_once(site):
    """Visitors identified while the worker rolls hits up, and new hits arriving meanwhile: the
    roll-up ends with exactly what rolling everything up from scratch gives (contact_days.py:
    both take the cursor row's lock first)."""
    from leadbridge.capture import contact_days
    from leadbridge.capture.models import CaptureCursor, ContactDay

    def page(i: int) -> dict[str, Any]:
        return {"type": "pageview", "url": f"https://shop.example/p/{i % 7}"}

    uids = [f"race-{uuid.uuid4().hex[:8]}" for _ in range(12)]
    for uid in uids:
        track_hits(site=site, visitor_uid=uid, hits=[page(i) for i in range(6)])

    def identify_all() -> None:
        for n, uid in enumerate(uids):
            track_hits(
                site=site,
                visitor_uid=uid,
                hits=[{"type": "identify", "traits": {"email": f"{uid}@example.com"}}],
            )
            track_hits(site=site, visitor_uid=uids[n - 1], hits=[page(n), page(n + 1)])

    def roll_up() -> None:
        for _ in range(30):
            contact_days.advance(batch=5)

    for result in race(identify_all, roll_up):
        assert not isinstance(result, BaseException), result
    contact_days.advance()

    def table() -> set[tuple[Any, ...]]:
        return set(ContactDay.objects.values_list("contact_id", "day", "kind", "key", "hits"))

    raced = table()
    ContactDay.objects.all().delete()
    CaptureCursor.objects.filter(name="contact_days").update(position=0)
    contact_days.advance()
    assert raced == table()
    linked = Visitor.objects.filter(uid__in=uids).exclude(contact=None).count()
    assert linked == len(uids)
    assert (
        sum(h for *_k, h in raced)
        == TrackingEvent.objects.filter(visitor__uid__in=uids, kind=EventKind.PAGEVIEW).count()
    )
